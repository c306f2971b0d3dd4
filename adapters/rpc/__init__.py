"""The RPC adapters: the Makaio message bus at `/bus` and JSON-RPC 2.0 (BlobHub commands) at `/rpc`."""
