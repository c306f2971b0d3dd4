"""Graphs: the vertices and edges of a `graph` envelope, mutated in all-or-nothing batches, read by
id, in pages, by neighbourhood and by a small traversal language (`traversal.py`)."""
