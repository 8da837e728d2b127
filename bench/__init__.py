"""Benchmarks: the server measured against its targets on this machine (`make bench`)."""
