"""The conformance kit: the protocols' reference models and a runner that drives any server over the wire.

`models` are pure Python (no database, a controllable clock); the engine's own state machines use them
too, so the kit checks a foreign server against the very rules the engine is tested against.
"""
