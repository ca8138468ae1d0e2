"""What LogICL receives from a demonstration pool: the demo types and the `Retriever` protocol.

Detectors never import retrieval/: its `DemoPool` (FAISS, on disk) and `InMemoryRetriever` (numpy) implement this
protocol and the caller passes one in (or registers how to open a pool folder: `register_pool_opener`, which
retrieval/ does when it is imported).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

ANOMALY, NORMAL = "anomaly", "normal"
MAX_TEXT_CHARS = 600  # a demo's text as shown to the LLM and embedded
MAX_TEMPLATES = 24  # templates of a session kept in its text


@dataclass(slots=True)
class Demo:
    """One labelled demonstration."""

    id: str  # unique in the pool, e.g. "bgl:BGL_20k.log:1234" or "openstack:<instance uuid>"
    text: str  # what is embedded and shown: a line's masked message, or a session's templates in order
    label: str  # "anomaly" | "normal"
    system: str  # e.g. "bgl", "openstack", "logreduce"
    source: str  # file:line of the sample's first line
    kind: str = "line"  # "line" | "session" | "window"
    templates: list[str] = field(default_factory=list)
    delta: float = 0.0  # stored utility for the LLM (mean delta over training queries; 0 = unknown)
    target: bool = False  # a few-shot sample of the target system

    @property
    def y(self) -> int:
        """1 for an anomaly, 0 for normal."""
        return int(self.label == ANOMALY)


@dataclass(slots=True)
class Retrieved:
    """A retrieved demonstration and why it was retrieved."""

    demo: Demo
    similarity: float  # cosine similarity to the query
    relevance: float  # similarity + delta_weight × delta (what MMR ranked on)


@runtime_checkable
class TextEncoder(Protocol):
    """Texts in, L2-normalised float32 vectors out (retrieval.embed's encoders)."""

    @property
    def name(self) -> str:
        """Identifies the vector space (part of the verdict cache key)."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit rows."""
        ...


@runtime_checkable
class Retriever(Protocol):
    """What LogICL needs from a pool (retrieval's `DemoPool` and `InMemoryRetriever` provide it)."""

    @property
    def encoder(self) -> TextEncoder:
        """Encodes queries into the pool's vector space."""
        ...

    @property
    def demos(self) -> list[Demo]:
        """Every demo, in the order of `vectors()`."""
        ...

    @property
    def version(self) -> str:
        """Changes whenever demos are added or their deltas change (part of the verdict cache key)."""
        ...

    def __len__(self) -> int: ...

    def add(self, demos: Iterable[Demo]) -> int:
        """Add demos (ids already present are skipped); returns how many were added."""
        ...

    def get(self, demo_id: str) -> Demo | None:
        """The demo with this id, if any."""
        ...

    def candidates(self, query: np.ndarray, n: int, *, delta_weight: float = 0.0,
                   systems: Sequence[str] | None = None) -> list[Retrieved]:
        """The top-`n` demos by relevance to a query vector."""
        ...

    def retrieve(self, query: str | np.ndarray, k: int, *, n: int = 50, lam: float = 0.5,
                 delta_weight: float = 0.0, systems: Sequence[str] | None = None) -> list[Retrieved]:
        """`k` demos for a query: top-`n` candidates, then MMR with redundancy weight `lam`."""
        ...

    def select(self, candidates: Sequence[Retrieved], k: int, lam: float) -> list[Retrieved]:
        """`k` of `candidates`, relevant and not redundant with each other (MMR, redundancy weight `lam`)."""
        ...

    def vectors_of(self, demos: Sequence[Retrieved]) -> np.ndarray:
        """The pool's vectors of retrieved demos, in order."""
        ...

    def vectors(self) -> np.ndarray:
        """Every demo's vector, (n, d), in the order of `demos`."""
        ...

    def vote_tuning(self) -> dict[str, Any] | None:
        """The vote settings tuned on this pool and kept beside it (None when never tuned or stale)."""
        ...


PoolOpener = Callable[[Path, str], Retriever]  # (pool folder, encoder spec such as "minilm") -> the pool
_openers: list[PoolOpener] = []


def register_pool_opener(opener: PoolOpener) -> None:
    """Say how to open a pool folder (retrieval/ registers `DemoPool` when it is imported)."""
    if opener not in _openers:
        _openers.append(opener)


def pool_opener() -> PoolOpener | None:
    """The registered way to open a pool folder, if any."""
    return _openers[-1] if _openers else None


_SALIENT = ("ERROR", "FATAL", "SEVERE", "FAILURE", "WARN", "CRITICAL", "Traceback", "Exception", "fail", "error")


def session_text(templates: Sequence[str]) -> str:
    """A session's demo text: its distinct templates in order of first appearance, salient ones (errors, warnings)
    first so they survive truncation; joined with " | "."""
    distinct = list(dict.fromkeys(t for t in templates if t))
    salient = [t for t in distinct if any(s in t for s in _SALIENT)]
    rest = [t for t in distinct if t not in salient]
    kept = (salient + rest)[:MAX_TEMPLATES]
    return " | ".join(kept)[:MAX_TEXT_CHARS]
