"""Reference models of the protocols, pure Python: what a conforming server must answer."""
