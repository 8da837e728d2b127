"""Ingest: turning files into indexed chunks.

`loaders` reads HTML, Markdown, reST, PDF and text into sections (`headings`,
`pdf_outline` find their heading paths); `pipeline` splits them into chunks, embeds
them and writes them to an index. It may import `chains.embeddings`, `chains.index`
and `settings`; nothing under `graph/` or the HTTP side, and no RAG step imports the
pipeline (a query never loads a file).
"""
