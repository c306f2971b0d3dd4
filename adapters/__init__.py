"""Thin adapters from wire protocols and the command line to engine calls."""
