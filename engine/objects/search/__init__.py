"""Search: the messages read model (every message and text thread item, with a full-text index
and a per-session term index); the records domain searches sessions through it."""
