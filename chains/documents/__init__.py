"""Documents added through the API: the catalog, ingest jobs, uploads and their workers."""
