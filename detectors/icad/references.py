"""Reference selection from a normal pool: random (the paper), a diverse core-set, or per-target nearest normals.

Selection works on the encoders' pooled vectors (no backbone call), so it costs next to nothing. "coreset" and
"random" return G reference *sets* shared by every target (each set's prompt + references prefix is computed once
and its KV cache reused); "nearest" picks each target's own K nearest normals (no sharing, no cache).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Strategy = Literal["coreset", "random", "nearest"]
STRATEGIES: tuple[str, ...] = ("coreset", "random", "nearest")


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def k_center(emb: np.ndarray, k: int, start: int | None = None) -> np.ndarray:
    """Greedy k-center (farthest-point) selection: k indices covering `emb` (N, D) as evenly as possible.

    Starts from the medoid-like point nearest the mean, so the first reference is typical, then adds the point
    farthest from those already chosen.
    """
    n = len(emb)
    if n <= k:
        return np.arange(n)
    e = _unit(emb)
    first = int(np.argmax(e @ _unit(e.mean(0)))) if start is None else start
    chosen = [first]
    dist = 1 - e @ e[first]
    for _ in range(k - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, 1 - e @ e[nxt])
    return np.array(chosen)


def select_sets(emb: np.ndarray, k: int, groups: int, strategy: Strategy, seed: int = 0) -> list[np.ndarray]:
    """G reference sets of K pool indices each.

    coreset: the pool is clustered into G groups (k-means on the pooled vectors) and each group contributes its K
    most diverse members (k-center inside the group, padded with the nearest outsiders when the group is small).
    random: G independent random draws of K.
    """
    n = len(emb)
    rng = np.random.default_rng(seed)
    groups = max(1, min(groups, n // max(k, 1)) or 1)
    if strategy == "random":
        return [rng.choice(n, min(k, n), replace=False) for _ in range(groups)]
    if strategy != "coreset":
        raise ValueError(f"select_sets handles 'coreset' and 'random', not {strategy!r}")
    e = _unit(emb)
    if groups == 1:
        return [k_center(e, k)]
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=groups, n_init=3, random_state=seed).fit_predict(e)
    out = []
    for g in range(groups):
        members = np.nonzero(labels == g)[0]
        if len(members) >= k:
            out.append(members[k_center(e[members], k)])
        else:
            centre = _unit(e[members].mean(0))
            others = np.setdiff1d(np.arange(n), members)
            extra = others[np.argsort(-(e[others] @ centre))[: k - len(members)]]
            out.append(np.concatenate([members, extra]))
    return out


def nearest(target: np.ndarray, pool: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """(N, K) indices of each target's K nearest pool vectors by cosine; `exclude[i]` (a pool index) is skipped
    for target i (leave-one-out when the targets are pool members)."""
    sim = _unit(target) @ _unit(pool).T
    if exclude is not None:
        sim[np.arange(len(target)), exclude] = -np.inf
    k = min(k, pool.shape[0] - (1 if exclude is not None else 0))
    idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(sim, idx, 1).argsort(1)[:, ::-1]
    return np.take_along_axis(idx, order, 1)
