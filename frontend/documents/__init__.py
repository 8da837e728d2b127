"""The Documents page: upload files and follow their ingest jobs, list and delete documents,
try retrieval on its own."""
