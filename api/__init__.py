"""HTTP-only pieces of the server: schemas, identity, limits, error mapping, REST routers."""
