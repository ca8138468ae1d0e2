"""Choosing LogICL's vote settings on its pool, with no label of the system being audited (leave-one-system-out).

Each labelled system of the pool in turn plays the new system: its samples are judged by the vote over the other
systems' demos, and the grid point with the best mean F1 wins. What makes this predict a real audit:

- the queries are what an audit judges: a held-out system's *windows* (or sessions) when it has them, not its single
  lines (the first version judged each system's stored demos — BGL lines, OpenStack whole sessions — so the
  held-out kind never had a neighbour of its own kind and the mean F1 was 0.096 while real transfer gave 0.85);
- at their natural share of anomalies (not drawn half anomalous): precision is what a user sees;
- besides the in-sample choice (`mean_f1`, the best grid point's F1, optimistic), `held_out_f1` judges each system
  with the settings chosen on the *other* folds — the figure to expect on a system the pool has never seen; F1 and
  the flag rate are pooled over all the folds' windows, as a test set's are over its units (`_choose`);
- as the audit votes (`aggregate="max"`, the default): each window by its most anomalous line, a line below ERROR
  level only from demos `plain_min_sim` close (`LogICL._line_floor`), with the held-out system's recurring lines as
  normal context (`LogICL.set_context`) — those of its normal windows, as an audit's fit part shows them, not of the
  windows being judged (the pool keeps a system's anomalies first, a third of its windows, so counted over them an
  incident's own lines recurred and voted as its background: the shipped settings' folds scored F1 0.105 while
  the real transfer gave 0.525 to OpenStack and 0.374 to BGL; 0.358 with the folds fixed) — and the held-out
  system's whole family
  left out of the pool (the shipped pool's generated-* systems are one generator's siblings: holding out one while
  its siblings stay predicted 0.16 while the real transfer to BGL and OpenStack was 0.00).

One difference from the audit remains: the audit fits on a log's earlier half and leaves the lines logged there
unjudged (`LogICLSettings.known_lines`); the folds judge a held-out system's windows whole. Held back that way on the
shipped pool, the folds kept almost no signal (pooled over systems, 1 grid point of 216 above F1 0, 294 queries), so
the settings are chosen on whole systems. A second: the audit votes a line by the pool's line demos only
(`LogICLSettings.line_demos`), the folds by every kind. Held to line demos, the shipped pool's folds keep 34 (logreduce)
or 38 (generated) anomalous lines to vote with, the quiet grid points all score F1 0.05-0.06 on them, and the choice
moved to k_vote 10, τ 0.1: a vote so smooth that it flagged no failure of OpenStack (F1 0.000, 0.525 with the
current choice) — the folds cannot tell these points apart, so they are left as they were.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np

from detectors.logicl_settings import LogICLSettings, states_error

if TYPE_CHECKING:
    from detectors.retriever import Retriever

VOTE_GRID: dict[str, tuple[Any, ...]] = {"k_vote": (1, 3, 5, 10), "tau": (0.02, 0.05, 0.1), "balance": (True, False),
                                         "min_sim": (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)}
# min_sim starts at 0.4: below it a sentence encoder's neighbours are unrelated text (a Mac kernel's "hibernate_flush_
# memory ... freed up <NUM> wired pages" next to "upstream call failed: pricing-service returned 500", cosine 0.43), and
# a vote of unrelated demos is noise, however the pool's own folds score it.
WINDOW_KINDS = ("window", "session")
MAX_FLAG_RATE = 0.02  # the tuning keeps to settings that flag at most this share of held-out healthy windows
# (the product's bar for a log without an incident: at most 2 % of its windows flagged)


@dataclass
class VoteTuning:
    """Vote settings chosen with no label of the audited system, and how well they transfer between the pool's
    systems."""

    settings: dict[str, Any]  # empty when fewer than two systems have both labels (the defaults stay)
    mean_f1: float  # the chosen settings' F1 over the held-out systems' windows, pooled (in-sample choice: optimistic)
    default_f1: float  # the shipped defaults' F1, same folds
    systems: list[str]  # the systems that were held out
    queries: int  # held-out samples judged, all folds
    grid: list[tuple[dict[str, Any], float]]
    held_out_f1: float = 0.0  # each system judged with the settings chosen on the others (nested), pooled
    flag_rate: float = 0.0  # share of held-out healthy-run windows (else normal ones) flagged, pooled over systems
    per_system: dict[str, dict[str, float]] = field(default_factory=dict)  # F1, flag rate, n, anomalies
    query_kind: str = "window"  # what was judged: "window" (windows/sessions where a system has them) or "line"
    grid_flag_rates: list[float] = field(default_factory=list)  # each grid point's pooled flag rate, as `grid`
    max_flag_rate: float = 1.0  # the choice was limited to grid points flagging at most this share of normal windows

    def to_json(self) -> dict[str, Any]:
        """What a pool keeps beside it (the pool stamps its version itself)."""
        return asdict(self)


def _f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp = int((pred & y).sum())
    fp = int((pred & (1 - y)).sum())
    fn = int(((1 - pred) & y).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _sample(idx: list[int], ys: list[int], n: int, rng: random.Random) -> list[int]:
    """At most `n` of `idx`, keeping the share of anomalies (and at least one anomaly when there is one)."""
    if len(idx) <= n:
        return list(idx)
    anom = [i for i, y in zip(idx, ys) if y]
    norm = [i for i, y in zip(idx, ys) if not y]
    n_a = min(len(anom), max(1 if anom else 0, round(n * len(anom) / len(idx))))
    return rng.sample(anom, n_a) + rng.sample(norm, min(len(norm), n - n_a))


def tune_vote(pool: Retriever, *, max_queries: int = 400, seed: int = 0,
              base: LogICLSettings | None = None, query_kind: str = "window",
              max_flag_rate: float = MAX_FLAG_RATE) -> VoteTuning:
    """Choose `k_vote`, `tau` and `balance` by leave-one-system-out inside `pool` (target shots left out).

    Args:
        pool: The pool (its stored vectors are used: nothing is re-encoded).
        max_queries: Held-out samples judged per system (drawn at the system's own share of anomalies).
        seed: For that draw.
        base: The other settings (the defaults when None).
        query_kind: "window": a system's windows/sessions are its queries when it has both labels among them
            (else its lines); "line": its lines (the first version's behaviour, kept to show the difference).
        max_flag_rate: Only grid points that flag at most this share of the held-out systems' normal windows (pooled
            over systems) compete on F1: an audit of a healthy system must stay quiet. When none does, the point
            that flags least wins.
    """
    base = base or LogICLSettings()
    if query_kind == "window" and base.aggregate == "max":
        by_lines = _tune_by_lines(pool, max_queries=max_queries, seed=seed, base=base, max_flag_rate=max_flag_rate)
        if by_lines.systems:
            return by_lines
        # no system with labelled windows to hold out: its lines are the queries (below)
    demos, vecs, source, systems, healthy = _folds_input(pool)
    rng = random.Random(seed)
    fetch = max(*VOTE_GRID["k_vote"], 1)
    folds = []  # (system, labels, neighbour indices into rest, their sims, rest labels, rest share, healthy mask)
    for system in systems:
        held = [i for i in source if demos[i].system == system]
        rest = np.array([i for i in source if demos[i].system != system], np.int64)
        if len({demos[i].y for i in held}) < 2 or len(rest) == 0 or len({demos[int(i)].y for i in rest}) < 2:
            continue
        wanted = [i for i in held if (demos[i].kind in WINDOW_KINDS) == (query_kind == "window")]
        if len({demos[i].y for i in wanted}) == 2:
            held = wanted
        queries = _sample(held, [demos[i].y for i in held], max_queries, rng)
        sims = vecs[queries] @ vecs[rest].T
        k = min(fetch, len(rest))
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        folds.append((system, np.array([demos[q].y for q in queries]), top,
                      np.take_along_axis(sims, top, axis=1), np.array([demos[int(i)].y for i in rest]),
                      float(np.mean([demos[int(i)].y for i in rest])), healthy[queries]))
    if not folds:
        return VoteTuning({}, 0.0, 0.0, [], 0, [], query_kind=query_kind)

    def predict(fold: tuple[Any, ...], opts: dict[str, Any]) -> np.ndarray:
        """The vote (as `detectors.logicl.vote`, no target shots in a fold), for every query of a fold at once."""
        _, _, top, sims, ry, share, _ = fold
        k = opts["k_vote"]
        s = sims[:, :k]
        y = ry[top[:, :k]].astype(np.float64)
        w = np.exp((s - s.max(axis=1, keepdims=True)) / max(opts["tau"], 1e-6))
        if opts["balance"] and 0 < share < 1:
            w = w * np.where(y == 1, 0.5 / share, 0.5 / (1 - share))
        w = w * (s >= opts["min_sim"])  # only close demos vote; none close: normal
        total = w.sum(axis=1)
        p = np.divide((w * y).sum(axis=1), total, out=np.zeros(len(total)), where=total > 0)
        return (p >= 0.5).astype(np.int64)

    return _choose(folds, predict, base, max_flag_rate, query_kind)


def _folds_input(pool: Retriever) -> tuple[list[Any], np.ndarray, list[int], list[str], np.ndarray]:
    """The pool's demos and vectors, the indices of its non-target demos, their systems, and which demos come from a
    healthy run. Files with no anomalous demo are healthy runs: the flag rate is measured on their windows when a
    system has some (an audit of a healthy system must stay quiet), else on all of its normal windows."""
    demos = list(pool.demos)
    vecs = pool.vectors() if demos else np.zeros((0, 1), np.float32)
    source = [i for i, d in enumerate(demos) if not d.target]
    systems = sorted({demos[i].system for i in source})
    bad_files = {d.source.rsplit(":", 1)[0] for d in demos if d.y}
    healthy = np.array([d.source.rsplit(":", 1)[0] not in bad_files for d in demos])
    return demos, vecs, source, systems, healthy


def recurring_lines(units: Sequence[Sequence[str]], share: float) -> list[tuple[str, int]]:
    """(line, units holding it) for the lines present in at least `share` of the units (and in two at least), most
    frequent first: a log's normal background for LogICL's vote (`LogICL.set_context`); none when `share` is 0."""
    if share <= 0 or not units:
        return []
    counts: dict[str, int] = {}
    for ls in units:
        for t in set(ls):
            counts[t] = counts.get(t, 0) + 1
    floor = max(2.0, share * len(units))
    return sorted(((t, c) for t, c in counts.items() if c >= floor), key=lambda tc: -tc[1])


def family(system: str) -> str:
    """Systems named FAMILY-NAME share a family (the shipped pool's generated-* and logreduce-*)."""
    return system.split("-", 1)[0]


def _tune_by_lines(pool: Retriever, *, max_queries: int, seed: int, base: LogICLSettings,
                   max_flag_rate: float) -> VoteTuning:
    """`tune_vote` as the audit judges (`aggregate="max"` with context): each held-out window is voted by its most
    anomalous line; a line's neighbours are the other families' demos (of every kind: see the module's note) plus the
    held-out system's own context (lines in at least `context_share` of its normal windows, normal, target-weighted:
    `LogICL.set_context`); a line below ERROR level is voted only by demos `plain_min_sim` close.
    """

    demos, vecs, source, systems, healthy = _folds_input(pool)
    rng = random.Random(seed)
    fetch = max(*VOTE_GRID["k_vote"], 1)
    windows = {s: [i for i in source if demos[i].system == s and demos[i].kind in WINDOW_KINDS] for s in systems}
    lines_of = {i: list(demos[i].templates) or demos[i].text.split(" | ") for ws in windows.values() for i in ws}
    lines = sorted({t for ls in lines_of.values() for t in ls})
    if not lines:
        return VoteTuning({}, 0.0, 0.0, [], 0, [], query_kind="window")
    line_vec = np.asarray(pool.encoder.encode(lines), np.float32)
    line_id = {t: j for j, t in enumerate(lines)}
    folds = []  # (system, labels, per-query line slices, merged sims, labels, target flags, rest share, healthy)
    for system in systems:
        held = windows[system]
        # Its whole family is left out (generated-app with generated-access: one generator's siblings), so the fold
        # is judged as a system unlike anything in the pool, which is what an audit of a new system is.
        rest = np.array([i for i in source if family(demos[i].system) != family(system)], np.int64)
        if len({demos[i].y for i in held}) < 2 or len(rest) == 0 or len({demos[int(i)].y for i in rest}) < 2:
            continue
        # The system's normal background as an audit's fit part shows it: the lines recurring in its normal windows.
        # Not in all of its windows: the pool keeps a system's anomalies first (a third of its windows, against a
        # few percent in a log), so counted over them an incident's own lines recur and voted as its normal
        # background (the shipped pool: every anomalous line demo of generated-app, -backend, -nginx_error and
        # logreduce-mock-01 was context in its own fold, and the shipped settings' F1 there was 0.000).
        ctx = [line_id[t] for t, _ in recurring_lines([lines_of[i] for i in held if not demos[i].y],
                                                       base.context_share)]
        queries = _sample(held, [demos[i].y for i in held], max_queries, rng)
        q_lines = [[line_id[t] for t in lines_of[q]] for q in queries]
        flat = np.array([j for ls in q_lines for j in ls], np.int64)
        bounds = np.cumsum([0] + [len(ls) for ls in q_lines])
        qv = line_vec[flat]
        # As the audit's vote (`LogICL._line_floor`): a line below ERROR level needs demos `plain_min_sim` close.
        floor = np.array([0.0 if states_error(lines[j]) else base.plain_min_sim for j in flat], np.float64)
        rs = qv @ vecs[rest].T
        k = min(fetch, len(rest))
        top = np.argsort(-rs, axis=1, kind="stable")[:, :k]
        sims = np.take_along_axis(rs, top, axis=1)
        ys = np.array([demos[int(i)].y for i in rest])[top]
        tg = np.zeros_like(sims, dtype=bool)
        if ctx:
            cs = qv @ line_vec[ctx].T
            kc = min(fetch, len(ctx))
            ctop = np.argsort(-cs, axis=1, kind="stable")[:, :kc]
            sims = np.hstack([sims, np.take_along_axis(cs, ctop, axis=1)])
            ys = np.hstack([ys, np.zeros((len(flat), kc), ys.dtype)])
            tg = np.hstack([tg, np.ones((len(flat), kc), bool)])
        order = np.argsort(-sims, axis=1, kind="stable")
        sims, ys, tg = (np.take_along_axis(a, order, axis=1) for a in (sims, ys, tg))
        folds.append((system, np.array([demos[q].y for q in queries]), bounds, sims, ys, tg, floor,
                      float(np.mean([demos[int(i)].y for i in rest])), healthy[queries]))
    if not folds:
        return VoteTuning({}, 0.0, 0.0, [], 0, [], query_kind="window")

    def predict(fold: tuple[Any, ...], opts: dict[str, Any]) -> np.ndarray:
        """The per-line vote (as `detectors.logicl.vote`), then each window's most anomalous line."""
        _, _, bounds, sims, ys, tg, floor, share, _ = fold
        kv = opts["k_vote"]
        s, y, t = sims[:, :kv], ys[:, :kv].astype(np.float64), tg[:, :kv]
        keep = (s >= np.maximum(opts["min_sim"], floor)[:, None]) | t
        smax = np.where(keep, s, -np.inf).max(axis=1, keepdims=True)
        smax = np.where(np.isfinite(smax), smax, 0.0)
        w = np.exp((s - smax) / max(opts["tau"], 1e-6)) * keep * np.where(t, base.target_weight, 1.0)
        if opts["balance"] and 0 < share < 1:
            w = w * np.where(y == 1, 0.5 / share, 0.5 / (1 - share))
        total = w.sum(axis=1)
        p = np.divide((w * y).sum(axis=1), total, out=np.zeros(len(total)), where=total > 0)
        line_pred = (p >= 0.5).astype(np.int64)
        return np.maximum.reduceat(line_pred, bounds[:-1]) if len(line_pred) else np.zeros(0, np.int64)

    return _choose(folds, predict, base, max_flag_rate, "window")


def _pooled(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1 and flag rate from summed counts (..., 5): true positives, false positives, false negatives, quiet-set
    windows flagged, quiet-set windows."""
    tp, fp, fn, flagged, quiet = (counts[..., j] for j in range(5))
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(tp.shape), where=tp > 0)
    return f1, np.divide(flagged, quiet, out=np.zeros(tp.shape), where=quiet > 0)


def _choose(folds: list[tuple[Any, ...]], predict: Any, base: LogICLSettings, max_flag_rate: float,
            query_kind: str) -> VoteTuning:
    """Every grid point on every fold (fold[0] the system, fold[1] its labels, fold[-1] its healthy-run mask): the
    quiet point with the best F1, and each system judged with the point chosen on the others (nested).

    F1 and flag rate are pooled over the folds' windows (counts summed), as a test set's are over its units, not
    averaged over systems: the shipped pool holds systems of 2 and of 139 windows, and averaged, logreduce-basic-01's
    one healthy window weighed as much as generated-access's 96 normal ones (flagging it alone was a 10 % mean flag
    rate, five times the bar) and its one anomalous window as much as generated-syslog's 47."""
    points = [dict(zip(VOTE_GRID, values)) for values in product(*VOTE_GRID.values())]
    scores = np.zeros((len(points), len(folds)))
    flags = np.zeros((len(points), len(folds)))
    counts = np.zeros((len(points), len(folds), 5))
    for p, opts in enumerate(points):
        for f, fold in enumerate(folds):
            pred = predict(fold, opts)
            y, calm = fold[1], fold[-1]
            scores[p, f] = _f1(pred, y)
            quiet_set = calm if calm.any() else (y == 0)
            flags[p, f] = float(pred[quiet_set].mean()) if quiet_set.any() else 0.0
            counts[p, f] = (int((pred & y).sum()), int((pred & (1 - y)).sum()), int(((1 - pred) & y).sum()),
                            int(pred[quiet_set].sum()), int(quiet_set.sum()))
    mean, rate = _pooled(counts.sum(axis=1))
    default = {k: getattr(base, k) for k in VOTE_GRID}
    d_idx = next(i for i, g in enumerate(points) if g == default) if default in points else 0

    def best(cols: np.ndarray) -> int:
        m_arr, fr_arr = _pooled(counts[:, cols].sum(axis=1))
        m, fr = m_arr.tolist(), fr_arr.tolist()
        quiet = [i for i in range(len(points)) if fr[i] <= max_flag_rate]
        if not quiet:
            return min(range(len(points)), key=lambda i: (round(fr[i], 6), -round(m[i], 6)))
        # Ties: fewer flags, then the defaults.
        return max(quiet, key=lambda i: (round(m[i], 6), -round(fr[i], 6), i == d_idx))

    chosen = best(np.arange(len(folds)))
    picks = [best(np.array([g for g in range(len(folds)) if g != f])) if len(folds) > 1 else chosen
             for f in range(len(folds))]
    nested_counts = np.array([counts[picks[f], f] for f in range(len(folds))])
    held_out, _ = _pooled(nested_counts.sum(axis=0))
    per_system = {fold[0]: {"f1": round(float(scores[chosen, f]), 4), "flag_rate": round(float(flags[chosen, f]), 4),
                            "held_out_f1": round(float(scores[picks[f], f]), 4), "n": len(fold[1]),
                            "anomalies": int(fold[1].sum())} for f, fold in enumerate(folds)}
    return VoteTuning(points[chosen], float(mean[chosen]), float(mean[d_idx]), [f[0] for f in folds],
                      sum(len(f[1]) for f in folds), [(g, float(m)) for g, m in zip(points, mean)],
                      held_out_f1=float(held_out), flag_rate=float(rate[chosen]),
                      per_system=per_system, query_kind=query_kind,
                      grid_flag_rates=[float(f) for f in rate], max_flag_rate=max_flag_rate)
