"""Building and running ragchat's Docker image on this machine and any other.

`python -m deploy.image` (what `make image` runs) finds a container engine, makes the
`python:3.11-slim` base where no registry serves it, stages local wheels into the build
context and builds the `Dockerfile`. Standard library only: it runs before any venv.
"""
