"""The `session-engine` command line."""
