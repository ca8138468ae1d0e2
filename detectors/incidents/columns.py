"""Per-event columns the engine derives from the event table, built in chunks of events or with their
temporaries freed at once, so that the triage's memory does not grow with the log beyond a few bytes per event.

Every function gives exactly what the one-shot numpy expression it replaces gave (same values, same order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from detectors import spill
from detectors.eventtable import EventTable

CHUNK = 1 << 16  # events per step


def spans(n: int, step: int | None = None) -> Iterator[tuple[int, int]]:
    """Chunks of `step` events (CHUNK by default); after each, the pages of spilled columns go back
    (detectors.spill)."""
    step = step or CHUNK
    for lo in range(0, n, step):
        yield lo, min(lo + step, n)
        if n >= spill.SPILL_MIN:
            spill.release()


def bin_index(t: np.ndarray, usable: np.ndarray, t0: float, width: float) -> np.ndarray:
    """Each event's time bin, floor((t - t0) / width), or -1 where not usable (int32: bins are few)."""
    out = spill.empty(len(t), np.int32)
    for lo, hi in spans(len(t)):
        u = usable[lo:hi]
        out[lo:hi] = np.where(u, np.floor((np.where(u, t[lo:hi], t0) - t0) / width), -1)
    return out


def group_by_key(key_of: np.ndarray, t: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """(event indices grouped by key, each group in time order (ties by position); offsets per key).

    A counting sort in chunks of events: the only array as long as the log is the answer (4 bytes per event);
    a group is then sorted by time only where its events are not in time order already (a key logged by two
    sources, or a source whose clock stepped back), with ties kept in position order (a stable sort).
    """
    n = len(key_of)
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    counts = np.zeros(n_keys, dtype=np.int64)
    for lo, hi in spans(n):
        k = key_of[lo:hi]
        counts += np.bincount(k[k >= 0], minlength=n_keys)
    key_start = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(counts, out=key_start[1:])
    out = spill.empty(int(key_start[-1]), dtype)
    cursor = key_start[:-1].copy()
    for lo, hi in spans(n):
        k = key_of[lo:hi]
        idx = np.flatnonzero(k >= 0)
        if not len(idx):
            continue
        kk = k[idx]
        order = np.argsort(kk, kind="stable")
        ks = kk[order]
        rank = np.arange(len(ks)) - np.searchsorted(ks, ks, side="left")  # place within its key in this chunk
        out[cursor[ks] + rank] = idx[order] + lo
        cursor += np.bincount(kk, minlength=n_keys)
    done = 0
    for g in np.flatnonzero(counts > 1):
        a, b = int(key_start[g]), int(key_start[g + 1])
        if not _in_time_order(out, t, a, b):  # NaN compares False: sorted, NaN last, as lexsort puts it
            seg = out[a:b]
            out[a:b] = seg[np.argsort(t[seg], kind="stable")]
        done += b - a
        if done >= 4096 and n >= spill.SPILL_MIN:  # a key's times lie all over the log: let their pages go
            spill.release()
            done = 0
    return out, key_start


def _in_time_order(idx: np.ndarray, t: np.ndarray, a: int, b: int) -> bool:
    """Whether t[idx[a:b]] is non-decreasing (and free of NaN), read a chunk at a time: a key as long as the log
    (the 200s of an access log) would otherwise gather all its times at once."""
    prev = None
    for lo in range(a, b, CHUNK):
        tg = t[idx[lo:min(lo + CHUNK, b)]]
        if prev is not None and not tg[0] >= prev:
            return False
        if not (tg[1:] >= tg[:-1]).all():
            return False
        prev = tg[-1]
        if b - a > CHUNK and len(t) >= spill.SPILL_MIN:
            spill.release()
    return True


def finite_where(mask: np.ndarray, t: np.ndarray) -> np.ndarray:
    """mask & isfinite(t), a chunk at a time (a new bool array)."""
    out = np.empty(len(t), dtype=bool)
    for lo, hi in spans(len(t)):
        np.logical_and(mask[lo:hi], np.isfinite(t[lo:hi]), out=out[lo:hi])
    return out


def min_max_where(t: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(t[mask].min(), t[mask].max()) without the copy t[mask] (mask selects at least one event)."""
    low, high = np.inf, -np.inf
    for lo, hi in spans(len(t)):
        v = t[lo:hi][mask[lo:hi]]
        if len(v):
            low, high = min(low, float(v.min())), max(high, float(v.max()))
    return low, high


def smallest_where(t: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """The k smallest of t[mask], sorted (np.sort(np.partition(t[mask], k - 1)[:k])), a chunk at a time."""
    best = np.zeros(0)
    for lo, hi in spans(len(t)):
        pool = np.concatenate((best, t[lo:hi][mask[lo:hi]]))
        best = np.partition(pool, k - 1)[:k] if len(pool) > k else pool
    return np.sort(best)


def quantiles_where(t: np.ndarray, mask_of: Callable[[int, int], np.ndarray], count: int,
                    qs: Sequence[float]) -> list[float]:
    """[float(np.quantile(t[mask], q)) for q in qs] (numpy's default, linear method) without the copy t[mask]:
    only the order statistics the quantiles need are kept, the smallest and the largest values by a running
    partition a chunk at a time. `mask_of(lo, hi)` is the mask of events lo..hi, `count` its total (at least 1).

    Meant for quantiles near the ends (a source's 1st and 99th percentiles keep 1 % of its values each)."""
    spots = []
    for q in qs:
        v = (count - 1) * q  # numpy's virtual index for 'linear', its floor and the next rank (clipped)
        below = int(np.floor(v))
        spots.append((min(max(below, 0), count - 1), min(max(below + 1, 0), count - 1), v - below))
    ranks = [r for a, b, _g in spots for r in (a, b)]
    n_low = max((r + 1 for r in ranks if r < count - r), default=0)  # ranks 0..n_low-1 from the bottom
    n_high = max((count - r for r in ranks if r >= count - r), default=0)  # the top n_high ranks
    low, high = np.zeros(0), np.zeros(0)
    for lo, hi in spans(len(t)):
        v = t[lo:hi][mask_of(lo, hi)]
        if n_low:
            pool = np.concatenate((low, v))
            low = np.partition(pool, n_low - 1)[:n_low] if len(pool) > n_low else pool
        if n_high:
            pool = np.concatenate((high, v))
            high = np.partition(pool, len(pool) - n_high)[len(pool) - n_high:] if len(pool) > n_high else pool
    low, high = np.sort(low), np.sort(high)

    def at(r: int) -> float:
        return float(low[r]) if r < n_low else float(high[r - (count - n_high)])

    out = []
    for a, b, gamma in spots:
        x, y = at(a), at(b)
        diff = y - x  # numpy's _lerp, in the same float64 steps
        out.append(y - diff * (1 - gamma) if gamma >= 0.5 else x + diff * gamma)
    return out


def keep_from(mask: np.ndarray, t: np.ndarray, start: float) -> int:
    """mask &= t >= start, in place, a chunk at a time; how many events the mask keeps."""
    kept = 0
    for lo, hi in spans(len(t)):
        mask[lo:hi] &= t[lo:hi] >= start
        kept += int(mask[lo:hi].sum())
    return kept


def values_where(col: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """np.unique(col[mask]), a chunk at a time."""
    parts = [np.unique(col[lo:hi][mask[lo:hi]]) for lo, hi in spans(len(col))]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, col.dtype)


def nonzero_where(mask: np.ndarray, col: np.ndarray, value: int) -> np.ndarray:
    """The events where mask and col == value (int32 indices when they fit), a chunk at a time."""
    dtype = np.int32 if len(col) < 2**31 - 1 else np.int64
    parts = [(np.flatnonzero(mask[lo:hi] & (col[lo:hi] == value)) + lo).astype(dtype) for lo, hi in spans(len(col))]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[index], a chunk of the index at a time, into a column that a long log keeps in a spill file."""
    out = spill.empty(len(index), values.dtype)
    for lo, hi in spans(len(index)):
        out[lo:hi] = values[index[lo:hi]]
    return out


def in_source_between(table: EventTable, t: np.ndarray, src: int, lo_t: float, hi_t: float) -> np.ndarray:
    """The events of source `src` with lo_t <= t < hi_t (int64 indices, in position order), a chunk at a time."""
    parts = [np.flatnonzero((t[lo:hi] >= lo_t) & (t[lo:hi] < hi_t) & (table.source[lo:hi] == src)) + lo
             for lo, hi in spans(len(t))]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def flatnonzero32(mask: np.ndarray) -> np.ndarray:
    """np.flatnonzero(mask) as int32 when the indices fit (int64 otherwise), a chunk at a time: no int64 array as
    long as the answer on the way."""
    n = len(mask)
    if n >= 2**31 - 1:
        return np.flatnonzero(mask)
    out = np.empty(int(np.count_nonzero(mask)), dtype=np.int32)
    at = 0
    for lo, hi in spans(n):
        idx = np.flatnonzero(mask[lo:hi])
        out[at:at + len(idx)] = idx + lo
        at += len(idx)
    return out


def pair_codes(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    """The distinct values of a * width + b (int64, sorted), as np.unique over the whole columns gives them, a chunk
    of events at a time (b < width)."""
    parts = [np.unique(a[lo:hi].astype(np.int64) * width + b[lo:hi]) for lo, hi in spans(len(a))]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def front_doors(table: EventTable) -> tuple[set[int], set[int]]:
    """(sources, (source, host, service) place codes) most of whose lines carry an HTTP status: user-facing.

    A place code is (source * (hosts + 1) + host) * (services + 1) + service.
    """
    n_src = len(table.sources)
    per_src = np.zeros(n_src, dtype=np.int64)
    with_status = np.zeros(n_src, dtype=np.int64)
    n_h, n_s = len(table.hosts) + 1, len(table.services) + 1
    codes, counts, status_codes, status_counts = [], [], [], []
    for lo, hi in spans(len(table)):
        src = table.source[lo:hi].astype(np.int64)
        has = table.status[lo:hi] > 0
        per_src += np.bincount(src, minlength=n_src)
        with_status += np.bincount(src[has], minlength=n_src)
        place = (src * n_h + table.host[lo:hi]) * n_s + table.service[lo:hi]
        c, k = np.unique(place, return_counts=True)
        codes.append(c)
        counts.append(k)
        c, k = np.unique(place[has], return_counts=True)
        status_codes.append(c)
        status_counts.append(k)
    front = {int(s) for s in np.nonzero(with_status >= np.maximum(0.3 * per_src, 1))[0]}
    if not codes:
        return front, set()
    places, inv = np.unique(np.concatenate(codes), return_inverse=True)
    per_place = np.bincount(inv, weights=np.concatenate(counts), minlength=len(places)).astype(np.int64)
    s_codes = np.concatenate(status_codes)
    with_status_p = np.bincount(np.searchsorted(places, s_codes), weights=np.concatenate(status_counts),
                                minlength=len(places)).astype(np.int64)
    return front, {int(p) for p in places[with_status_p >= np.maximum(0.3 * per_place, 1)]}


def key_maxima(key_of: np.ndarray, values: np.ndarray, n_keys: int) -> np.ndarray:
    """The highest value per key over the events that have one (-inf for keys without events)."""
    out = np.full(n_keys, -np.inf)
    for lo, hi in spans(len(key_of)):
        k = key_of[lo:hi]
        valid = k >= 0
        np.maximum.at(out, k[valid], np.asarray(values[lo:hi])[valid])
    return out
