"""Embeddings: the model that turns text into vectors, for ingest and for queries.

`factory` builds and caches the embedder a setting names (torch, bf16 or the int8 ONNX
build that `onnx_int8` exports once); `vectors` normalises rows. It may import
`chains.models` (where model files come from) and `settings`; never the index, ingest
or the graph, which all depend on it.
"""
