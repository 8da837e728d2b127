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

# llama.cpp is compiled here, twice where the CPU has AVX-512: once for this CPU's vector
# units (chains/llm/cpu_flags.py names them; AMX stays off in this build) and once portable
# (AVX2), kept beside the venv's own under $(VENV)/llama-portable; a CPU with AMX gets a
# third, below. The server probes the builds in child processes at first start and keeps
# the fastest that survives, the portable one if the others die (chains/llm/llama_build.py).
# pip's own wheel cache does not key on CMAKE_ARGS, so each wheel is built into a folder
# named after the version and its flags, and reused from there.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_PORTABLE_ARGS := $(shell $(PYTHON) chains/llm/cpu_flags.py portable)
LLAMA_TUNED_ARGS := $(shell $(PYTHON) chains/llm/cpu_flags.py tuned)
LLAMA_WHEELS_ROOT := $(HOME)/.cache/ragchat/llama-cpp-wheels
llama_wheels = $(LLAMA_WHEELS_ROOT)/$(shell echo '$(LLAMA_CPP_VERSION) $(1)' | sha256sum | cut -c1-16)
LLAMA_PORTABLE_WHEELS := $(call llama_wheels,$(LLAMA_PORTABLE_ARGS))
LLAMA_TUNED_WHEELS := $(call llama_wheels,$(LLAMA_TUNED_ARGS))
LLAMA_PORTABLE_DIR := $(VENV)/llama-portable
# Every build starts from the sdist, checked against PyPI's published SHA-256.
LLAMA_SDIST_SHA256 := 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
# On a CPU with AMX a third build: the tuned flags plus AMX, with a fix to llama.cpp's AMX
# tile setup applied; without the fix its kernels die on their first tile instruction (the
# patch file says why).
LLAMA_AMX_ARGS := $(shell $(PYTHON) chains/llm/cpu_flags.py amx)
LLAMA_AMX_PATCH := deploy/patches/llama-cpp-amx-tile-config.patch
LLAMA_AMX_WHEELS := $(call llama_wheels,$(LLAMA_AMX_ARGS) $(shell sha256sum $(LLAMA_AMX_PATCH)))
LLAMA_AMX_DIR := $(VENV)/llama-amx

# $(call build_llama,WHEEL_DIR,CMAKE_ARGS[,PATCH]): compile the wheel once into WHEEL_DIR,
# from PyPI's sdist checked against LLAMA_SDIST_SHA256, with PATCH applied when given.
define build_llama
	@ls $(1)/llama_cpp_python-*.whl >/dev/null 2>&1 || { \
	  set -e; src=$$(mktemp -d); trap 'rm -rf "$$src"' EXIT; \
	  sdist=$$src/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz; \
	  echo "compiling llama-cpp-python $(LLAMA_CPP_VERSION) with $(2)$(if $(3), and $(3)) once (4 to 10 minutes on 2 cores)"; \
	  $(BIN)/python -m pip download --quiet --no-deps --no-binary :all: -d $$src \
	    "llama-cpp-python==$(LLAMA_CPP_VERSION)"; \
	  echo "$(LLAMA_SDIST_SHA256)  $$sdist" | sha256sum --check --quiet; \
	  tar -xzf $$sdist -C $$src; \
	  $(if $(3),patch --quiet --forward -p1 -d $$src/llama_cpp_python-$(LLAMA_CPP_VERSION) < $(3);) \
	  CMAKE_ARGS="$(2)" $(BIN)/python -m pip wheel --quiet --no-deps --no-cache-dir -w $(1) \
	    $$src/llama_cpp_python-$(LLAMA_CPP_VERSION); }
endef

$(STAMP): pyproject.toml Makefile chains/llm/cpu_flags.py $(LLAMA_AMX_PATCH)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a bare `torch` requirement would pull the CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(call build_llama,$(LLAMA_TUNED_WHEELS),$(LLAMA_TUNED_ARGS))
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps $(LLAMA_TUNED_WHEELS)/llama_cpp_python-*.whl
	rm -rf $(LLAMA_PORTABLE_DIR)
ifneq ($(LLAMA_TUNED_ARGS),$(LLAMA_PORTABLE_ARGS))
	$(call build_llama,$(LLAMA_PORTABLE_WHEELS),$(LLAMA_PORTABLE_ARGS))
	$(BIN)/python -m pip install --quiet --no-deps --target $(LLAMA_PORTABLE_DIR) $(LLAMA_PORTABLE_WHEELS)/llama_cpp_python-*.whl
endif
	rm -rf $(LLAMA_AMX_DIR)
ifneq ($(LLAMA_AMX_ARGS),)
	$(call build_llama,$(LLAMA_AMX_WHEELS),$(LLAMA_AMX_ARGS),$(LLAMA_AMX_PATCH))
	$(BIN)/python -m pip install --quiet --no-deps --target $(LLAMA_AMX_DIR) $(LLAMA_AMX_WHEELS)/llama_cpp_python-*.whl
endif
	printf '{"version": "%s", "tuned": "%s", "portable": "%s", "amx": "%s"}\n' \
	  "$(LLAMA_CPP_VERSION)" "$(LLAMA_TUNED_ARGS)" "$(LLAMA_PORTABLE_ARGS)" "$(LLAMA_AMX_ARGS)" \
	  > $(VENV)/llama-builds.json
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
