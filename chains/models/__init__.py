"""Model files: which model a setting names, and where its files come from.

`presets` turns `LLM_MODEL` and `EMBEDDING_MODEL` into a preset, a prompt style, a
context budget and a folder; `packaged` joins weights shipped as registry packages and
checks them against their publisher's digest; `folders` builds a model folder once
under a lock; `measured_choice` records which variant measured fastest on this CPU. It
may import `settings` and nothing else of the project: every other package asks it.
"""
