"""The REST adapter: Distri routes, the BlobHub command endpoint, resource and history routes."""

from session_engine.adapters.rest import paths as paths  # registers the `seg` and `rest` path convertors
