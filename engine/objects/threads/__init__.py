"""Threads: items posted to a `thread` envelope, read one by id or in pages by log position."""
