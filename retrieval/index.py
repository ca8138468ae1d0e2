"""A FAISS inner-product index with its metadata, persisted to a folder and grown incrementally.

Flat (exact) search below `HNSW_MIN` vectors, HNSW (M=32, efSearch=128) above it. Measured here with
`python -m retrieval.index --measure` (384-d unit vectors, k=10, 2 cores shared with other jobs, load ≈ 8):

| vectors | flat query | HNSW query | HNSW build |
|---|---|---|---|
| 1,000 | 0.26 ms | 1.06 ms | 0.35 s |
| 10,000 | 3.7 ms | 2.6 ms | 13.5 s |
| 30,000 | 8.0 ms | 3.9 ms | 34 s |
| 100,000 | 16.8 ms | 16.4 ms | 334 s |

Below ~10k flat is as fast and exact; HNSW halves the query time from a few tens of thousands on, and its build
cost is paid once (the index is persisted and grown in place), so the switch is at 30k. The raw vectors are kept
beside the index (MMR needs them, and the switch to HNSW is a rebuild from them).

Folder layout: `index.faiss`, `vectors.npy`, `meta.jsonl` (one JSON object per vector, in index order),
`info.json` (encoder name, dimension, kind, count, version).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HNSW_MIN = 30_000  # vectors from which the index is HNSW instead of flat (see the module docstring)
HNSW_M = 32
HNSW_EF_SEARCH = 128


class IndexError_(Exception):
    """An index folder cannot be used (wrong encoder, damaged files); the message says what to do."""


def _faiss() -> Any:
    import faiss

    return faiss


class VectorIndex:
    """Unit vectors + one metadata dict each; inner-product search; save/load; incremental `add`.

    Args:
        dim: Vector size.
        encoder: Name of the encoder the vectors come from (an index is only searched with the same encoder).
        hnsw_min: Size from which the FAISS index is HNSW.
    """

    def __init__(self, dim: int, encoder: str, *, hnsw_min: int = HNSW_MIN) -> None:
        self.dim = dim
        self.encoder = encoder
        self.hnsw_min = hnsw_min
        self.vectors = np.zeros((0, dim), np.float32)
        self.meta: list[dict[str, Any]] = []
        self._index: Any = None
        self._saved = 0  # rows already in meta.jsonl on disk
        self.version = "empty"

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def kind(self) -> str:
        """"flat" or "hnsw"."""
        return "hnsw" if len(self) >= self.hnsw_min else "flat"

    def _new_index(self, kind: str) -> Any:
        faiss = _faiss()
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = HNSW_EF_SEARCH
            return index
        return faiss.IndexFlatIP(self.dim)

    def _ensure(self) -> Any:
        kind = self.kind
        current = None if self._index is None else ("hnsw" if "HNSW" in type(self._index).__name__ else "flat")
        if current != kind:
            self._index = self._new_index(kind)
            if len(self.vectors):
                self._index.add(self.vectors)
        return self._index

    def add(self, vectors: np.ndarray, meta: Sequence[dict[str, Any]]) -> None:
        """Append vectors and their metadata (a flat index grows in place; crossing `hnsw_min` rebuilds as HNSW)."""
        vectors = np.ascontiguousarray(vectors, np.float32)
        if len(vectors) != len(meta):
            raise ValueError(f"{len(vectors)} vectors but {len(meta)} metadata rows")
        if len(vectors) and vectors.shape[1] != self.dim:
            raise ValueError(f"vectors of size {vectors.shape[1]} added to an index of size {self.dim}")
        if not len(vectors):
            return
        was = self.kind if self._index is not None else None
        self.vectors = np.concatenate([self.vectors, vectors])
        self.meta.extend(dict(m) for m in meta)
        if was is not None and was == self.kind:
            self._index.add(vectors)
        else:
            self._index = None
            self._ensure()
        digest = hashlib.sha1(self.version.encode())
        digest.update(vectors.tobytes())
        self.version = digest.hexdigest()[:16]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the `k` nearest vectors to each query, best first; ids are -1 past the end."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        if not len(self) or k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        k = min(k, len(self))
        scores, ids = self._ensure().search(queries, k)
        return scores, ids.astype(np.int64)

    # ---- persistence ---------------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        """Write the index to `folder`; metadata rows already on disk are appended to, not rewritten."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta_path = folder / "meta.jsonl"
        if self._saved > len(self.meta) or (self._saved and not meta_path.is_file()):
            self._saved = 0
        mode = "a" if self._saved else "w"
        with open(meta_path, mode, encoding="utf-8") as f:
            f.writelines(json.dumps(m, ensure_ascii=False) + "\n" for m in self.meta[self._saved:])
        self._saved = len(self.meta)
        np.save(folder / "vectors.tmp.npy", self.vectors)
        os.replace(folder / "vectors.tmp.npy", folder / "vectors.npy")
        if len(self):
            _faiss().write_index(self._ensure(), str(folder / "index.tmp.faiss"))
            os.replace(folder / "index.tmp.faiss", folder / "index.faiss")
        info = {"encoder": self.encoder, "dim": self.dim, "kind": self.kind, "count": len(self),
                "version": self.version, "hnsw_min": self.hnsw_min}
        (folder / "info.json").write_text(json.dumps(info, indent=1))

    @classmethod
    def load(cls, folder: str | Path, *, encoder: str | None = None) -> VectorIndex:
        """The index saved in `folder`.

        Raises:
            IndexError_: If the folder is not an index, is damaged, or was built with another encoder.
        """
        folder = Path(folder)
        info_path = folder / "info.json"
        if not info_path.is_file():
            raise IndexError_(f"{str(folder)!r} holds no index (info.json missing); build it with `sleuth pool add`")
        info = json.loads(info_path.read_text())
        if encoder is not None and info["encoder"] != encoder:
            raise IndexError_(f"the index in {str(folder)!r} was built with encoder {info['encoder']!r}, not "
                              f"{encoder!r}; rebuild it (`sleuth pool add --rebuild ...`) or use that encoder")
        index = cls(int(info["dim"]), str(info["encoder"]), hnsw_min=int(info.get("hnsw_min", HNSW_MIN)))
        with open(folder / "meta.jsonl", encoding="utf-8") as f:
            index.meta = [json.loads(line) for line in f if line.strip()]
        index.vectors = np.load(folder / "vectors.npy", allow_pickle=False).astype(np.float32)
        if len(index.vectors) != len(index.meta) or len(index.meta) != int(info["count"]):
            raise IndexError_(f"the index in {str(folder)!r} is damaged ({len(index.vectors)} vectors, "
                              f"{len(index.meta)} metadata rows, {info['count']} expected); rebuild it")
        if (folder / "index.faiss").is_file() and len(index.meta):
            index._index = _faiss().read_index(str(folder / "index.faiss"))
            if index._index.ntotal != len(index.meta):
                index._index = None
        index._saved = len(index.meta)
        index.version = str(info["version"])
        return index


def measure(sizes: Sequence[int] = (1_000, 10_000, 30_000, 100_000), dim: int = 384, queries: int = 200) -> list[dict[str, float]]:
    """Flat vs HNSW build and query time on random unit vectors (how `HNSW_MIN` was chosen)."""
    import time

    faiss = _faiss()
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        x = rng.standard_normal((n, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        q = x[rng.choice(n, queries)] + 0.1 * rng.standard_normal((queries, dim)).astype(np.float32)
        row: dict[str, float] = {"n": n}
        for kind in ("flat", "hnsw"):
            t = time.perf_counter()
            if kind == "flat":
                index = faiss.IndexFlatIP(dim)
            else:
                index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efSearch = HNSW_EF_SEARCH
            index.add(x)
            row[f"{kind}_build_s"] = time.perf_counter() - t
            t = time.perf_counter()
            for i in range(queries):
                index.search(q[i : i + 1], 10)
            row[f"{kind}_query_ms"] = (time.perf_counter() - t) / queries * 1000
        rows.append(row)
    return rows


if __name__ == "__main__":  # python -m retrieval.index --measure
    import sys

    if "--measure" in sys.argv:
        for r in measure():
            print(json.dumps({k: round(v, 4) for k, v in r.items()}))
