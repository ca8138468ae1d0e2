"""Change over time (log rate analysis): per-key rate series, and where each key's rate changed.

The series are counts per bin, at a bin width fitted to the span (about 240 bins: one minute over four hours).
A change at bin b is judged against the key's own past, bins [0, b): the baseline is the period before each
change, found anew for every candidate onset, so no labels or --baseline are needed. Kinds of change:
- **new / burst / rate up**: a Poisson log-likelihood ratio of the next few bins' count against the baseline rate
  (a key never seen before has a tiny prior rate, so its first lines are a strong "new");
- **rate down**: the same ratio the other way, for keys with volume (a throughput drop);
- **stopped**: a key that came regularly and then went silent (a heartbeat), at its last line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors import spill

NICE_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400)
TARGET_BINS = 240
MAX_SERIES_KEYS = 6000  # keys with a rate series (the most frequent and every bad or change key)
LLR_MIN = 9.0  # about p < 1e-4 for one test; many keys are tested, so this is strict on purpose
PRIOR = 0.3  # pseudo-count of the baseline: what an unseen key is expected to do


def bin_width(span_s: float) -> float:
    """A round bin width giving about TARGET_BINS bins over `span_s` seconds."""
    want = max(span_s, 1.0) / TARGET_BINS
    for w in NICE_WIDTHS:
        if w >= want:
            return float(w)
    return float(NICE_WIDTHS[-1] * int(np.ceil(want / NICE_WIDTHS[-1])))


@dataclass(slots=True)
class Change:
    """A change in one key's rate (or a latency / metric series): its onset bin and how strong it is."""

    key: int  # key id (or -1 for a series that is not a key)
    bin: int  # onset bin
    kind: str  # new | burst | rate up | rate down | stopped | latency up | metric
    strength: float  # log-likelihood ratio (or robust z for series)
    before: float  # baseline rate per bin
    after: float  # rate per bin in the window after the onset
    end_bin: int  # last bin the change lasted to (elevated / silent)
    series: str | None = None  # name of a latency or metric series
    event: int = -1  # the event that marks the onset (its first line after the change), when known


def counts_matrix(key_of: np.ndarray, bins: np.ndarray, keys: np.ndarray, n_bins: int) -> np.ndarray:
    """Counts per (selected key, bin); `keys` are the key ids selected (row order)."""
    row = np.full(int(key_of.max(initial=-1)) + 1, -1, dtype=np.int64)
    row[keys] = np.arange(len(keys))
    counts = np.zeros(len(keys) * n_bins, dtype=np.int64)
    for lo in range(0, len(key_of), 1 << 17):  # in chunks of events: the temporaries stay small on long logs
        k = key_of[lo:lo + (1 << 17)]
        ok = k >= 0
        r = row[k[ok]]
        sel = r >= 0
        counts += np.bincount(r[sel] * n_bins + bins[lo:lo + (1 << 17)][ok][sel], minlength=len(counts))
        if len(key_of) >= spill.SPILL_MIN:
            spill.release()  # the pages of the spilled key and bin columns read so far (detectors.spill)
    return counts.reshape(len(keys), n_bins).astype(np.float64)


def _llr_up(obs: np.ndarray, exp: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        v = obs * np.log(np.where(obs > 0, obs / exp, 1.0)) - (obs - exp)
    return np.where(obs > exp, v, 0.0)


def _llr_down(obs: np.ndarray, exp: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        v = obs * np.log(np.where(obs > 0, obs / exp, 1.0)) - (obs - exp)
    return np.where(obs < exp, v, 0.0)


def rate_changes(m: np.ndarray, key_ids: np.ndarray, window: int, warmup: int, max_per_key: int = 3,
                 last_share: float = 1.0) -> list[Change]:
    """Rises (and drops, for keys with volume) in each row of the counts matrix `m`.

    For every bin b >= warmup: the count over [b, b+window) against the baseline rate of [0, b) (with a small
    prior). Each run of bins above LLR_MIN is one change; its onset is the first bin of the run whose own count
    exceeds the baseline rate (refining the window's start to the bin where the lines begin). `last_share`: the
    part of the last bin the logs cover (they end inside it): a drop tested over a window that reaches it expects
    that much less, or every busy key would "drop" in the logs' last minutes.
    """
    k, n = m.shape
    if n <= warmup + 1 or k == 0:
        return []
    c = np.concatenate((np.zeros((k, 1)), np.cumsum(m, axis=1)), axis=1)
    b = np.arange(warmup, n)
    hi = np.minimum(b + window, n)
    width = (hi - b).astype(np.float64)
    obs = c[:, hi] - c[:, b]
    base_rate = (c[:, b] + PRIOR) / (b + 1.0)
    exp = base_rate * width
    up = _llr_up(obs, exp)
    # Drops only where the baseline expects volume; tested over a longer window (a quiet minute is not a drop).
    if last_share < 1.0:
        exp = exp - base_rate * np.where(hi == n, 1.0 - max(last_share, 0.0), 0.0)
    down = _llr_down(obs, exp) * (exp >= 8.0)
    out: list[Change] = []
    for direction, score in ((1, up), (-1, down)):
        above = score >= LLR_MIN
        if not above.any():
            continue
        rows = np.nonzero(above.any(axis=1))[0]
        for r in rows:
            a = above[r]
            edges = np.nonzero(a & ~np.concatenate(([False], a[:-1])))[0]
            ends = np.nonzero(a & ~np.concatenate((a[1:], [False])))[0]
            found: list[Change] = []
            for s, e in zip(edges, ends, strict=True):
                strength = float(score[r, s:e + 1].max())
                onset = int(b[s])
                rate0 = float(base_rate[r, s])
                if direction > 0:
                    row = m[r, onset:min(onset + window, n)]
                    rise = np.nonzero(row > max(rate0 * 2.0, rate0 + 0.5))[0]
                    onset += int(rise[0]) if len(rise) else 0
                    seen_before = c[r, onset] > 0
                    kind = "burst" if seen_before else "new"
                    if seen_before and e - s + 1 >= 2 * window:
                        kind = "rate up"
                else:
                    kind = "rate down"
                after = float(m[r, onset:min(onset + window, n)].mean()) if onset < n else 0.0
                found.append(Change(int(key_ids[r]), onset, kind, strength, rate0, after,
                                    min(int(b[e]) + window - 1, n - 1)))
            found.sort(key=lambda ch: -ch.strength)
            out.extend(found[:max_per_key])
    return out


def silences(m: np.ndarray, key_ids: np.ndarray, min_count: int = 12) -> list[Change]:
    """Keys that came regularly and then stopped (to the end, or for a long gap): a heartbeat gone silent."""
    out: list[Change] = []
    k, n = m.shape
    if n < 12:
        return out
    present = m > 0
    totals = m.sum(axis=1)
    for r in np.nonzero(totals >= min_count)[0]:
        p = present[r]
        on = np.nonzero(p)[0]
        first, last = int(on[0]), int(on[-1])
        if last - first < 8:
            continue
        occupancy = len(on) / (last - first + 1)
        if occupancy < 0.5:
            continue
        gaps = np.diff(on)
        typical = max(1.0, float(np.median(gaps)))
        need = max(5, int(4 * typical))
        # The longest run of empty bins after the key was established (or the silence to the end).
        tail = n - 1 - last
        run_start, run_len = (last + 1, tail) if tail >= need else (-1, 0)
        if len(gaps):
            g = int(np.argmax(gaps))
            if gaps[g] - 1 > run_len and gaps[g] - 1 >= need and on[g] - first >= 8:
                run_start, run_len = int(on[g]) + 1, int(gaps[g]) - 1
        if run_start < 0:
            continue
        before = float(m[r, first:run_start].mean())
        strength = before * run_len  # expected lines that did not come (the Poisson LLR of zero observed)
        if strength < LLR_MIN:
            continue
        out.append(Change(int(key_ids[r]), run_start, "stopped", strength, before, 0.0, run_start + run_len - 1))
    return out


def robust_shift(values: np.ndarray, window: int, warmup: int, z_min: float = 4.0) -> list[Change]:
    """Level shifts up or down of a per-bin series (NaN = no data), as Changes with key -1.

    At each bin b: the median of the `window` bins from b against the median and MAD of the bins before b. A run
    of bins past `z_min` is one shift; its onset is the run's first bin, its strength the run's largest |z|.
    """
    n = len(values)
    out: list[Change] = []
    run: Change | None = None
    finite = np.isfinite(values)
    for b in range(max(warmup, 3), n):
        past = values[:b][finite[:b]]
        nxt = values[b:b + window][finite[b:b + window]]
        z = 0.0
        med = after = 0.0
        if len(past) >= 5 and len(nxt) >= max(2, window // 2):
            med = float(np.median(past))
            mad = float(np.median(np.abs(past - med))) * 1.4826
            scale = max(mad, 0.05 * abs(med), 1e-9)
            after = float(np.median(nxt))
            z = (after - med) / scale
        if abs(z) >= z_min and (run is None or np.sign(z) == np.sign(run.after - run.before)):
            if run is None:
                run = Change(-1, b, "shift", abs(z), med, after, b)
            else:
                run.strength = max(run.strength, abs(z))
                run.end_bin = b + window - 1
        elif run is not None:
            run.end_bin = min(run.end_bin, n - 1)
            out.append(run)
            run = None
    if run is not None:
        run.end_bin = min(run.end_bin, n - 1)
        out.append(run)
    out.sort(key=lambda c: -c.strength)
    return out[:3]
