"""Maximal Marginal Relevance: pick demonstrations relevant to the query and not redundant with each other."""

from __future__ import annotations

import numpy as np


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, lam: float = 0.5) -> list[int]:
    """Greedy MMR over candidates: each step takes argmax of relevance − λ × (max similarity to those already taken).

    Args:
        relevance: (n,) relevance of each candidate to the query (cosine similarity, plus any stored utility).
        vectors: (n, d) unit vectors of the candidates (redundancy is their cosine similarity).
        k: How many to pick (fewer when there are fewer candidates).
        lam: Weight of redundancy; 0 is plain top-k by relevance.

    Returns:
        Indices into the candidates, in the order picked.
    """
    n = len(relevance)
    k = min(k, n)
    if k <= 0:
        return []
    rel = np.asarray(relevance, np.float64)
    sims = np.asarray(vectors, np.float64) @ np.asarray(vectors, np.float64).T if lam > 0 else None
    redundancy = np.full(n, -np.inf)
    taken = np.zeros(n, bool)
    picked: list[int] = []
    for _ in range(k):
        gain = rel - lam * np.where(np.isfinite(redundancy), redundancy, 0.0)
        gain[taken] = -np.inf
        j = int(np.argmax(gain))
        picked.append(j)
        taken[j] = True
        if sims is not None:
            redundancy = np.maximum(redundancy, sims[j])
    return picked
