"""The document index: chunks, BM25 encoding, metadata filters and the two backends.

`local` is the embedded, persistent exact-scan index (numpy + BM25); `pinecone_backend`
is production's Pinecone. Both take the same filters (`filters`) and fuse dense and
sparse scores the same way; `backend` states what they promise.
"""
