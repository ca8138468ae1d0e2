"""The incident engine: changes that begin together become incidents, ordered from the earliest failing key to the
user-facing symptom, with ranked root-cause candidates, what changed just before, and what is unrelated.

Deterministic, no model. Inputs: the event table of an audit (or of logs read here), its templates, optionally
the audit detector's per-line scores, metric series (`--metrics`) and anomalies CALM judged (`Signal`s).
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from detectors import spill
from detectors.eventtable import LEVELS, EventTable
from detectors.formats import detect_format
from detectors.incidents import columns, explain, rates, semantics, timebase
from detectors.incidents import keys as keys_mod
from detectors.incidents.metrics import read_metrics, resample
from detectors.incidents.model import (
    Candidate,
    ChangeEvent,
    Impact,
    Incident,
    MetricSeries,
    Signal,
    Step,
    Triage,
    Unrelated,
    iso,
)
from detectors.memory import bound_heap
from detectors.readers import context_many

SYMPTOM_MIN = 0.25  # least symptom weight that anchors an incident
MAX_STEPS = 8


@dataclass
class TriageOptions:
    """Knobs of the engine; the defaults are meant to need no tuning."""

    max_incidents: int = 3
    lookback_s: float = 20 * 60  # how long before the symptom a cause may begin (at least 8 bins)
    follow_s: float = 10 * 60  # how long after the symptom's onset a step may still begin
    change_window_s: float = 60 * 60  # how far before the onset change events are listed
    unrelated: int = 10
    bin_s: float | None = None  # rate series bin width (default: fitted to the span)


@dataclass
class _Ch:
    """A change with what the engine derives for it."""

    c: rates.Change
    ts: float  # onset time (exact: the time of its first line after the change)
    event: int  # that line's event index (-1 none)
    bad: float
    symptom: float
    background: bool
    coact: float = 0.0
    flagged: float = 0.0  # detector score / threshold of the key's lines (0 when no detector input)
    text: str = ""
    metric: str | None = None
    off_path: str | None = None  # why it was left out of an incident's chain (no path to its symptom)
    baseline_novel: bool = False  # flagged by the diff detector: never seen in the good run given as baseline
    healthy: bool = False  # its words say all is well ("... ok", "succeeded", "no errors")
    via_silence: bool = False  # on the path as a flow of work that stopped (or the failure that stopped it)
    run: str = ""  # a line of a failed run's last error block (_failed_runs): "verdict", "cause" or "block"


@dataclass
class _Ctx:
    table: EventTable
    keys: keys_mod.Keys
    t: np.ndarray
    t0: float
    width: float
    n_bins: int
    timed: bool
    m: np.ndarray  # counts (selected keys x bins)
    row: dict[int, int]  # key id -> row of m
    key_events: np.ndarray  # event indices grouped by key, each group in time order
    key_start: np.ndarray  # offsets into key_events per key
    front: set[int]  # sources that carry HTTP statuses (user-facing)
    detector: str | None
    key_flag: np.ndarray | None
    texts: dict[int, str] = field(default_factory=dict)  # event -> message text, filled lazily
    front_places: set[int] | None = None  # (source, host, service) codes that answer requests
    _host_services: dict[int, set[str]] | None = None
    origin: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per source: its time group's start
    warmup_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per source: how long its group must have
    # logged before a key in it can be new (a 25th of the group's span, as the rate tests' warmup is of the whole)
    word_keys: dict[str, int] | None = None  # word -> how many keys' texts hold it (filled lazily, _echoes)
    key_t: np.ndarray | None = None  # t[key_events]: each key's times in one stretch (a long log's in a spill file)

    def host_services(self, host: int) -> set[str]:
        """The services (daemons) seen logging on a host."""
        if self._host_services is None:
            hs: dict[int, set[str]] = {}
            pairs = columns.pair_codes(self.table.host, self.table.service, len(self.table.services) + 1)
            for p in pairs:
                h, sv = divmod(int(p), len(self.table.services) + 1)
                name = _name(self.table.services, sv)
                if h and name:
                    hs.setdefault(h, set()).add(name)
            self._host_services = hs
        return self._host_services.get(host, set())

    def bin_ts(self, b: int) -> float:
        return self.t0 + b * self.width

    def events_of(self, k: int) -> np.ndarray:
        return self.key_events[self.key_start[k]:self.key_start[k + 1]]

    def times_of(self, k: int) -> np.ndarray:
        """The times of `events_of(k)` (t[events_of(k)], read from one stretch of `key_t`, not from all over t)."""
        if self.key_t is None:
            return self.t[self.events_of(k)]
        return self.key_t[self.key_start[k]:self.key_start[k + 1]]

    def count_between(self, k: int, lo_ts: float, hi_ts: float, through: bool = False) -> int:
        """Lines of key `k` with lo_ts <= t < hi_ts (t <= hi_ts `through` it)."""
        tt = self.times_of(k)
        return int(np.searchsorted(tt, hi_ts, side="right" if through else "left") - np.searchsorted(tt, lo_ts))

    def first_after(self, k: int, ts: float) -> int:
        ev = self.events_of(k)
        if len(ev) == 0:
            return -1
        i = int(np.searchsorted(self.times_of(k), ts, side="left"))
        return int(ev[min(i, len(ev) - 1)])

    def last_before(self, k: int, ts: float) -> int:
        ev = self.events_of(k)
        if len(ev) == 0:
            return -1
        i = int(np.searchsorted(self.times_of(k), ts, side="left")) - 1
        return int(ev[max(i, 0)])


# --- inputs --------------------------------------------------------------------------------------------------


def load(paths: Sequence[str], *, include: Sequence[str] = (), exclude: Sequence[str] = (),
         metrics: Sequence[str] = ()) -> tuple[EventTable, Any, Any, list[str]]:
    """Read log sources into an event table with templates (files also given as metrics are left out).

    Returns (table, template store, read stats, metric files found: given ones plus metric CSVs in directories).
    """
    import os

    from detectors.events import ReadStats
    from detectors.incidents.metrics import looks_like_metrics
    from detectors.readers import expand_sources, read_events
    from detectors.templates import TemplateStore

    stats = ReadStats()
    sources = expand_sources(paths, include, exclude, stats)
    metric_files = list(metrics)
    given = {os.path.realpath(p) for p in paths}
    mset = {os.path.realpath(m) for m in metric_files}
    logs = []
    for s in sources:
        real = os.path.realpath(s) if s != "-" else s
        if real in mset:
            continue
        if s != "-" and real not in given and s.lower().endswith(".csv") and looks_like_metrics(s):
            metric_files.append(s)  # a metrics CSV inside a folder of logs
            continue
        logs.append(s)
    store = TemplateStore()
    table = EventTable()
    batch: list[Any] = []
    tids: list[int] = []
    add = store.add
    for event in read_events(logs, stats=stats):
        batch.append(event)
        tids.append(add(event.text.partition("\n")[0]))
        if len(batch) >= 4096:
            table.extend(batch, tids)
            batch, tids = [], []
    if batch:
        table.extend(batch, tids)
    table.freeze()
    return table, store, stats, metric_files


def triage(paths: Sequence[str], *, metrics: Sequence[str | MetricSeries] = (), signals: Sequence[Signal] = (),
           options: TriageOptions | None = None, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Triage:
    """Triage log files / folders: read them, then `triage_table`.

    A file given both as a log and in `metrics` is read once, as metrics; metric CSVs inside a folder are found
    and read as metrics too.
    """
    started = time.perf_counter()
    bound_heap()  # freed temporaries of long logs go back to the system (detectors.memory)
    metric_paths = [m for m in metrics if isinstance(m, str)]
    table, store, stats, found = load(paths, include=include, exclude=exclude, metrics=metric_paths)
    series = [m for m in metrics if isinstance(m, MetricSeries)] + found
    notes = list(stats.notes)
    for s in stats.skips[:20]:
        notes.append(s.message)
    out = triage_table(table, store, read_notes=notes, metrics=series, signals=signals, options=options)
    out.seconds = round(time.perf_counter() - started, 3)
    return out


def triage_audit(result: Any, *, metrics: Sequence[str | MetricSeries] = (), signals: Sequence[Signal] = (),
                 options: TriageOptions | None = None) -> Triage:
    """Triage what an audit read (`detectors.pipeline.AuditResult`), with its detector's line scores as input."""
    started = time.perf_counter()
    detector = result.detector
    threshold = float(getattr(detector, "threshold", float("nan")))
    line_scores = result.line_scores if np.isfinite(threshold) else None
    notes = list(getattr(result.stats, "notes", []))
    notes += [s.message for s in list(getattr(result.stats, "skips", []))[:20]]  # empty / binary / unreadable
    out = triage_table(result.events, result.templates, read_notes=notes, line_scores=line_scores,
                       threshold=threshold, detector_name=getattr(detector, "name", None), metrics=metrics,
                       signals=signals, options=options)
    out.seconds = round(time.perf_counter() - started, 3)
    return out


# --- the engine ----------------------------------------------------------------------------------------------


def triage_table(table: EventTable, store: Any, *, read_notes: Sequence[str] = (),
                 line_scores: np.ndarray | None = None, threshold: float | None = None,
                 detector_name: str | None = None, metrics: Sequence[str | MetricSeries] = (),
                 signals: Sequence[Signal] = (), options: TriageOptions | None = None,
                 progress: Callable[[str], None] | None = None) -> Triage:
    """Incidents in an event table.

    Args:
        table: A frozen EventTable (with the field columns status/latency/route/exc).
        store: The TemplateStore that gave the table its template ids (for template text).
        read_notes: What the readers noted about time (years inferred, sources without timestamps) and skips.
        line_scores: The audit detector's score per event (`AuditResult.line_scores`); lines at or above
            `threshold` mark their keys as flagged, which weighs in the ranking of candidates.
        threshold: The detector's threshold on `line_scores`.
        detector_name: Its name, for the reasons.
        metrics: Metric series, or paths of metric files, whose change points are causes or symptoms.
        signals: Anomalies already judged by another detector (CALM on metrics): grouped like changes.
        options: TriageOptions.
    """
    options = options or TriageOptions()
    started = time.perf_counter()
    out = Triage(sources=list(table.sources), events=len(table))
    tb = timebase.build(table, list(read_notes))
    spill.release()  # the pages of spilled columns read by the step above go back (detectors.spill)
    out.notes = tb.notes
    out.timed = tb.timed
    series: list[MetricSeries] = []
    for m in metrics:
        series += read_metrics(m, out.notes) if isinstance(m, (str, Path)) else [m]
    if len(table) == 0:
        out.notes.append("no log lines to triage")
        return out
    keys = keys_mod.build(table, store, tb.usable)
    spill.release()
    out.keys = len(keys)
    t = tb.t
    usable = columns.finite_where(tb.usable, t)
    n_usable = int(usable.sum())
    if n_usable < 2:
        out.notes.append("too few timed lines to follow rates over time")
        return out
    t0, t1 = columns.min_max_where(t, usable)
    lead = _stale_lead(t, usable, n_usable, t0, t1)
    if lead is not None:
        # A few lines dated long before all the rest (dpkg.log keeps last week's upgrades): the time axis starts
        # after them, or its bins would be hours wide and every key's first line "new" at the real start.
        dropped = n_usable - columns.keep_from(usable, t, lead)
        out.notes.append(f"{dropped} line(s) dated from {iso(t0)} lie long before the other lines "
                         f"(from {iso(lead)}): left out of the rates over time")
        t0 = lead
    width = options.bin_s or (rates.bin_width(t1 - t0) if tb.timed else max(1.0, np.ceil((t1 - t0 + 1) / 240)))
    n_bins = int((t1 - t0) // width) + 1
    out.start_ts, out.end_ts = (t0, t1) if tb.timed else (None, None)
    out.resolution_s = width
    bins = columns.bin_index(t, usable, t0, width)
    # keys.of is -1 already outside tb.usable; a copy only when usable excludes more (4 bytes per event).
    key_of = keys.of if not (tb.usable & ~usable).any() else np.where(usable, keys.of, -1)

    # Which keys get a series: every bad / change key, then the most frequent.
    key_flag = None  # per key: the detector's best line score over its threshold (0: not flagged)
    if line_scores is not None and threshold is not None and np.isfinite(threshold) and len(line_scores) == len(table):
        key_flag = columns.key_maxima(keys.of, line_scores, len(keys))
        base = abs(threshold) if threshold else 1.0
        key_flag = np.where(key_flag >= threshold, key_flag / base, 0.0)
    interesting = (keys.bad >= 0.25) | np.array([c is not None for c in keys.change], dtype=bool)
    if detector_name == "diff" and key_flag is not None:
        interesting |= key_flag > 0  # lines never seen in the good run get a series
    order = np.argsort(-keys.count, kind="stable")
    chosen = list(np.nonzero(interesting)[0][:rates.MAX_SERIES_KEYS])
    have = set(chosen)
    for k in order:
        if len(chosen) >= rates.MAX_SERIES_KEYS:
            break
        if int(k) not in have and keys.count[k] >= 3:
            chosen.append(int(k))
            have.add(int(k))
    sel = np.asarray(sorted(chosen), dtype=np.int64)
    m = rates.counts_matrix(key_of, bins, sel, n_bins)
    row = {int(k): i for i, k in enumerate(sel)}

    key_events, key_start = columns.group_by_key(key_of, t, len(keys))
    key_t = columns.gather(t, key_events)
    # User-facing sources: most of their lines are requests with an HTTP status (access logs, request logs).
    # A front door is a host / service that answers requests, not a whole file: a batch job logging into the same
    # JSON file as the API is not user-facing.
    front, front_places = columns.front_doors(table)
    ctx = _Ctx(table, keys, t, t0, width, n_bins, tb.timed, m, row, key_events, key_start, front,
               detector_name, key_flag, front_places=front_places, key_t=key_t)

    window = int(np.clip(round(300 / width), 3, max(3, n_bins // 8))) if tb.timed else 5
    warmup = max(3, n_bins // 25)
    ctx.origin = np.maximum(tb.origin, t0) if len(tb.origin) else tb.origin  # (after a stale lead, its end)
    ctx.warmup_s = np.where(tb.group_end - ctx.origin >= 0.9 * (t1 - t0), warmup * width,
                            (tb.group_end - ctx.origin) / 25.0) if len(tb.origin) else tb.origin
    last_share = ((t1 - t0) - (n_bins - 1) * width) / width if tb.timed else 1.0  # (the logs end inside the last bin)
    changes = rates.rate_changes(m, sel, window, warmup, last_share=last_share) + rates.silences(m, sel)
    changes += _rare_new_failures(ctx, changes, window, warmup)
    chs = []
    for c in changes:
        chs.append(_derive(ctx, c))
        spill.release()  # the pages of the spilled columns this change read (detectors.spill)
    spill.release()
    _weigh_down_scans(ctx, chs)
    _weigh_up_auth_outages(ctx, chs)
    chs += _latency_changes(ctx, window, warmup, bins, usable)
    spill.release()
    del bins, key_of, usable  # per-event columns no later step reads (4 + 4 + 1 bytes per event)
    chs += _metric_changes(ctx, series, window, warmup, out.notes)
    chs += _signal_changes(ctx, signals)
    chs = [c for c in chs if c is not None]

    lookback = max(options.lookback_s, 8 * width) if tb.timed else 8 * width
    follow = max(options.follow_s, 4 * width) if tb.timed else 4 * width
    # The steps of one incident begin within STEP_REACH_S of its symptom, however wide the bins: on a log of weeks
    # (hours-wide bins) 8 bins back would chain a node that stopped answering to a file system that lost its server
    # 11 days earlier.
    reach_back = min(lookback, max(options.lookback_s, STEP_REACH_S)) if tb.timed else lookback
    reach_on = min(follow, max(options.follow_s, STEP_REACH_S)) if tb.timed else follow
    bad = [c for c in chs if _is_bad(c)]
    used: set[int] = set()
    incidents: list[Incident] = []
    for _ in range(options.max_incidents):
        pool = [i for i, c in enumerate(bad) if i not in used]
        if not pool:
            break
        anchor_i = max(pool, key=lambda i: _anchor_weight(bad[i]))
        anchor = bad[anchor_i] = _storm_start(ctx, bad[anchor_i])
        if _anchor_weight(anchor) < SYMPTOM_MIN * np.log1p(rates.LLR_MIN):
            break
        if incidents and _anchor_weight(anchor) < 0.25 * incidents[0].strength:
            break
        if any(inc.onset_ts is not None and inc.end_ts is not None
               and inc.onset_ts - lookback <= anchor.ts <= inc.end_ts + lookback
               and not _starts_apart(ctx, anchor, inc, lookback) for inc in incidents):
            used.add(anchor_i)
            continue
        if not _user_facing(anchor) and not (_real_failure(ctx, anchor) and _new_in_this_run(ctx, anchor)):
            used.add(anchor_i)  # no user saw it, and it is no clear failure: not an incident of its own
            continue
        members = [i for i in pool if anchor.ts - reach_back <= bad[i].ts <= anchor.ts + reach_on]
        inc, taken = _incident(ctx, bad, anchor_i, members, chs, series, options, len(incidents) + 1, lookback)
        used |= taken
        used.add(anchor_i)
        spill.release()
        if inc is not None:
            # Of two incidents at the same time, the stronger first (a burst of 401s on every route before the
            # trickle of export timeouts it began inside of).
            at = next((j for j, o in enumerate(incidents) if o.strength < inc.strength and _overlap(o, inc, lookback)),
                      len(incidents))
            incidents.insert(at, inc)
            _renumber(incidents)
    if not any(inc.impact.user_facing for inc in incidents):
        # A log of one run (a CI job, a build, a playbook) that ended in failure: its last error block is the
        # incident, whatever the rates say (one run has no before), ahead of failures no user saw (a retried
        # download earlier in the job); one of those that holds a line of the block is the run's failure, told whole
        # by the run's incident.
        ran: list[Incident] = []
        block: set[tuple[str, int]] = set()
        for run in _failed_runs(ctx)[:options.max_incidents]:
            inc = _run_incident(ctx, run, bad, chs, series, options, len(ran) + 1, lookback, used)
            if inc is not None:
                ran.append(inc)
                block |= {_where(ctx, e) for e in run.block}
        if ran:
            quiet = [inc for inc in incidents if not any((s.file, s.line) in block for s in inc.chain)]
            incidents = (ran + quiet)[:options.max_incidents]
            _renumber(incidents)
    if not incidents:
        # No user-facing symptom anchored one: the strongest onset of failures (an error burst, a crash at the end
        # of a build log) is still an incident, with low confidence.
        pool = [i for i, c in enumerate(bad) if c.bad >= 0.55 and not c.background and c.metric is None
                and c.c.kind != "rate down" and c.c.strength >= rates.LLR_MIN and _real_failure(ctx, c)]
        old = [bad[i] for i in pool if not _new_in_this_run(ctx, bad[i])]
        pool = [i for i in pool if _new_in_this_run(ctx, bad[i])]
        if old and not pool:
            top = max(old, key=lambda c: c.bad * np.log1p(c.c.strength))
            _read_texts(ctx, [top.event])
            said = _clip_middle(" ".join((ctx.texts.get(top.event) or ctx.keys.text[top.c.key]).split()), 90)
            out.notes.append(f"no failure in these logs is new against the good run given as baseline: "
                             f"{len(old)} (e.g. \u201c{said}\u201d) were logged there too, so none is an incident; "
                             f"the anomalies list the lines it never had")
        if pool:
            anchor_i = max(pool, key=lambda i: bad[i].bad * np.log1p(bad[i].c.strength))
            anchor = bad[anchor_i]
            members = [i for i in range(len(bad)) if anchor.ts - reach_back <= bad[i].ts <= anchor.ts + reach_on]
            inc, taken = _incident(ctx, bad, anchor_i, members, chs, series, options, 1, lookback)
            used |= taken | {anchor_i}
            if inc is not None:
                inc.confidence = "low"
                inc.confidence_reason = NO_SYMPTOM
                incidents.append(inc)
    out.incidents = incidents
    out.unrelated = _unrelated(ctx, bad, used, incidents, options, lookback)
    spill.release()
    _fill_texts(ctx, out)
    out.seconds = round(time.perf_counter() - started, 3)
    return out


STEP_REACH_S = 3600.0  # the furthest a step of an incident's chain may begin from its symptom (see triage_table)
LEAD_SHARE = 0.005  # at most this share of the lines may be cut off the start of the time axis
LEAD_GAP_S = 6 * 3600.0  # ... and only when a gap this long (and longer than all that follows) sets them apart


def _stale_lead(t: np.ndarray, usable: np.ndarray, n: int, t0: float, t1: float) -> float | None:
    """The time after a long gap that sets the first few lines (at most LEAD_SHARE of the `n` usable ones) apart
    from all the others, when the gap is longer than LEAD_GAP_S and than the span after it; else None."""
    k = int(n * LEAD_SHARE)
    if k < 1 or t1 - t0 < 2 * LEAD_GAP_S:
        return None
    head = columns.smallest_where(t, usable, k + 1)  # the k+1 earliest times, sorted
    gaps = np.diff(head)
    if not len(gaps):
        return None
    i = int(np.argmax(gaps))
    after = float(head[i + 1])
    if gaps[i] >= LEAD_GAP_S and gaps[i] > t1 - after:
        return after
    return None


def _rare_new_failures(ctx: _Ctx, changes: list[rates.Change], window: int, warmup: int) -> list[rates.Change]:
    """Failures too rare for a rate test (one OOM kill, one segfault, one FATAL): a failure message never logged
    before is a change at its first line."""
    keys = ctx.keys
    have = {(c.key, c.kind) for c in changes}
    out: list[rates.Change] = []
    rare = (keys.bad >= 0.55) & ~keys.background
    if ctx.detector == "diff" and ctx.key_flag is not None:
        # Against a good run, a line the diff detector flags never happened there (a linter's finding, a failed
        # assertion's values): evidence whatever its words.
        rare |= ctx.key_flag > 0
    for k in np.nonzero(rare)[0]:
        k = int(k)
        if (k, "new") in have or (k, "burst") in have or (k, "rate up") in have:
            continue
        r = ctx.row.get(k)
        if r is None:
            continue
        row = ctx.m[r]
        on = np.nonzero(row)[0]
        if len(on) == 0 or on[0] < warmup:
            continue
        b = int(on[0])
        n = float(row[b:b + window].sum())
        if n > 5:
            continue  # a rate test would have seen it
        out.append(rates.Change(k, b, "new", rates.LLR_MIN + n, 0.0, n / window, min(b + window - 1, ctx.n_bins - 1)))
    return out


def _derive(ctx: _Ctx, c: rates.Change) -> _Ch | None:
    k = c.key
    keys = ctx.keys
    onset_ts = ctx.bin_ts(c.bin)
    if c.kind == "stopped":
        ev = ctx.last_before(k, onset_ts)
        ts = onset_ts
    else:
        ev = ctx.first_after(k, onset_ts)
        ts = float(ctx.t[ev]) if ev >= 0 else onset_ts
        if ev >= 0 and c.kind in ("burst", "new", "rate up") and ctx.timed:
            # The rate test fires on the bin where the lines became many; the first of them may come minutes
            # earlier (one OutOfMemoryError, then a storm): walk back over lines no more than 10 min apart.
            evs = ctx.events_of(k)
            j = int(np.searchsorted(ctx.times_of(k), ts, side="left"))
            limit = ts - 30 * 60
            while j > 0 and ctx.t[evs[j]] - ctx.t[evs[j - 1]] <= 600 and ctx.t[evs[j - 1]] >= limit:
                j -= 1
            if j == 0 or ctx.t[evs[j]] - ctx.t[evs[j - 1]] > 1800:  # only when the lines before are long past
                ev = int(evs[j])
                ts = float(ctx.t[ev])
    bad = float(keys.bad[k])
    sc = int(keys.status_class[k])
    symptom = 0.0
    if c.kind == "stopped":
        bad = max(bad, 0.4)
    elif c.kind == "rate down":
        symptom = 0.6 if sc in (2, 3) else 0.0
        bad = 0.5 if sc in (2, 3) else 0.0
    else:
        if sc == 5:
            symptom = 1.0
        elif sc == 4:
            symptom = SYMPTOM_4XX  # (less when one client asks for what is not there: _weigh_down_scans)
        elif bad >= 0.55 and _at_front(ctx, k):
            symptom = 0.6
        elif bad >= 0.25:
            symptom = 0.3 * bad
    if c.kind in ("new", "burst", "rate up", "rate down") and ev >= 0 and ctx.timed and len(ctx.origin):
        # No before: a key whose source (with the sources logging beside it) began only just now is not a change.
        src = int(ctx.table.source[ev])
        origin = ctx.origin[src]
        if np.isfinite(origin) and ts - origin < ctx.warmup_s[src]:
            return None
    flagged = float(ctx.key_flag[k]) if ctx.key_flag is not None else 0.0
    return _Ch(c, ts, ev, bad, symptom, bool(keys.background[k]), flagged=flagged,
               baseline_novel=ctx.detector == "diff" and flagged > 0,
               healthy=bad < 0.25 and semantics.reads_healthy(keys.text[k]))


# A request line's client address: nginx / Apache ("203.0.113.9 - - [...]"), HAProxy ("203.0.113.9:51234 [...]").
_CLIENT_ADDR = re.compile(r"\s*(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7})(?::\d+)?\s", re.I)


SYMPTOM_4XX = 0.45
SYMPTOM_SCAN = 0.1  # a 4xx key that one client's requests for what is not there make up


def _not_found_sample(ctx: _Ctx, c: _Ch, span: float = 600.0, sample: int = 30) -> list[int]:
    """Up to `sample` of a 4xx change's lines in the `span` seconds from its onset, when 9 in 10 of them are
    404 / 405 (what is not there); [] otherwise, or when there are fewer than 10."""
    evs = ctx.events_of(c.c.key)
    tt = ctx.times_of(c.c.key)
    sel = evs[(tt >= c.ts) & (tt <= c.ts + span)]
    if len(sel) < 10:
        return []
    pick = [int(e) for e in sel[np.linspace(0, len(sel) - 1, min(len(sel), sample)).astype(np.int64)]]
    return pick if sum(int(ctx.table.status[e]) in (404, 405) for e in pick) >= 0.9 * len(pick) else []


def _weigh_down_scans(ctx: _Ctx, chs: Sequence[_Ch | None]) -> None:
    """One client asking for what is not there (a scanner probing for /.env and /wp-login.php, a crawler) is that
    client's doing, not what the users get: a 4xx change whose sampled lines come 9 in 10 from one client address
    weighs SYMPTOM_SCAN as a symptom. The samples of all such changes are read back in one pass per file."""
    if not ctx.timed:
        return
    picks = [(c, p) for c in chs if c is not None and c.symptom == SYMPTOM_4XX and c.event >= 0
             and (p := _not_found_sample(ctx, c))]
    _read_texts(ctx, [e for _, p in picks for e in p])
    for c, pick in picks:
        addrs = [m.group(1) for e in pick if (m := _CLIENT_ADDR.match(ctx.texts.get(e, "")))]
        if addrs and max(addrs.count(a) for a in set(addrs)) >= 0.9 * len(pick):
            c.symptom = SYMPTOM_SCAN


SYMPTOM_AUTH = 0.8  # a surge of 401 / 403 that locks most clients out on most routes (_weigh_up_auth_outages)
AUTH_SPAN_S = 600.0  # the surge is read over this long from its onset, against the AUTH_BEFORE_S before it
AUTH_BEFORE_S = 1800.0
AUTH_SHARE = 0.25  # ... where at least this share of the front door's requests are now refused
AUTH_CLIENTS = 8  # ... from at least this many client addresses, none of them more than AUTH_TOP of the refusals
AUTH_TOP = 0.5
AUTH_ROUTES = 2  # ... on at least this many routes (where the lines have one), each AUTH_ROUTE_SHARE of them
AUTH_ROUTE_SHARE = 0.05


def _weigh_up_auth_outages(ctx: _Ctx, chs: Sequence[_Ch | None]) -> None:
    """An authentication outage is what the users get, not their mistake: a 4xx change at a front door whose lines
    are 401 / 403 (9 in 10) weighs SYMPTOM_AUTH when, in the AUTH_SPAN_S from its onset, refusals are at least
    AUTH_SHARE of the door's requests and at least three times their share in the AUTH_BEFORE_S before (a signing
    key gone, a clock skew, the identity provider down), and they come from many clients on many routes. A
    brute-forcer's burst of 401 on the login from one address, or the background's expired sessions, are not."""
    if not ctx.timed:
        return
    table = ctx.table
    done: dict[tuple[int, int], bool] = {}
    for c in chs:
        if c is None or c.symptom != SYMPTOM_4XX or c.event < 0 or c.c.kind not in ("new", "burst", "rate up"):
            continue
        k = c.c.key
        if not _at_front(ctx, k):
            continue
        tt = ctx.times_of(k)
        own = ctx.events_of(k)[(tt >= c.ts) & (tt <= c.ts + AUTH_SPAN_S)]
        if len(own) < 10 or np.isin(table.status[own], (401, 403)).mean() < 0.9:
            continue
        src = int(table.source[c.event])
        at = (src, int((c.ts - ctx.t0) // ctx.width))
        if at not in done:
            done[at] = _auth_outage_at(ctx, src, c.ts)
        if done[at]:
            c.symptom = SYMPTOM_AUTH


def _auth_outage_at(ctx: _Ctx, src: int, ts: float, sample: int = 60) -> bool:
    table, t = ctx.table, ctx.t
    around = columns.in_source_between(table, t, src, ts - AUTH_BEFORE_S, ts + AUTH_SPAN_S)  # one pass, split
    after = t[around] >= ts
    now, before = around[after], around[~after]
    st_now, st_before = table.status[now], table.status[before]
    req_now, req_before = int((st_now > 0).sum()), int((st_before > 0).sum())
    refused = now[(st_now == 401) | (st_now == 403)]
    if req_now < 20 or len(refused) < AUTH_SHARE * req_now:
        return False
    if req_before and int(((st_before == 401) | (st_before == 403)).sum()) / req_before * 3.0 > len(refused) / req_now:
        return False
    routes = table.route[refused]
    routes = routes[routes > 0]
    if len(routes) >= 0.5 * len(refused):
        _, rc = np.unique(routes, return_counts=True)
        if int((rc >= AUTH_ROUTE_SHARE * len(routes)).sum()) < AUTH_ROUTES:
            return False
    pick = [int(e) for e in refused[np.linspace(0, len(refused) - 1, min(len(refused), sample)).astype(np.int64)]]
    _read_texts(ctx, pick)
    addrs = [m.group(1) for e in pick if (m := _CLIENT_ADDR.match(ctx.texts.get(e, "")))]
    if len(addrs) >= 0.5 * len(pick):
        return len(set(addrs)) >= AUTH_CLIENTS and max(addrs.count(a) for a in set(addrs)) <= AUTH_TOP * len(addrs)
    return len(routes) >= 0.5 * len(refused)  # no client address to tell: many routes at least


def _load_behind(ctx: _Ctx, limiter: _Ch, chs: Sequence[_Ch], lookback: float) -> tuple[_Ch, str] | None:
    """The request traffic whose rise tripped a limiter: served requests (2xx/3xx, or lines of a front door) whose
    rate rose at least threefold in the lookback before the limiter's first rejection, the largest added volume;
    with the field values that explain the rise (one client, one user agent)."""
    keys = ctx.keys
    best: tuple[float, _Ch] | None = None
    for c in chs:
        k = c.c.key
        if k < 0 or c.metric is not None or c.c.kind not in ("new", "burst", "rate up") or c.event < 0:
            continue
        if not (limiter.ts - lookback <= c.ts <= limiter.ts + ctx.width):
            continue
        served = int(keys.status_class[k]) in (2, 3) or (_at_front(ctx, k) and keys.bad[k] < 0.25)
        if not served or semantics.is_limiter(keys.text[k]):
            continue
        added = c.c.after - c.c.before
        if added < 1.0 or c.c.after < 3.0 * max(c.c.before, 1e-9):
            continue
        if best is None or added > best[0]:
            best = (added, c)
    if best is None:
        return None
    c = best[1]
    why = (f"the load that tripped the limiter: its requests rose from {_num(c.c.before)} to {_num(c.c.after)} per "
           f"{_dur(ctx.width)}, {_dur(limiter.ts - c.ts)} before the first rejection")
    ev = ctx.events_of(c.c.key)
    tt = ctx.times_of(c.c.key)
    spike = ev[(tt >= c.ts) & (tt <= limiter.ts + 10 * 60)]
    src = int(ctx.table.source[c.event])
    base = columns.in_source_between(ctx.table, ctx.t, src, c.ts - 30 * 60, c.ts)
    shifts = [f for f in explain.field_shifts(ctx.table, spike, base) if f.field not in ("status", "exception")]
    if shifts:
        why += " (" + ", ".join(f"{f.field}={f.value}: {f.spike_share:.0%} of them" for f in shifts[:2]) + ")"
        # Its first line: the first of the rise that carries the value explaining it (the flooding client's line,
        # not whichever request happened to come first).
        e = _first_with(ctx, spike, shifts[0])
        if e >= 0 and e != c.event:
            c = _Ch(c.c, float(ctx.t[e]), e, c.bad, c.symptom, c.background, c.coact, c.flagged)
    return c, why


def _first_with(ctx: _Ctx, events: np.ndarray, shift: Any) -> int:
    """The first of `events` (time order) whose field `shift.field` has the value `shift.value`; -1 if none."""
    table = ctx.table
    cols = {"host": (table.hosts, table.host), "service": (table.services, table.service),
            "route": (table.routes, table.route)}
    if shift.field in cols:
        labels, col = cols[shift.field]
        try:
            code = list(labels).index(shift.value)
        except ValueError:
            return -1
        hit = events[col[events] == code]
        return int(hit[0]) if len(hit) else -1
    try:
        code = list(table.attrs).index(f"{shift.field}={shift.value}")
    except ValueError:
        return -1
    with_value = set(table.attr_event[table.attr_code == code].tolist())
    return next((int(e) for e in events if int(e) in with_value), -1)


def _at_front(ctx: _Ctx, k: int) -> bool:
    """Whether key k's lines come from a front door (a host / service of a file that answers requests)."""
    keys = ctx.keys
    if ctx.front_places is None:
        return int(keys.source[k]) in ctx.front
    n_h, n_s = len(ctx.table.hosts) + 1, len(ctx.table.services) + 1
    return (int(keys.source[k]) * n_h + int(keys.host[k])) * n_s + int(keys.service[k]) in ctx.front_places


LATENCY_BACKEND_SYMPTOM = 0.4  # a latency shift in a source whose lines are not requests (see _latency_changes)


def _latency_changes(ctx: _Ctx, window: int, warmup: int, bins: np.ndarray, usable: np.ndarray) -> list[_Ch]:
    table = ctx.table
    lat = table.latency  # float32; the selected values are compared as float64
    has = columns.finite_where(usable, lat)
    out: list[_Ch] = []
    if has.sum() < 50:
        return out
    for s in columns.values_where(table.source, has):
        sel = columns.nonzero_where(has, table.source, int(s))  # int32 event indices of this source's timings
        if len(sel) < 50:
            continue
        v = columns.gather(lat, sel)  # float32: sorted the same as float64; compared below as float64
        # Its events by bin, each bin's by latency (ties by position): what np.lexsort((v, b)) gives, as a
        # counting sort with int32 positions (no int64 order as long as the source).
        order, cuts = columns.group_by_key(columns.gather(bins, sel), v, ctx.n_bins)
        ev = columns.gather(sel, order)
        v = columns.gather(v, order)
        del order, sel
        p90 = np.full(ctx.n_bins, np.nan)
        for i in range(ctx.n_bins):
            lo, hi = cuts[i], cuts[i + 1]
            if hi - lo >= 3:
                p90[i] = v[lo + int(0.9 * (hi - lo - 1))]
        for c in rates.robust_shift(p90, window, warmup, z_min=5.0):
            if c.after <= c.before * 1.5:
                continue
            c.kind = "latency up"
            c.series = f"latency of {table.sources[int(s)]}"
            # The first slow line at or after the onset.
            first = int(cuts[min(c.bin, ctx.n_bins)])
            at = first + np.nonzero(v[first:].astype(np.float64) > max(c.after, c.before * 2))[0]
            e = int(ev[at[np.argmin(ctx.t[ev[at]])]]) if len(at) else -1
            c.key = int(ctx.keys.of[e]) if e >= 0 else -1
            ts = float(ctx.t[e]) if e >= 0 else ctx.bin_ts(c.bin)
            # Slow answers to requests are what users saw; a back end's own report of a slow step (a broker's
            # "have not heard from server in 13489ms", a GC pause, a slow query) is a sign of trouble, weighed
            # below a front door's errors when choosing what the incident broke.
            out.append(_Ch(c, ts, e, 0.6, 0.8 if int(s) in ctx.front else LATENCY_BACKEND_SYMPTOM, False))
        spill.release()
    return out


def _metric_changes(ctx: _Ctx, series: Sequence[MetricSeries], window: int, warmup: int,
                    notes: list[str]) -> list[_Ch]:
    out: list[_Ch] = []
    if not ctx.timed:
        if series:
            notes.append("metric series were given but the logs have no timestamps: the metrics were not aligned")
        return out
    for s in series:
        v = resample(s, ctx.t0, ctx.width, ctx.n_bins)
        if np.isfinite(v).sum() < 10:
            if len(s.ts):
                notes.append(f"{s.source or 'metrics'}: series {s.name!r} has too few points inside the logs' time "
                             f"range to compare")
            continue
        for c in rates.robust_shift(v, window, warmup, z_min=5.0):
            c.kind = "metric"
            c.series = s.name
            ts = ctx.bin_ts(c.bin)
            line = None
            if s.lines is not None and len(s.ts):
                i = int(np.searchsorted(s.ts, ts))
                line = int(s.lines[min(i, len(s.lines) - 1)])
            ch = _Ch(c, ts, -1, 0.4, 0.0, False, metric=s.name)
            ch.text = (f"{s.name} {'rose' if c.after > c.before else 'fell'} from {c.before:.4g} to {c.after:.4g}"
                       + (f" ({s.source}:{line})" if line else ""))
            ch.c.series = f"{s.source}:{line}" if line else s.source
            out.append(ch)
    return out


def _signal_changes(ctx: _Ctx, signals: Sequence[Signal]) -> list[_Ch]:
    out: list[_Ch] = []
    for s in signals:
        if not ctx.timed:
            break
        b = int((s.start - ctx.t0) // ctx.width)
        if b < 0 or b >= ctx.n_bins:
            continue
        end = b if s.end is None else int(min(ctx.n_bins - 1, (s.end - ctx.t0) // ctx.width))
        c = rates.Change(-1, b, "metric", max(rates.LLR_MIN, 3.0 * s.score), 0.0, 0.0, end, series=s.where)
        ch = _Ch(c, s.start, -1, 0.4, 0.0, False, metric=s.name)
        ch.text = f"{s.name}: {s.summary or 'anomaly'} (judged by {s.origin})"
        out.append(ch)
    return out


def _is_bad(c: _Ch) -> bool:
    if c.metric is not None:
        return True
    if c.baseline_novel and c.c.kind in ("new", "burst"):
        return True
    if c.c.kind in ("stopped", "latency up"):
        return True
    if c.c.kind == "rate down":
        return c.symptom > 0
    # A message never logged before that arrives in volume is a change worth placing, whatever its words (unless
    # they say all is well: a new periodic "disk usage / 45% ok" check is not a step of a failure).
    return c.bad >= 0.25 or (c.c.kind == "new" and c.c.strength >= 2 * rates.LLR_MIN and not c.background
                             and not c.healthy)


def _user_facing(c: _Ch) -> bool:
    """Whether a change is what users see: a front door's errors, slow answers, fewer successful requests."""
    return c.symptom >= 0.6 or c.c.kind == "rate down"


QUIET_RISE = 10.0  # a failure already there before must come this many times as often to be news on its own
QUIET_BAD = 0.7  # an ERROR (or FATAL, a 5xx, error words where lines carry no level), not a WARN alone
QUIET_MIN_LINES = 3  # ... and a new one this many lines (one is enough for a death: a crash, an OOM kill, a panic)


def _real_failure(ctx: _Ctx, c: _Ch) -> bool:
    """Whether a change with no user-facing symptom is evidence of a failure in its own right: its level (ERROR or
    worse) or, where lines carry no level, its words say something failed (not routine chatter, not telemetry),
    and it is news: never logged before (3 lines or more, or one death or FATAL) or at least QUIET_RISE
    times its earlier rate, and not in a burst like one it had before (a blip that recurs is the system's routine,
    however quiet it was in between). A warning that was there all along and now comes three times as often, a lone
    WARN with a stack trace, a neutral message that began, a blip that came before: worth a look in the anomaly
    list, not an incident (on quiet public logs: Apache's mod_jk 'error state 6' going from 2 to 7 per 10 min, an
    Android phone's single ClassCastException, Apache's 4 "Can't find child N in scoreboard" in one second, as it
    logged 2 of them 3 hours earlier)."""
    k = c.c.key
    if c.metric is not None or k < 0:
        return True
    keys = ctx.keys
    if c.bad < QUIET_BAD or c.background or c.healthy or semantics.is_telemetry(keys.text[k]):
        return False
    if c.c.kind in ("burst", "rate up") and c.c.after < QUIET_RISE * max(c.c.before, 1e-9):
        return False
    if c.c.kind not in ("new", "burst", "rate up"):
        return False
    if c.c.kind != "new" and _recurring(ctx, c, c.c.bin, like_it=True):
        return False  # it came in a burst like this one before, and nothing user-facing changed: its routine
    r = ctx.row.get(k)
    lines = float(ctx.m[r][max(0, c.c.bin):c.c.end_bin + 1].sum()) if r is not None else 0.0
    death = c.bad >= 1.0 or bool(semantics.DEATH.search(keys.text[k]))
    # (against a good run given as baseline, one line it never had is news enough: a build's failing step)
    return death or c.baseline_novel or lines >= QUIET_MIN_LINES


def _new_in_this_run(ctx: _Ctx, c: _Ch) -> bool:
    """Against a good run given as baseline (the diff detector), a failure that is news only because this log had
    not logged it before, and that the good run logged as well, is not what went wrong in this one (dracut's "module
    'busybox' will not be installed" on every boot of both): with no user-facing symptom it anchors no incident. A
    known failure that became more frequent still may (the diff compares lines, not rates); so may any failure
    without a baseline."""
    return ctx.detector != "diff" or ctx.key_flag is None or c.baseline_novel or c.metric is not None \
        or c.c.kind != "new"


def _starts_apart(ctx: _Ctx, anchor: _Ch, inc: Incident, lookback: float) -> bool:
    """Whether a symptom that begins while an earlier incident lasts is an incident of its own: it begins well
    after that one's onset (more than the lookback), on a key none of its steps has, and it was not already
    elevated at that onset (a steady stream of export timeouts for an hour does not hide a burst of 401s that
    starts 40 min into it)."""
    if inc.onset_ts is None or anchor.ts - inc.onset_ts <= lookback or anchor.c.key < 0 \
            or anchor.c.kind not in ("new", "burst", "rate up"):
        return False
    if any(s.key == ctx.keys.name(anchor.c.key) for s in inc.chain):
        return False
    e = _elevated(ctx, anchor)
    if e is None:
        return False
    b0 = max(0, int((inc.onset_ts - ctx.t0) // ctx.width))
    b1 = max(b0 + 1, int((anchor.ts - ctx.t0) // ctx.width) - 1)
    return not bool(e[b0:b1].any())


def _overlap(a: Incident, b: Incident, lookback: float) -> bool:
    return None not in (a.onset_ts, a.end_ts, b.onset_ts, b.end_ts) \
        and a.onset_ts - lookback <= b.end_ts and b.onset_ts - lookback <= a.end_ts  # type: ignore[operator]


def _renumber(incidents: list[Incident]) -> None:
    """I1, I2, ... in list order, and the reasons that name their own incident follow."""
    for n, inc in enumerate(incidents, 1):
        old, new = inc.id, f"I{n}"
        if old == new:
            continue
        inc.id = new
        for c in inc.candidates:
            c.reasons = [r.replace(f"{old}'s", f"{new}'s").replace(f"{old}:", f"{new}:") for r in c.reasons]


def _anchor_weight(c: _Ch) -> float:
    if c.metric is not None:
        return 0.0
    # A latency shift's strength is a robust z, unbounded when the baseline barely varies: capped near the
    # strongest rate changes so that it does not drown them.
    strength = min(c.c.strength, 200.0) if c.c.kind == "latency up" else c.c.strength
    w = c.symptom * np.log1p(strength)
    return w * (0.3 if c.background else 1.0)


def _elevated(ctx: _Ctx, c: _Ch) -> np.ndarray | None:
    r = ctx.row.get(c.c.key)
    if r is None or c.c.key < 0:
        return None
    return ctx.m[r] > max(c.c.before * 2.0, c.c.before + 0.5)


def _coactivity(ctx: _Ctx, c: _Ch, anchor: _Ch, lo: int, hi: int) -> float:
    """Share of the change's elevated bins in [lo, hi] that fall while the anchor is elevated (±1 bin)."""
    a = _elevated(ctx, anchor)
    if anchor.c.kind == "latency up" or anchor.c.key < 0:
        # A series change (latency): elevated over its own span, not over the count of its first slow line's key.
        a = np.zeros(ctx.n_bins, dtype=bool)
        a[max(0, anchor.c.bin):min(ctx.n_bins, anchor.c.end_bin + 1)] = True
    e = _elevated(ctx, c)
    if a is None or e is None:
        return 0.5
    a = a[lo:hi + 1]
    e = e[lo:hi + 1]
    if not e.any():
        return 0.0
    a2 = a | np.concatenate(([False], a[:-1])) | np.concatenate((a[1:], [False]))
    return float((e & a2).sum() / e.sum())


FLAP_SHARE = 0.25  # an earlier burst is like the change when it held at least this share of the change's lines
FAILURE_PACE = 0.9  # coactivity a failure (not a 5xx) with stray earlier lines needs to join the chain all the same


def _recurring(ctx: _Ctx, c: _Ch, before_bin: int, like_it: bool = False) -> int:
    """How many separate earlier bursts the key had before `before_bin` (a flapping job).

    With `like_it`, only bursts like the change count: those that held at least FLAP_SHARE of the lines the change
    holds (a few stray 5xx answers, or one short blip, before an hour-long storm of them are not the same)."""
    e = _elevated(ctx, c)
    if e is None or before_bin <= 1:
        return 0
    e = e[:max(0, before_bin - 1)]
    starts = np.nonzero(e & ~np.concatenate(([False], e[:-1])))[0]
    if not like_it:
        return len(starts)
    counts = ctx.m[ctx.row[c.c.key]]
    size = float(counts[max(0, c.c.bin):min(ctx.n_bins, c.c.end_bin + 1)].sum())
    ends = np.nonzero(e & ~np.concatenate((e[1:], [False])))[0]
    return sum(1 for s, t in zip(starts, ends, strict=True) if counts[s:t + 1].sum() >= FLAP_SHARE * size)


def _dense_start(ctx: _Ctx, c: _Ch) -> _Ch:
    """The change from the first bin (at or after its onset) that holds half its level after the onset (at least
    2 lines): a key with stray lines before its storm begins with the storm."""
    r = ctx.row.get(c.c.key)
    if r is None or not ctx.timed:
        return c
    counts = ctx.m[r]
    need = max(2.0, 0.5 * c.c.after)
    lo = max(0, min(c.c.bin, int((c.ts - ctx.t0) // ctx.width)))
    dense = np.nonzero(counts[lo:c.c.end_bin + 1] >= need)[0]
    if not len(dense):
        return c
    e = ctx.first_after(c.c.key, ctx.bin_ts(lo + int(dense[0])))
    if e < 0 or float(ctx.t[e]) <= c.ts:
        return c
    return replace(c, ts=float(ctx.t[e]), event=e)


STRAY_LEAD_S = 60.0  # a lone failure line this long before a storm with no user-facing symptom ...
STRAY_STORM = 20  # ... of at least this many lines of the storm's own key, is no step of it


def _stray_ahead(ctx: _Ctx, c: _Ch, anchor: _Ch) -> bool:
    """Whether `c` is one failure line (not a death, not FATAL) logged STRAY_LEAD_S or more before a storm of
    failures that no user saw (at least STRAY_STORM lines of the anchor's key). Quiet logs hold such lines all day:
    Hadoop's application master logs one "Container complete event for unknown container id" (ERROR) 2 min before
    it loses its resource manager and logs "ERROR IN CONTACTING RM." 147 times; the one line is not the onset."""
    if c.c.key < 0 or c.metric is not None or anchor.c.key < 0 or c.c.kind != "new" or not ctx.timed \
            or _user_facing(anchor) or c.baseline_novel or c.run or c.ts > anchor.ts - STRAY_LEAD_S:
        return False
    if c.bad >= 1.0 or semantics.DEATH.search(ctx.keys.text[c.c.key]):
        return False
    end = ctx.bin_ts(min(ctx.n_bins, max(anchor.c.end_bin, anchor.c.bin) + 1))
    mine = ctx.count_between(c.c.key, c.ts, end, through=True)
    storm = ctx.count_between(anchor.c.key, anchor.ts, end, through=True)
    return mine <= 1 and storm >= STRAY_STORM


STRAY_GAP_S = 600.0  # stray lines this long before a symptom's storm ...
STRAY_SHARE = 0.1  # ... and at most this share of the storm's lines are not its onset


def _storm_start(ctx: _Ctx, c: _Ch) -> _Ch:
    """A symptom whose first lines are a few strays long before its storm begins with the storm: a handful of 502s
    from a flapping static backend 20 min before /search answers 504 by the hundred (one key: the proxy's 5xx) do
    not make the incident's onset, nor pull its chain back to them."""
    if c.c.key < 0 or c.metric is not None or c.c.kind not in ("new", "burst", "rate up") or not ctx.timed:
        return c
    d = _dense_start(ctx, c)
    if d.ts - c.ts < STRAY_GAP_S:
        return c
    end = ctx.bin_ts(min(ctx.n_bins, c.c.end_bin + 1))
    early = ctx.count_between(c.c.key, c.ts, d.ts)
    storm = ctx.count_between(c.c.key, d.ts, end)
    return d if early <= STRAY_SHARE * storm else c


def _rate_around(ctx: _Ctx, k: int, ts: float, span: float) -> tuple[float, float]:
    return float(ctx.count_between(k, ts - span, ts)), float(ctx.count_between(k, ts, ts + span))


def _where(ctx: _Ctx, e: int) -> tuple[str, int]:
    return ctx.table.sources[int(ctx.table.source[e])], int(ctx.table.line[e])


def _name(names: list[str], code: int) -> str | None:
    return names[code] or None if 0 <= code < len(names) else None


def _incident(ctx: _Ctx, bad: list[_Ch], anchor_i: int, members: list[int], chs: list[_Ch],
              series: Sequence[MetricSeries], options: TriageOptions, number: int,
              lookback: float, run: _Run | None = None) -> tuple[Incident | None, set[int]]:
    """The incident anchored at bad[anchor_i] among `members`; a failed run's (`run`) members are its last error
    block, kept as they are (the block, not the rates, says what belongs together)."""
    anchor = bad[anchor_i]
    keys = ctx.keys
    lo_bin = max(0, int((anchor.ts - lookback - ctx.t0) // ctx.width))
    hi_bin = min(ctx.n_bins - 1, max(anchor.c.end_bin, anchor.c.bin + 2))
    taken: set[int] = set()
    kept: list[int] = []
    per_key: dict[int, int] = {}
    for i in members if run is None else ():
        c = bad[i]
        if c.c.kind == "rate down":
            # Fewer successful requests while the symptom lasts: part of the impact, not a step of its own.
            if c.ts <= ctx.bin_ts(hi_bin):
                taken.add(i)
            continue
        if c.c.key >= 0 and c.metric is None:
            after_bin = min(ctx.n_bins - 1, hi_bin + int(lookback // ctx.width))
            c.coact = 1.0 if i == anchor_i else _coactivity(ctx, c, anchor, lo_bin, after_bin)
            recurring = _recurring(ctx, c, c.c.bin)
            if i != anchor_i and recurring >= 2 and c.c.kind != "new":
                # A 5xx storm that keeps pace with the symptom is part of it, though a few stray 5xx came before
                # (no earlier burst like it); it begins where its lines become many, not at a stray one. So is a
                # failure that keeps close pace (a feature rolled out to 5 % of requests, then to 50 %).
                pace = 0.6 if c.symptom >= 1.0 else FAILURE_PACE if c.bad >= 0.55 else 2.0
                if not (c.coact >= pace and _recurring(ctx, c, c.c.bin, like_it=True) < 2):
                    continue  # it flapped before the incident too: judged in the unrelated list
                c = bad[i] = _dense_start(ctx, c)
            if i != anchor_i and c.background and not _same_place(ctx, c, anchor):
                continue  # routine host chatter (logins, desktop daemons) joins only on the symptom's own host
            if i != anchor_i and c.coact < 0.2 and (c.c.kind not in ("stopped", "new") or _client_error(ctx, c)):
                continue  # (4xx answers are the clients' errors: new ones join only when they keep pace)
            if i != anchor_i and c.bad < 0.25 and c.coact < 0.4 \
                    and not (c.baseline_novel and _same_place(ctx, c, anchor)):
                continue  # a neutral new message must keep pace with the symptom (unless the good run never had it)
            if i != anchor_i and c.c.strength < 2 * rates.LLR_MIN and c.ts < anchor.ts - 5 * 60 \
                    and not _same_place(ctx, c, anchor):
                continue  # a few early lines elsewhere do not make an onset
            if i != anchor_i and _stray_ahead(ctx, c, anchor):
                continue  # one error line a minute or more before a storm of failures that do not repeat it
        else:
            c.coact = 0.5
        # One change per key: the earliest in the window.
        if c.c.key >= 0 and c.metric is None:
            j = per_key.get(c.c.key)
            if j is not None:
                taken.add(i)
                if bad[j].ts <= c.ts:
                    continue
                kept.remove(j)
            per_key[c.c.key] = i
        kept.append(i)
        taken.add(i)
    if run is not None:
        kept, taken = list(members), set(members)
    if anchor_i not in kept:
        kept.append(anchor_i)
    kept = _together(ctx, bad, kept, anchor_i) if run is None else kept
    seen_events: set[int] = set()
    unique = []
    for i in sorted(kept, key=lambda i: (-bad[i].c.strength, bad[i].ts)):
        e = bad[i].event
        if e >= 0 and bad[i].metric is None and e in seen_events:
            continue  # two changes of one key that start at the same line are one step
        seen_events.add(e)
        unique.append(i)
    kept = unique
    # (in time order; lines stamped alike in file order)
    steps_ch = sorted((bad[i] for i in kept if bad[i].metric is None and bad[i].event >= 0),
                      key=lambda c: (c.ts, c.event))
    metric_ch = [bad[i] for i in kept if bad[i].metric is not None]
    if not steps_ch:
        return None, taken
    # A cause has a path to the symptom. When some failures have one, those with none (away from the symptom and
    # named by no step) began nearby by chance: another team's job, a disk on an unrelated host.
    _read_texts(ctx, [c.event for c in steps_ch])
    path = _on_path(ctx, steps_ch)
    causal_all = [c for c in steps_ch if not _is_symptom(ctx, c) and c.symptom < 0.6 and not c.background]
    # The path explains the failure when one of its failures (a front door's own error included) says what failed.
    explained = any(id(c) in path and c.c.key >= 0 and c.bad >= 0.55
                    and (c in causal_all or bool(keys.says_error[c.c.key])) for c in steps_ch)
    if explained and run is None:
        off = {id(c) for c in causal_all if id(c) not in path}
        for c in steps_ch:
            if id(c) in off:
                k = c.c.key
                where = _name(ctx.table.hosts, int(keys.host[k])) or _name(ctx.table.services, int(keys.service[k])) \
                    or Path(ctx.table.sources[int(keys.source[k])]).name
                c.off_path = (f"no path to I{number}'s symptom: away from it, and no line of the incident names "
                              f"{where} or what runs there")
        steps_ch = [c for c in steps_ch if id(c) not in off]
        taken -= {i for i in kept if id(bad[i]) in off}
    # A limiter turning requests away (nginx's "limiting requests", 429s) is an effect: the cause is the load that
    # tripped it, the request traffic that rose just before.
    limiter = next((c for c in steps_ch if c.c.key >= 0 and c.bad >= 0.25
                    and semantics.is_limiter(keys.text[c.c.key])), None)
    load: tuple[_Ch, str] | None = _load_behind(ctx, limiter, chs, lookback) if limiter is not None else None
    if load is not None and all(c is not load[0] for c in steps_ch):
        steps_ch = sorted(steps_ch + [load[0]], key=lambda c: (c.ts, c.event))
    # A scheduled job's own output right after the job started (its command names the program that logs it) is the
    # job at work: it opens no chain unless it is all there is ("CRON: CMD (db-backup.sh)", then db-backup's
    # pg_dump warnings ten minutes before an unrelated service fails).
    jobs = [ce for ce in _changes_before(ctx, steps_ch[0].ts, 15 * 60, upto=max(steps_ch[0].ts, anchor.ts))
            if ce.kind.startswith("scheduled-job") and ce.ts is not None] if run is None else []
    if jobs:
        busy = {id(c) for c in steps_ch if c.c.key >= 0 and not _is_symptom(ctx, c) and c.symptom < 0.6
                and any(0 <= c.ts - ce.ts <= 15 * 60 and _job_output(
                    ce.text, _name(ctx.table.services, int(keys.service[c.c.key]))) for ce in jobs)}
        if busy and len(busy) < len(steps_ch):
            for c in steps_ch:
                if id(c) in busy:
                    c.off_path = (f"output of a scheduled job that started just before it, not a step of "
                                  f"I{number}: the job at work")
            steps_ch = [c for c in steps_ch if id(c) not in busy]
            taken -= {i for i in kept if id(bad[i]) in busy}
    onset = steps_ch[0].ts
    end_ts = ctx.bin_ts(min(ctx.n_bins - 1, max([hi_bin] + [c.c.end_bin for c in steps_ch if c.symptom >= 0.6]))
                        + 1)
    symptom_ch = max(steps_ch, key=_anchor_weight)
    facing = _user_facing(symptom_ch)

    # Candidates among the log changes.
    cands: list[tuple[float, _Ch, list[str]]] = []
    span = max(lookback, 1.0)
    symptom_host = int(keys.host[symptom_ch.c.key]) if symptom_ch.c.key >= 0 else 0
    symptom_service = int(keys.service[symptom_ch.c.key]) if symptom_ch.c.key >= 0 else 0
    changes_before = _changes_before(ctx, onset, options.change_window_s, upto=max(onset, anchor.ts))
    if run is not None:
        # A failed run's own steps ("PLAYBOOK: deploy.yml", "Upgraded: ...") are what it was doing, not a change
        # made to it from outside.
        changes_before = [ce for ce in changes_before if ce.file != ctx.table.sources[run.source]]
    _read_texts(ctx, [c.event for c in steps_ch])
    namer: dict[int, list[_Ch]] = {}
    named = _mentions(ctx, steps_ch, namer)
    # A client's error that names a place whose own failure began first reports that failure: it is its effect
    # ("Redis command failed on 10.0.6.69" after the cache host's "NIC Link is Down"). client -> that failure.
    reports: dict[int, _Ch] = {}
    for d in steps_ch:
        if d.c.key >= 0 and not d.background and not _is_symptom(ctx, d) and d.bad >= 0.25:
            for o in namer.get(id(d), ()):
                # (two files' clocks and buffering differ: a few seconds apart there is at the same time, for
                # failures that are lines; a silence is placed only to within the gap between its lines)
                tol = 0.0 if o.event < 0 or d.event < 0 or d.c.kind not in ("new", "burst", "rate up") \
                    or ctx.table.source[o.event] == ctx.table.source[d.event] else REPORT_SLACK_S
                if o is not d and d.ts <= o.ts + tol:
                    reports.setdefault(id(o), d)
    # A fault of the network itself (a link, port or optic) before a client's dropped connections elsewhere: the
    # client reports it ("query failed: Connection terminated unexpectedly" on api-2, a second after the core
    # switch's "Rx power low alarm" on the uplink), though its line names no switch.
    dropped_after: dict[int, _Ch] = {}  # client step -> the network fault before it
    drops_of: dict[int, str] = {}  # network fault -> where the connections it dropped were
    faults = [n for n in steps_ch if n.c.key >= 0 and n.event >= 0 and n.bad >= 0.55 and not n.background
              and semantics.NETWORK_FAULT.search(ctx.texts.get(n.event, "") or keys.text[n.c.key])]
    for d in steps_ch if faults else ():
        text = ctx.texts.get(d.event, "") if d.event >= 0 else ""
        if d.c.key < 0 or d in faults or d.bad < 0.25 or _is_symptom(ctx, d) \
                or not semantics.CONNECTION_DROPPED.search(text or keys.text[d.c.key]):
            continue
        n = next((n for n in faults if n.ts <= d.ts + REPORT_SLACK_S and not _same_place(ctx, n, d)), None)
        if n is not None:
            dropped_after[id(d)] = n
            drops_of.setdefault(id(n), _name(ctx.table.hosts, int(keys.host[d.c.key]))
                                or Path(_where(ctx, d.event)[0]).name)
    causal = [c for c in steps_ch if not _is_symptom(ctx, c) and not c.background]
    first_cause = causal[0] if causal else None
    # The next causal step elsewhere (a LOG line and its DETAIL line are one event, not two steps).
    nxt = [c for c in causal[1:] if first_cause is not None and not _same_place(ctx, c, first_cause)]
    next_ts = nxt[0].ts if nxt else None
    # A failure that only reports that a step failed ("InvocationError", "exited with code 1") and the lines in the
    # same file just before it that say why (new against the good run, or failures themselves).
    wrappers = [c for c in steps_ch if c.c.key >= 0 and c.event >= 0 and semantics.is_wrapper(ctx.texts.get(c.event, "") or ctx.keys.text[c.c.key])]
    # The details are the block of such lines right before the wrapper: each within a few lines of the next (a
    # new line further up, before lines the good run also had, is another part of the job).
    detail_of: dict[int, _Ch] = {}
    explained_wrappers: set[int] = set()
    line_of = ctx.table.line
    for w in wrappers:
        src = int(ctx.table.source[w.event])
        near = sorted((c for c in steps_ch if c not in wrappers and c.event >= 0 and c.event < w.event
                       and int(ctx.table.source[c.event]) == src and 0 <= w.ts - c.ts <= 60
                       and (c.baseline_novel or c.bad >= 0.55)), key=lambda c: -int(line_of[c.event]))
        last = int(line_of[w.event])
        for c in near:
            if last - int(line_of[c.event]) > 3:
                break
            detail_of.setdefault(id(c), w)
            explained_wrappers.add(id(w))
            last = int(line_of[c.event])
    first_detail = min((c for c in steps_ch if id(c) in detail_of), key=lambda c: (c.ts, c.event), default=None)
    for c in steps_ch:
        k = c.c.key
        reasons: list[str] = []
        early = 1.0 - min(1.0, max(0.0, (c.ts - onset) / span))
        score = 1.2 * early + 0.9 * c.bad
        # First on the path (symptoms aside), clearly ahead of the rest. Lines of one file share a clock, so a few
        # seconds' lead counts; seconds apart in two files is "at the same time" (their clocks and buffering
        # differ), so there the lead must be a minute or a bin.
        same_clock = nxt and first_cause is not None and int(ctx.table.source[nxt[0].event]) == \
            int(ctx.table.source[first_cause.event])
        ahead = (min(5.0, ctx.width) if same_clock else max(60.0, ctx.width)) if ctx.timed else ctx.width
        if c is first_cause and (next_ts is None or next_ts - c.ts >= ahead):
            score += 0.4
        if c.ts == onset:
            reasons.append("earliest change of the incident")
        else:
            reasons.append(f"began {_dur(c.ts - onset)} after the first change")
        lvl = LEVELS[int(keys.level[k])] if k >= 0 else ""
        if c.c.kind == "latency up":
            # A slower step reads as what it is, not as a failure its words do not state (nova's INFO "Took 9.39
            # seconds to build instance.").
            reasons.append(f"slower: p90 {_num(c.c.before)} ms before, {_num(c.c.after)} ms from here")
        if c.bad >= 0.55 and (c.c.kind != "latency up" or (k >= 0 and float(keys.bad[k]) >= 0.55)):
            what = "5xx" if keys.status_class[k] == 5 and lvl not in ("ERROR", "FATAL") \
                else lvl or "error words"
            exc = _name(ctx.table.excs, int(keys.exc[k])) if k >= 0 else None
            reasons.append(f"reads as a failure ({what}{', ' + exc if exc else ''})")
        if k >= 0 and keys.slow_ms is not None and keys.slow_ms[k] >= keys_mod.SLOW_MS:
            reasons.append(f"slow: its operations took {keys.slow_ms[k] / 1000:.0f} s on average")
        if c.c.kind == "new":
            score += 0.35
            reasons.append("never logged before the incident")
        elif c.c.kind == "stopped":
            score += 0.3
            reasons.append("a regular message that went silent")
        elif c.c.kind in ("burst", "rate up"):
            reasons.append(f"rate rose from {_num(c.c.before)} to {_num(c.c.after)} per {_dur(ctx.width)}")
            if c.c.before < 1.0 and c.c.after >= max(RARE_STORM, RARE_RISE * c.c.before):
                # A stray line now and then before, a storm now: as new as a message never logged (a resolver
                # that dropped a query an hour, then every external lookup).
                score += 0.35
                reasons.append("rare before: as good as new")
        score += 0.3 * c.coact
        if k >= 0 and (int(keys.host[k]) != symptom_host or int(keys.service[k]) != symptom_service) \
                and c is not symptom_ch:
            score += 0.15
            where = _name(ctx.table.hosts, int(keys.host[k])) or _name(ctx.table.services, int(keys.service[k]))
            if where:
                reasons.append(f"upstream of the symptom, on {where}")
        by = named.get(id(c))
        if by:
            score += 0.35
            reasons.append(f"named by {by}")
        fault = dropped_after.get(id(c))
        if fault is not None:
            score -= 0.3
            where = _name(ctx.table.hosts, int(keys.host[fault.c.key])) or Path(_where(ctx, fault.event)[0]).name
            reasons.append(f"a dropped connection after the network fault on {where} (weighed down)")
        elif id(c) in drops_of and not by:
            score += 0.35
            reasons.append(f"a network fault before the dropped connections of {drops_of[id(c)]}")
        d = reports.get(id(c))
        if d is not None:
            score -= 0.3
            place = _name(ctx.table.hosts, int(keys.host[d.c.key])) or \
                _name(ctx.table.services, int(keys.service[d.c.key])) or "it"
            lead = f"{_dur(c.ts - d.ts)} earlier" if c.ts > d.ts else "at the same time"
            reasons.append(f"reports the failure of {place}, which began {lead} (weighed down)")
        if c.flagged > 0:
            score += 0.15
            reasons.append(f"flagged by the {ctx.detector} detector ({c.flagged:.1f}x its threshold)")
        if c.background:
            score -= 0.6
            reasons.append("routine host chatter (weighed down)")
        elif k >= 0 and semantics.is_telemetry(keys.text[k]):
            score -= 0.6
            reasons.append("a failure to ship telemetry (metrics, traces, logs), which does not fail requests "
                           "(weighed down)")
        if _is_symptom(ctx, c):
            score -= 0.5
            reasons.append("user-facing symptom rather than a cause")
        elif not facing and c.bad < 0.25 and c.metric is None and not c.baseline_novel:
            # With no user-facing symptom the incident is its failures: a neutral line that began nearby
            # (Proxifier's "close, 1268 bytes sent" before its proxy errors) explains none of them (a line a
            # good run given as baseline never had is evidence whatever its words: a compiler's finding).
            score -= 0.6
            reasons.append("does not read as a failure, and no user-facing symptom anchors the incident "
                           "(weighed down)")
        w = detail_of.get(id(c))
        if w is not None:
            score += 0.6
            said = ctx.texts.get(w.event, "") or keys.text[w.c.key]
            reasons.append(f"says why the step failed: lines right before “{said[:60]}{'…' if len(said) > 60 else ''}”")
            if c is first_detail:
                score += 0.3
                reasons.append("the first of them")
        elif id(c) in explained_wrappers:
            score -= 0.4
            reasons.append("reports that a step failed; the lines before it say why (weighed down)")
        elif c.run == "verdict" or (c.run == "block" and semantics.run_verdict(ctx.texts.get(c.event, "")) == "failed"):
            score -= 0.4
            reasons.append("says that the run or a step failed; the lines before it say why (weighed down)")
        if c.run == "cause" and run is not None:
            score += 0.8
            said = _clip_middle(ctx.texts.get(run.verdict, "") or "", 60)
            reasons.append(f"the first failure of the run's last error block, which ends in \u201c{said}\u201d")
        if load is not None and c is load[0]:
            score += 0.9
            reasons.append(load[1])
        elif load is not None and c is limiter:
            score -= 0.3
            reasons.append("a limiter turning requests away: an effect of the load that tripped it")
        near = [ce for ce in changes_before if 0 <= ce.before_s <= 15 * 60 and k >= 0 and not ce.background
                and "routine" not in ce.kind
                and ((ce.host and ce.host == _name(ctx.table.hosts, int(keys.host[k])))
                     or (ce.service and ce.service == _name(ctx.table.services, int(keys.service[k])))
                     or ce.file == ctx.table.sources[int(keys.source[k])])]
        # (a scheduled job's own output, right after the job started, is the job at work, not a failure that
        # followed a change: "CRON: CMD (db-backup.sh)" then "db-backup[812]: pg_dump: warning ...")
        own = _name(ctx.table.services, int(keys.service[k])) if k >= 0 else None
        near = [ce for ce in near if not (ce.kind.startswith("scheduled-job") and _job_output(ce.text, own))]
        if near:
            score += 0.3
            reasons.append(f"right after a {near[0].kind} on the same {'host' if near[0].host else 'service'} "
                           f"({_dur(near[0].before_s)} before the onset)")
        cands.append((score, c, reasons))
    if load is not None:
        # The load ranks above the limiter it tripped (the limiter's rejections are its effect).
        lim = max((sc for sc, c, _ in cands if c is limiter), default=None)
        if lim is not None:
            cands = [(max(sc, lim + 0.1) if c is load[0] else sc, c, r) for sc, c, r in cands]
    cands = _exception_first(ctx, cands, explained_wrappers)
    # Equal scores: the earlier line first (the kernel's "Out of memory: Killed process" before systemd's
    # "Failed with result 'oom-kill'" two lines later, in the same second).
    cands.sort(key=lambda x: (-round(x[0], 6), x[1].ts, x[1].event))

    candidates: list[Candidate] = []
    top_log = cands[0] if cands else None
    first_files = {ctx.table.sources[int(ctx.table.source[c.event])] for c in steps_ch
                   if c.event >= 0 and c.ts <= onset + 1.0}
    # A change event just before, on the top candidate's host/service, ranks with (above) it.
    for ce in changes_before[:6]:
        # It said, in advance, when something would happen, and the failures began then ("current certificate
        # expires 2025-07-25T16:30:00Z", logged hours before the handshakes fail at 16:30:08): a prediction that
        # came true links it to the incident however long before it was logged.
        due = [a for a in semantics.times_in_text(ce.text or "")
               if ce.ts is not None and a - ce.ts >= 60 and -60 <= onset - a <= 600] if not ce.background else []
        if ce.ts is None or ce.ts > max(onset, anchor.ts) + (300.0 if ce.kind == "clock" else min(ctx.width, 300.0)) \
                or (ce.before_s > options.change_window_s and not due):
            continue
        score = 0.5 + 0.4 * max(0.0, 1.0 - ce.before_s / options.change_window_s)
        reasons = [f"{ce.kind} {_dur(ce.before_s)} {'before' if ce.before_s >= 0 else 'after'} the onset"]
        linked = None
        ce_roles = _change_roles(ce)
        # The chain step on the same host / service / file that this change precedes (within 15 min); a link by
        # the kind of server only when nothing links it more directly.
        passes = [(x, False) for x in cands] + ([(x, True) for x in cands] if ce_roles else [])
        for (cscore, c, _), by_kind in passes:
            k = c.c.key
            reach = 5 * 60 if ce.kind.startswith("scheduled-job") else 15 * 60  # a job just before, not hours
            # A clock that jumped forward stamps its own report with the new time: the failures it caused may
            # carry earlier stamps (other hosts' clocks) by as much as the jump.
            early = -300.0 if ce.kind == "clock" else 0.0
            if k < 0 or ce.ts is None or not (early <= c.ts - ce.ts <= reach):
                continue
            # A failed check of time (a token "used before issued", a certificate "not yet valid") follows a clock
            # that moved, on whichever host issued or checks it.
            clock_link = ce.kind == "clock" and bool(semantics.TIME_CHECK.search(ctx.texts.get(c.event, "")
                                                                                 or keys.text[k]))
            same_host = bool(ce.host) and ce.host == _name(ctx.table.hosts, int(keys.host[k]))
            same_svc = bool(ce.service) and ce.service == _name(ctx.table.services, int(keys.service[k])) \
                and ce.service.lower() not in _GENERIC_SERVICES
            same_file = ce.file == ctx.table.sources[int(keys.source[k])] and not ce.host
            svc = _name(ctx.table.services, int(keys.service[k]))
            names_it = (bool(svc) and len(svc) >= 4 and svc.lower() in (ce.text or "").lower()) \
                or _shares_name(ce.text or "", ctx.texts.get(c.event, ""), ctx.table.sources[int(keys.source[k])])
            names_it = names_it or clock_link
            # A change to a kind of server (a schema change is one to a database; a change on a host or daemon
            # that runs one) before a failure whose words name that kind of server: "ALTER TABLE shop.orders" by a
            # cron'd maintenance script, then the app's "Lock wait timeout exceeded" (its client names no host).
            role = sorted(ce_roles & semantics.roles_named(ctx.texts.get(c.event, "") or keys.text[k])) \
                if by_kind and c.bad >= 0.55 else []
            if (same_host or same_svc or same_file or names_it or role) and "routine" not in ce.kind \
                    and not ce.background:
                best = top_log[0] if top_log is not None else cscore
                kind_bonus = 0.1 if not ce.kind.startswith(("scheduled-job", "restart", "scaling")) else 0.0
                if same_host or same_svc or names_it or role or ce.kind in ("deploy", "config", "config-management",
                                                                             "certificate", "schema"):
                    score = max(score, best + 0.05 + kind_bonus + 0.1 * (1.0 - abs(c.ts - ce.ts) / (15 * 60)))
                else:
                    # Only the file links them (one log holds everything): a job or restart in it ranks next to
                    # the failure, not above it.
                    score = max(score, best - 0.05)
                what = ("on the same host" if same_host else "on the same service" if same_svc
                        else "whose check of time it fails" if clock_link
                        else "naming the same service" if names_it
                        else f"of a {role[0]} client, a change to the {role[0]}" if role else "in the same file")
                f, ln = _where(ctx, c.event)
                gap = c.ts - ce.ts
                reasons.append(f"{_dur(abs(gap))} {'before' if gap >= 0 else 'after (by its own clock)'} the "
                               f"failure {what} ({f}:{ln})")
                linked = f"{f}:{ln}"
                break
        if due and top_log is not None:
            score = max(score, top_log[0] + 0.2)
            reasons.append(f"it named {iso(due[0])} as a time to come, and the failures began "
                           f"{_dur(abs(onset - due[0]))} {'after' if onset >= due[0] else 'before'} it")
        if "routine" in ce.kind:
            score -= 0.2
        if ce.background:
            score -= 0.4
            reasons.append("routine host chatter (weighed down)")
        # It came after a failure in its own place (host, else service, else file): it may feed what follows there,
        # it cannot have begun it. (A failure elsewhere that came first may be a stray one: the rank stays.)
        slack = 5.0 if ce.file in first_files else 60.0  # one file keeps one clock; two may disagree a little
        if ce.ts is not None and top_log is not None and any(
                c.event >= 0 and c.ts < ce.ts - slack and (
                    _name(ctx.table.hosts, int(ctx.table.host[c.event])) == ce.host if ce.host
                    else _name(ctx.table.services, int(ctx.table.service[c.event])) == ce.service if ce.service
                    else ctx.table.sources[int(ctx.table.source[c.event])] == ce.file)
                for c in steps_ch):
            score = min(score, top_log[0] - 0.05)
            reasons.append("came after a failure in its own place (ranked below it)")
        elif ce.ts is not None and top_log is not None and ce.kind.startswith(("restart", "scaling", "failover")):
            # A restart after a failure that names what it restarts is that failure's effect (the kubelet evicts
            # "Container checkout", then checkout's "server stopped"), wherever the failure was logged.
            said = _names_of_change(ce)
            if said is not None and any(c.event >= 0 and c.ts < ce.ts and c.bad >= 0.25
                                        and said.search(ctx.texts.get(c.event, "") or "") for c in steps_ch):
                score = min(score, top_log[0] - 0.05)
                reasons.append("came after a failure that names its service (ranked below it)")
        candidates.append(Candidate(0, "change", ce.text, ce.where, ce.file, ce.line, ce.ts, ce.time, ce.host,
                                    ce.service, round(score, 3), reasons, linked=linked))
    for score, c, reasons in cands:
        f, ln = _where(ctx, c.event)
        k = c.c.key
        candidates.append(Candidate(0, "log", "", f"{f}:{ln}", f, ln, c.ts, iso(c.ts) if ctx.timed else None,
                                    _name(ctx.table.hosts, int(ctx.table.host[c.event])),
                                    _name(ctx.table.services, int(ctx.table.service[c.event])), round(score, 3),
                                    reasons, keys.name(k) if k >= 0 else None))
    for c in metric_ch:
        rel = c.ts - onset
        score = 0.55 + (0.3 if rel <= 0 else 0.0)
        reasons = [f"metric changed {_dur(abs(rel))} {'before' if rel <= 0 else 'after'} the onset"]
        file, _, line = (c.c.series or "").rpartition(":")
        candidates.append(Candidate(0, "metric", c.text, c.c.series, file or None,
                                    int(line) if line.isdigit() else None, c.ts, iso(c.ts), None, None,
                                    round(score, 3), reasons))
    candidates.sort(key=lambda c: -c.score)
    candidates = candidates[:6]
    for r, cand in enumerate(candidates, 1):
        cand.rank = r

    # The chain: ordered by onset; the top log candidate is its cause, symptoms end it.
    cause_key = next((c.key for c in candidates if c.kind == "log"), None)
    chosen = _chain_members(steps_ch, cause_key, keys)
    chain: list[Step] = []
    for c in chosen:
        k = c.c.key
        e = c.event
        f, ln = _where(ctx, e)
        role = "symptom" if (c.symptom >= 0.6 or c.c.kind in ("latency up", "rate down")) else "propagation"
        if k >= 0 and keys.name(k) == cause_key:
            role = "cause"
        sc = int(keys.status_class[k]) if k >= 0 else 0
        count = 0
        if k >= 0:
            count = ctx.count_between(k, c.ts, end_ts)
        chain.append(Step(
            key=keys.name(k) if k >= 0 else "", text="", template=keys.text[k] if k >= 0 else (c.c.series or ""),
            file=f, line=ln, where=f"{f}:{ln}", ts=c.ts if ctx.timed else None, time=iso(c.ts) if ctx.timed else None,
            host=_name(ctx.table.hosts, int(ctx.table.host[e])), service=_name(ctx.table.services,
                                                                              int(ctx.table.service[e])),
            role=role, change=c.c.kind, count=count,
            level=LEVELS[int(ctx.table.level[e])] or None, status=f"{sc}xx" if sc else None,
            exc=_name(ctx.table.excs, int(ctx.table.exc[e])),
            route=_name(ctx.table.routes, int(keys.route[k])) if k >= 0 else None,
        ))
    user_facing = symptom_ch.symptom >= 0.6 or symptom_ch.c.kind in ("latency up", "rate down")
    if chain and user_facing and not any(s.role == "symptom" for s in chain):
        chain[-1].role = "symptom" if len(chain) > 1 else chain[-1].role
    hosts: list[str] = []
    services: list[str] = []
    srcs: list[str] = []
    for s in chain:
        if s.host and s.host not in hosts:
            hosts.append(s.host)
        if s.service and s.service not in services:
            services.append(s.service)
        if s.file not in srcs:
            srcs.append(s.file)
    impact = _impact(ctx, onset, end_ts, symptom_ch, lookback, chain)
    impact.user_facing = bool(user_facing)
    strength = float(sum(np.log1p(c.c.strength) * max(c.bad, c.symptom) for c in steps_ch))
    confidence, why = _confidence(chain, candidates, impact, symptom_ch)
    inc = Incident(
        id=f"I{number}", title="", onset=datetime.fromtimestamp(onset, UTC) if ctx.timed else None,
        onset_ts=onset if ctx.timed else None, end_ts=end_ts if ctx.timed else None, impact=impact,
        confidence=confidence, confidence_reason=why, chain=chain, candidates=candidates,
        changed_before=[ce for ce in changes_before
                        if ce.ts is not None and ce.ts <= max(onset, symptom_ch.ts) + min(ctx.width, 300.0)][:8], hosts=hosts,
        services=services, sources=srcs, strength=round(strength, 3),
    )
    if ctx.key_flag is not None:
        flagged = [s.where for s, c in zip(chain, chosen, strict=True) if c.flagged > 0]
        inc.detector = {"name": ctx.detector, "flagged_steps": flagged,
                        "note": (f"{len(flagged)} of {len(chain)} chain steps were above the {ctx.detector} "
                                 f"detector's threshold")}
    return inc, taken


# --- a failed run: the log of a CI job, a build, a playbook that ended in failure -------------------------------

RUN_TAIL = 200  # a run's verdict is among the last max(RUN_TAIL, RUN_TAIL_SHARE of its) lines (then cleanup, post-run)
RUN_TAIL_SHARE = 0.05
RUN_TAIL_MAX = 400
RUN_GAP = 30  # the lines of one error block are at most this many lines apart (a cleanup may come between them)
RUN_BLOCK_MAX = 400  # ... and the block reaches at most this many lines back from the verdict
RUN_OUTPUT = 3  # when only verdicts say it failed: this many lines of output right before the first are its cause
_VERDICT_HINT = re.compile(r"fail|exit|status|return|result|err", re.I)  # (templates worth reading lines for)
RUN_REASON = ("the log's run ended in failure (its verdict is the symptom); the cause is the first failure of its "
              "last error block, taken by position in the log, not by comparison with a good run")
RUN_REASON_BASELINE = ("the log's run ended in failure (its verdict is the symptom); the cause is the first failure "
                       "of its last error block, and the good run given as baseline never logged it")


@dataclass
class _Run:
    """The log of one run (a CI job, a build, a playbook) that ended in failure."""

    source: int
    verdict: int  # the event of its last verdict of failure ("result: FAILURE", "failed=1", "exit code: 1")
    block: list[int]  # the events of its last error block, in log order (the verdict among them)
    cause: int  # where its failure begins: the block's first line that is more than a verdict, else the output


def _failed_runs(ctx: _Ctx) -> list[_Run]:
    """The sources that are the log of a run that ended in failure: a verdict of failure (semantics.run_verdict)
    among its last lines, and no verdict of success after it. Its failure is the last block of failing lines (that
    read as failures, verdicts, a compiler's or linter's findings; each at most RUN_GAP lines from the next) that
    holds the verdict; its cause is the block's first line that is more than a verdict, else the output right
    before it. General: a job's log ends with its runner's verdict, and the step that failed says why just before
    it (tox's InvocationError after flake8's findings, ansible's PLAY RECAP after the task's 'fatal', make's '***'
    after the compiler's error)."""
    table = ctx.table
    n_src = len(table.sources)
    src = np.asarray(table.source)
    order = np.argsort(src, kind="stable")
    bounds = np.searchsorted(src[order], np.arange(n_src + 1))
    line = np.asarray(table.line)
    runs: list[_Run] = []
    for s in range(n_src):
        ev = order[bounds[s]:bounds[s + 1]]
        run = _failed_run(ctx, s, ev[np.argsort(line[ev], kind="stable")]) if len(ev) else None
        if run is not None:
            runs.append(run)
    return runs


def _failed_run(ctx: _Ctx, s: int, ev: np.ndarray) -> _Run | None:
    """Source s's run, when it ended in failure (`ev`: its events in log order); see _failed_runs."""
    keys = ctx.keys
    tail = ev[-min(RUN_TAIL_MAX, max(RUN_TAIL, int(RUN_TAIL_SHARE * len(ev)))):]
    if not any(k >= 0 and (_VERDICT_HINT.search(keys.text[k]) or "<*>" in keys.text[k])
               for k in set(keys.of[tail].tolist())):
        return None
    _read_texts(ctx, tail.tolist())

    def text(p: int) -> str:
        return ctx.texts.get(int(ev[p]), "")

    verdict = -1
    for p in range(len(ev) - 1, len(ev) - 1 - len(tail), -1):
        said = semantics.run_verdict(text(p))
        # (a failure the log itself says to ignore on the next line is none: "Please ignore the error above")
        if said == "failed" and p + 1 < len(ev) and semantics.reads_healthy(text(p + 1)):
            continue
        if said:
            verdict = p if said == "failed" else -1
            break
    if verdict < 0 or int(keys.of[ev[verdict]]) < 0:
        return None
    lo = max(0, verdict - RUN_BLOCK_MAX)
    _read_texts(ctx, ev[lo:].tolist())

    def failing(p: int) -> bool:
        said, k = text(p), int(keys.of[ev[p]])
        if not said.strip() or semantics.reads_healthy(said) or (p + 1 < len(ev)
                                                                and semantics.reads_healthy(text(p + 1))):
            return False
        if semantics.run_verdict(said) == "failed" or semantics.DIAGNOSTIC.search(said):
            return True
        return k >= 0 and _line_bad(ctx, int(ev[p])) >= 0.55 and not keys.background[k]

    end = max((p for p in range(verdict, len(ev)) if failing(p)), default=verdict)
    block = [end]
    p = end - 1
    while p >= lo and block[-1] - p <= RUN_GAP:
        if failing(p):
            block.append(p)
        p -= 1
    block.reverse()
    more = [p for p in block if semantics.run_verdict(text(p)) != "failed" and int(keys.of[ev[p]]) >= 0]
    if ctx.detector == "diff" and ctx.key_flag is not None:
        # Against a good run given as baseline, the block's lines it never had belong to the failure too, whatever
        # their words ("The full traceback has been saved in ..."); the cause stays the first failure.
        block = sorted(set(block) | {p for p in range(block[0], block[-1]) if int(keys.of[ev[p]]) >= 0
                                     and ctx.key_flag[int(keys.of[ev[p]])] > 0})
    if more:
        cause = more[0]
    else:
        # Only verdicts say it failed ("ERROR: InvocationError", "make: *** [all] Error 1"): the output of the
        # step right before the first of them says why.
        before = ev[max(0, block[0] - RUN_OUTPUT):block[0]]
        _read_texts(ctx, before.tolist())
        out = [block[0] - len(before) + i for i, e in enumerate(before)
               if int(keys.of[e]) >= 0 and ctx.texts.get(int(e), "").strip()]
        block = out + block
        cause = out[-1] if out else block[0]
    return _Run(s, int(ev[verdict]), [int(ev[p]) for p in block], int(ev[cause]))


_NUMBERS = re.compile(r"\b\d+(?:[.,]\d+)*\b")


def _line_bad(ctx: _Ctx, e: int) -> float:
    """How much one line reads as a failure, by its own words (its key's template may have blanked them; its
    numbers are blanked here as in a template: "xstate_sizes[2]: 576" holds no 5xx)."""
    table = ctx.table
    status = int(table.status[e])
    said = _NUMBERS.sub("<NUM>", ctx.texts.get(e, "")) or ctx.keys.text[int(ctx.keys.of[e])]
    return semantics.badness(said, int(table.level[e]),
                             status // 100 if 100 <= status <= 599 else 0, int(table.exc[e]) > 0)


def _run_incident(ctx: _Ctx, run: _Run, bad: list[_Ch], chs: list[_Ch], series: Sequence[MetricSeries],
                  options: TriageOptions, number: int, lookback: float, used: set[int]) -> Incident | None:
    """The incident of a failed run: its last error block as the chain, the verdict its symptom, the block's first
    failure its cause. The block's keys' other changes are taken (not listed as unrelated)."""
    keys = ctx.keys
    mine: list[int] = []
    seen: set[int] = set()
    for e in run.block:
        k = int(keys.of[e])
        if k < 0 or (k in seen and e != run.verdict):
            continue
        seen.add(k)
        b = int(np.clip((float(ctx.t[e]) - ctx.t0) // ctx.width, 0, ctx.n_bins - 1))
        said = ctx.texts.get(e, "")
        role = "verdict" if e == run.verdict else "cause" if e == run.cause else "block"
        weight = _line_bad(ctx, e)
        if semantics.DIAGNOSTIC.search(said) or semantics.run_verdict(said) == "failed":
            weight = max(weight, 0.55)
        elif role == "cause":
            weight = max(weight, 0.3)  # the step's output right before its verdict
        flagged = float(ctx.key_flag[k]) if ctx.key_flag is not None else 0.0
        mine.append(len(bad))
        bad.append(_Ch(rates.Change(k, b, "new", rates.LLR_MIN + 1.0, 0.0, 1.0, b, event=e), float(ctx.t[e]), e,
                       weight, 0.6 if role == "verdict" else 0.0, bool(keys.background[k]), flagged=flagged,
                       baseline_novel=ctx.detector == "diff" and flagged > 0, run=role))
    anchor_i = next((i for i in mine if bad[i].run == "verdict"), None)
    if anchor_i is None:
        return None
    used |= {i for i, c in enumerate(bad) if c.c.key in seen}
    inc, _ = _incident(ctx, bad, anchor_i, mine, chs, series, options, number, lookback, run=run)
    if inc is None:
        return None
    said = " ".join((ctx.texts.get(run.verdict, "") or keys.text[int(keys.of[run.verdict])]).split())
    symptom = f"the run failed: \u201c{_clip_middle(said, 80)}\u201d"
    f, first = _where(ctx, run.block[0])
    last = _where(ctx, run.block[-1])[1]
    inc.impact.summary = f"{symptom}: its last error block is lines {first}-{last} of {Path(f).name}"
    inc.impact.symptom = symptom
    inc.confidence, inc.confidence_reason = "medium", RUN_REASON
    cause = next((bad[i] for i in mine if bad[i].run == "cause"), None)
    top = next((c for c in inc.candidates if c.kind == "log"), None)
    if cause is not None and cause.baseline_novel and top is not None \
            and (top.file, top.line) == _where(ctx, cause.event):
        # The good run given as baseline never logged the cause: position and comparison agree.
        inc.confidence, inc.confidence_reason = "high", RUN_REASON_BASELINE
    return inc


_GENERIC_SERVICES = frozenset(("systemd", "kernel", "init", "cron", "crond", "su", "sudo", "root", "syslog",
                               "rsyslogd", "logger"))
GAP_S = 150.0  # changes whose onsets chain together within this gap "start together"


def _client_error(ctx: _Ctx, c: _Ch) -> bool:
    """A 4xx answer whose words name no failure: the client's mistake (a scanner's 404), not the system's."""
    k = c.c.key
    return k >= 0 and c.metric is None and int(ctx.keys.status_class[k]) == 4 and not bool(ctx.keys.says_error[k]) \
        and c.symptom != SYMPTOM_AUTH  # (an authentication outage locks the users out: not their mistake)


def _together(ctx: _Ctx, bad: list[_Ch], kept: list[int], anchor_i: int) -> list[int]:
    """The members that start together with the symptom: chained back from it by onset gaps of at most GAP_S
    (two bins at least); an earlier group stays only when it is linked to that core (the same host or service,
    or named by one of its lines)."""
    gap = max(GAP_S, 2 * ctx.width) if ctx.timed else 2 * ctx.width
    anchor = bad[anchor_i]
    order = sorted(kept, key=lambda i: bad[i].ts)
    core = [i for i in order if bad[i].ts >= anchor.ts]
    earlier = [i for i in order if bad[i].ts < anchor.ts]
    edge = anchor.ts
    rest: list[int] = []
    for i in reversed(earlier):
        if edge - bad[i].ts <= gap:
            core.append(i)
            # A metric's change is placed at bin resolution, and clients' errors (4xx) are not the system
            # failing: both join, neither carries the chain further back.
            if bad[i].metric is None and not _client_error(ctx, bad[i]):
                edge = bad[i].ts
        else:
            rest.append(i)
    if not rest:
        return core
    core_ch = [bad[i] for i in core]
    _read_texts(ctx, [c.event for c in core_ch])
    out = list(core)
    stalled = _stalled_flows(ctx, bad, rest, anchor)
    out += stalled
    rest = [i for i in rest if i not in stalled]
    for i in rest:
        c = bad[i]
        if _client_error(ctx, c):
            continue  # clients' errors (a scanner's 404s) well before the core are not where the outage began
        if c.metric is not None or any(_same_place(ctx, c, o, by_file=False) for o in core_ch if o.c.key >= 0) \
                or _named_by(ctx, c, core_ch):
            out.append(i)
    return out


REPORT_SLACK_S = 10.0  # a failure in another file this little after its client's report of it still came first
NETWORK_LEAD_S = 300.0  # a network fault at most this long before a client's dropped connections is their cause
RARE_RISE = 20.0  # a key whose rate rose this many times from under one line a bin counts as new ...
RARE_STORM = 5.0  # ... when it now comes at least this many lines a bin (a storm, not a few more strays)


STALL_FAILURE_S = 600.0  # a failure at most this long before a flow of work stopped is what stopped it
STALL_RESUME_S = 900.0  # ... and the symptom ended at most this long after the flow came back


def _stalled_flows(ctx: _Ctx, bad: list[_Ch], rest: list[int], anchor: _Ch) -> list[int]:
    """Earlier changes that belong to the incident as a stalled flow of work: a steady message (a queue consumer's
    "Task received", a replication stream, a batch's progress) that went silent well before the symptom, right
    after a failure in its own place (host, service, or the folder that holds its files), stayed silent until
    the symptom began, and came back shortly before the symptom ended. A backlog grows in between (a worker
    deploy that cannot import, then the broker's memory alarm blocks the publishers 16 min later). Returns
    the indices of such silences and of the failures that stopped them; all are marked `via_silence`."""
    if not ctx.timed:
        return []
    out: list[int] = []
    a_bin = max(0, anchor.c.bin)
    end_ts = ctx.bin_ts(min(ctx.n_bins - 1, max(anchor.c.end_bin, anchor.c.bin)) + 1)
    for i in rest:
        s = bad[i]
        if s.c.kind != "stopped" or s.c.key < 0 or s.background or s.c.end_bin < a_bin - 1:
            continue  # (it must still be silent when the symptom begins)
        back = ctx.bin_ts(s.c.end_bin + 1)
        if not (back <= end_ts + ctx.width and end_ts - back <= STALL_RESUME_S):
            continue  # never came back, or came back long before the symptom ended: no sign it was the cause
        last = ctx.t[s.event] if s.event >= 0 else s.ts
        why = [j for j in rest if j != i and bad[j].c.kind in ("new", "burst", "rate up") and bad[j].bad >= 0.55
               and not bad[j].background and bad[j].c.key >= 0
               and -ctx.width <= s.ts - bad[j].ts and bad[j].ts - last <= 0.5 * STALL_FAILURE_S
               and last - bad[j].ts <= STALL_FAILURE_S and _same_machine(ctx, s, bad[j])]
        if not why:
            continue
        for j in [i] + why:
            if j not in out:
                out.append(j)
                bad[j].via_silence = True
    return out


def _same_machine(ctx: _Ctx, a: _Ch, b: _Ch) -> bool:
    """Same place (host, else service), or files in the same folder (one machine's logs gathered in one folder:
    worker-1/celery.log and worker-1/journal.txt)."""
    if _same_place(ctx, a, b, by_file=False):
        return True
    fa = Path(ctx.table.sources[int(ctx.keys.source[a.c.key])]).parent
    fb = Path(ctx.table.sources[int(ctx.keys.source[b.c.key])]).parent
    # (the folder that holds every source, a flat incident folder, says nothing about a machine)
    return fa == fb and fa.name not in ("", ".", "logs", "log") and str(fa) != _common_root(tuple(ctx.table.sources))


@functools.lru_cache(maxsize=8)
def _common_root(sources: tuple[str, ...]) -> str:
    """The deepest folder that holds every source ("" when they share none)."""
    try:
        return str(Path(os.path.commonpath([str(Path(s).parent) for s in sources])))
    except ValueError:
        return ""


_TOKEN = re.compile(r"[A-Za-z]{3,}")
_GENERIC_TOKENS = frozenset(("prod", "production", "staging", "stage", "host", "node", "server", "srv", "svc",
                             "service", "app", "api", "internal", "local", "localdomain", "com", "net", "org",
                             "example", "web", "worker", "main", "primary", "default", "kernel", "systemd", "log",
                             "daemon", "ip", "vm", "box", "cluster", "east", "west", "north", "south", "central",
                             # Ordinary words that messages use as words: a host named prod-report-1 or gateway-2
                             # is not named by "configured to report errors" or "502 Bad Gateway".
                             "report", "reports", "backup", "backups", "build", "batch", "admin", "test", "tests",
                             "data", "file", "files", "store", "search", "index", "mail", "print", "media",
                             "gateway", "monitor", "status", "health", "check", "task", "tasks", "event", "events",
                             "stream", "update", "sync", "export", "import", "upload", "download", "static",
                             "public", "private", "shared", "common", "core", "edge", "front", "legacy"))


def _named_by(ctx: _Ctx, c: _Ch, others: Sequence[_Ch]) -> bool:
    """Whether one of `others`' lines names c's host or service (or a distinctive word of it: "redis" of
    redis1.ams3)."""
    k = c.c.key
    if k < 0:
        return False
    names = [n for n in (_name(ctx.table.hosts, int(ctx.keys.host[k])), _name(ctx.table.services,
                                                                            int(ctx.keys.service[k]))) if n]
    tokens = {t.lower() for n in names for t in _TOKEN.findall(n)} - _GENERIC_TOKENS
    full = {n.lower() for n in names if len(n) >= 3}
    if not tokens and not full:
        return False
    for o in others:
        if o is c or o.event < 0:
            continue
        text = ctx.texts.get(o.event, "").lower()
        if not text:
            continue
        if any(n in text for n in full):
            return True
        words = set(_TOKEN.findall(text))
        if tokens & {w.lower() for w in words}:
            return True
    return False


_GENERIC_FILES = frozenset(("app", "application", "messages", "syslog", "error", "errors", "access", "server",
                            "output", "console", "stdout", "stderr", "main", "service", "daemon", "kern", "system",
                            "current", "debug", "info", "warn", "all", "events", "audit", "auth", "secure", "log",
                            "logs", "trace", "json", "combined", "requests", "worker", "default"))
_EC2_HOST = re.compile(r"^ip-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})\b", re.I)


def _path_names(ctx: _Ctx, c: _Ch) -> tuple[set[str], set[str], set[str]]:
    """What another service's line would call the place of a step: its host (and the address an ip-10-1-2-3 host
    name spells), its service, its file's name, the daemons on its host; their distinctive words; and the kinds of
    server (database, cache, ...) those daemons and the host's name say it is."""
    keys = ctx.keys
    k = c.c.key
    host_code, svc_code = int(keys.host[k]), int(keys.service[k])
    host, svc = _name(ctx.table.hosts, host_code), _name(ctx.table.services, svc_code)
    names: set[str] = set()
    roles: set[str] = set()
    if host:
        names.add(host.lower())
        m = _EC2_HOST.match(host)
        if m:
            names.add(".".join(m.groups()))
        roles |= semantics.roles_named(host.replace("-", " ").replace(".", " ").replace("_", " "))
    stem = Path(ctx.table.sources[int(keys.source[k])]).name.split(".")[0].lower()
    if not host and not svc and len(stem) >= 4 and stem not in _GENERIC_FILES:
        names.add(stem)  # a file named after its service (pricing-service.log), when its lines name no other
        for word in _TOKEN.findall(stem):
            role = semantics.role_of_service(word)  # postgresql-2025-03-03.log is a database's log
            if role:
                roles.add(role)
    daemons = set(ctx.host_services(host_code)) if host_code else set()
    if svc:
        daemons.add(svc)
    for d in daemons:
        base = d.split("/")[-1].split("[")[0].strip().lower()
        if not base or base in _GENERIC_SERVICES or semantics.BACKGROUND_SERVICES.match(base):
            continue
        names.add(base)
        role = semantics.role_of_service(base)
        if role:
            roles.add(role)
    tokens = {h for h in (_head(n) for n in names) if h}
    return {n for n in names if len(n) >= 3}, tokens, roles


_ROLE_SUFFIX = frozenset(("server", "service", "svc", "daemon", "worker", "api", "agent", "proxy", "manager", "node",
                          "host", "prod", "production", "staging", "stage", "app", "web", "internal", "main",
                          "primary", "replica", "master", "slave", "cluster", "local", "localdomain", "srv", "box",
                          "vm", "ip", "com", "net", "org", "io"))


def _head(name: str) -> str | None:
    """The one distinctive word a name stands for, when it has one: redis-server and redis1.ams3 are "redis".
    A name of two ordinary words (report-builder) has none: only its full name names it, since "report" or
    "builder" alone are words any message may use."""
    label = name.lower().split(".")[0] if not _EC2_HOST.match(name) else ""
    parts = [p for p in re.split(r"[^a-z]+", label) if p and p not in _ROLE_SUFFIX]
    if len(parts) == 1 and len(parts[0]) >= 4 and parts[0] not in _GENERIC_TOKENS:
        return parts[0]
    return None


def _on_path(ctx: _Ctx, steps: Sequence[_Ch]) -> set[int]:
    """ids of the steps with a path to the symptom: the symptoms themselves, steps where a symptom is (its host,
    service or file), and steps whose place another step's line names (by host, address, service, file, a daemon
    on its host, or the kind of server it is: a Hikari timeout names the host running postgres). A failure nothing
    names, away from the symptom, has no path to it."""
    sym = [c for c in steps if c.c.key >= 0 and (_is_symptom(ctx, c) or c.symptom >= 0.6)]
    out = {id(c) for c in steps if c.c.key < 0 or c.c.kind in ("latency up", "rate down") or c.via_silence} \
        | {id(c) for c in sym}
    texts = {id(o): ctx.texts.get(o.event, "") for o in steps if o.event >= 0}
    lost = any(semantics.CONNECTION_LOST.search(texts.get(id(o), "")) for o in steps)
    for c in steps:
        if id(c) in out:
            continue
        if any(_same_place(ctx, c, s) for s in sym):
            out.add(id(c))
            continue
        if lost and (semantics.DEATH.search(texts.get(id(c), "")) or semantics.DEATH.search(ctx.keys.text[c.c.key])):
            out.add(id(c))  # a process that died reaches its clients as refused / closed connections
            continue
        names, tokens, roles = _path_names(ctx, c)
        if not names and not roles:
            out.add(id(c))  # a line with no host, service or telling file name cannot be placed off the path
            continue
        pattern = _name_pattern(names)
        for o in steps:
            if o is c or o.c.key < 0 or _same_place(ctx, o, c):
                continue
            text = texts.get(id(o), "")
            if text and _names_place(text, pattern, tokens, roles):
                out.add(id(c))
                break
    # A fault of the network itself (a link, port or optic) shortly before a client's connections dropped on the
    # path is on it too: the network carries every path, and no client names the switch it goes through.
    drops = [o for o in steps if id(o) in out and o.c.key >= 0
             and semantics.CONNECTION_DROPPED.search(texts.get(id(o), "") or ctx.keys.text[o.c.key])]
    for c in steps:
        if id(c) in out or c.c.key < 0 or ctx.keys.bad[c.c.key] < 0.55 or not drops \
                or not semantics.NETWORK_FAULT.search(texts.get(id(c), "") or ctx.keys.text[c.c.key]):
            continue
        if any(-REPORT_SLACK_S <= o.ts - c.ts <= NETWORK_LEAD_S for o in drops):
            out.add(id(c))
    # A failure that comes and goes with the symptom, burst by burst, is on the path though nothing names its place:
    # a switch port that flaps under a load balancer, a crash loop, a GC pause before each wave of timeouts.
    anchor = max(sym, key=_anchor_weight) if sym else None
    for c in steps:
        if id(c) not in out and c.c.key >= 0 and ctx.keys.bad[c.c.key] >= 0.55 and anchor is not None \
                and _keeps_step(ctx, c, anchor):
            out.add(id(c))
    # A failure whose own rare words a failing step on the path repeats is on the path: the client quotes the
    # server's reason ("blocked by: [disk usage exceeded flood-stage watermark ...]" after the cluster's "flood
    # stage disk watermark [95%] exceeded on [es-data-1]"), though it names no host of it.
    for c in steps:
        if id(c) in out or c.c.key < 0 or ctx.keys.bad[c.c.key] < 0.25:
            continue
        mine = _rare_words(ctx, texts.get(id(c), "") or ctx.keys.text[c.c.key])
        if len(mine) < 2:
            continue
        for o in steps:
            if id(o) not in out or o is c or o.c.key < 0 or ctx.keys.bad[o.c.key] < 0.55 or _same_place(ctx, o, c):
                continue
            if len(mine & _rare_words(ctx, texts.get(id(o), "") or ctx.keys.text[o.c.key])) >= 2:
                out.add(id(c))
                break
    # A failing client of a step on the path is on it too: "could not connect to server ... host "postgres"" on
    # api-1 names the failed database, and the front door's 502s follow (nothing logs the api as the front's
    # upstream). Until nothing changes.
    client_view: dict[int, tuple[re.Pattern[str] | None, set[str]]] = {}  # step -> how a client names its place

    def named_by(o: _Ch, text: str) -> bool:
        if id(o) not in client_view:
            names, tokens, _roles = _path_names(ctx, o)
            names |= {n.rsplit("-", 1)[0] for n in names if re.search(r"[-_]\d+$", n)}  # postgres-1: postgres
            client_view[id(o)] = (_name_pattern(names), tokens)
        pattern, tokens = client_view[id(o)]
        return _names_place(text, pattern, tokens, set())

    grew = True
    while grew:
        grew = False
        for c in steps:
            if id(c) in out or c.c.key < 0:
                continue
            if any(id(o) in out and o is not c and _same_process(ctx, o, c) for o in steps):
                out.add(id(c))  # another logger of the process a step on the path runs in
                grew = True
                continue
            text = texts.get(id(c), "")
            if not text or ctx.keys.bad[c.c.key] < 0.55:
                continue
            for o in steps:
                if id(o) not in out or o is c or o.c.key < 0 or _same_place(ctx, o, c):
                    continue
                if named_by(o, text):
                    out.add(id(c))
                    grew = True
                    break
    return out


STEP_BURSTS = 3  # separate bursts of the symptom (with quiet bins between them) that `_keeps_step` needs


def _keeps_step(ctx: _Ctx, c: _Ch, s: _Ch) -> bool:
    """Whether failure `c` keeps step with symptom `s`: from the first of them to the symptom's end, the symptom comes
    in separate bursts (STEP_BURSTS or more, quiet bins between them), nine in ten of `c`'s busy bins fall in a burst
    (within a bin), and `c` is there in at least half the bursts. Something that goes on all along, or now and then,
    does not keep step: it fills the quiet bins or misses the bursts."""
    a_all = _elevated(ctx, s)
    r = ctx.row.get(c.c.key)
    if a_all is None or r is None or c is s:
        return False
    lo = max(0, min(c.c.bin, s.c.bin) - 1)
    hi = min(ctx.n_bins - 1, max(s.c.end_bin, s.c.bin) + 1)
    a = a_all[lo:hi + 1]
    k = ctx.m[r][lo:hi + 1] > 0
    if len(a) < 2 * STEP_BURSTS or int((~a).sum()) < STEP_BURSTS or int(k.sum()) < STEP_BURSTS:
        return False
    prev = np.concatenate(([False], a[:-1]))
    nxt = np.concatenate((a[1:], [False]))
    if int((k & ~(a | prev | nxt)).sum()) > 0.1 * int(k.sum()):
        return False
    starts = np.nonzero(a & ~prev)[0]
    ends = np.nonzero(a & ~nxt)[0]
    if len(starts) < STEP_BURSTS:
        return False
    hit = sum(1 for b0, b1 in zip(starts, ends, strict=True) if k[max(0, b0 - 1):b1 + 2].any())
    return hit >= max(STEP_BURSTS, 0.5 * len(starts))


_WORD = re.compile(r"[a-z]{5,}")
# Words of failures in general: shared by any two error messages, they link nothing.
_COMMON_WORDS = frozenset((
    "error", "errors", "failed", "failure", "exception", "exceeded", "timeout", "timed", "request", "requests",
    "response", "connection", "connect", "refused", "unable", "cannot", "could", "server", "service", "client",
    "retry", "retrying", "attempt", "limit", "invalid", "unavailable", "status", "value", "reason", "caused",
    "while", "after", "before", "because", "which", "there", "their", "about", "other", "still", "total"))


def _rare_words(ctx: _Ctx, text: str) -> set[str]:
    """The words of a text (five letters or more, not a failure's common words) that at most three keys' texts
    (or 2 % of the keys) hold: what a line says that few others say."""
    if ctx.word_keys is None:
        counts: dict[str, int] = {}
        for t in ctx.keys.text:
            for w in set(_WORD.findall(t.lower())):
                counts[w] = counts.get(w, 0) + 1
        ctx.word_keys = counts
    cap = max(3, int(0.02 * len(ctx.keys.text)))
    return {w for w in _WORD.findall(text.lower())
            if w not in _COMMON_WORDS and ctx.word_keys.get(w, 0) <= cap}


def _name_pattern(names: set[str]) -> re.Pattern[str] | None:
    """One pattern finding any of these place names as a whole word in a line (None: no names)."""
    if not names:
        return None
    return re.compile(r"(?<![\w.-])(?:" + "|".join(re.escape(n) for n in sorted(names)) + r")(?![\w-])", re.I)


def _names_place(text: str, pattern: re.Pattern[str] | None, tokens: set[str], roles: set[str]) -> bool:
    """Whether a line names a place: by one of its names, a distinctive word of them, or the kind of server."""
    return bool((pattern is not None and pattern.search(text))
                or (tokens and tokens & {w.lower() for w in _TOKEN.findall(text)})
                or (roles and roles & semantics.roles_named(text)))


_IDENT = re.compile(r"\b[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)+\b", re.I)  # pricing-service, db-1.internal


def _exception_first(ctx: _Ctx, cands: list[tuple[float, _Ch, list[str]]],
                     wrappers: set[int] | None = None) -> list[tuple[float, _Ch, list[str]]]:
    """An exception with its message ("IOError: [Errno 2] No such file or directory: …") is the failure itself;
    the lines right around it in the same file that name no exception ("The full traceback has been saved in …",
    "Please also report this …", a bare frame) comment on it: they rank just below it. Not so for an exception
    that only reports that a step failed (ids in `wrappers`: tox's "InvocationError: …/flake8 …"), whose lines
    before it say why."""
    keys, table = ctx.keys, ctx.table
    exc = [(sc, c) for sc, c, _ in cands if c.event >= 0 and c.c.key >= 0 and int(keys.exc[c.c.key]) > 0
           and c.bad >= 0.55 and id(c) not in (wrappers or set())]
    if not exc:
        return cands
    out = []
    for sc, c, reasons in cands:
        if c.event >= 0 and c.c.key >= 0 and int(keys.exc[c.c.key]) == 0 and not _is_symptom(ctx, c):
            src, ln = int(table.source[c.event]), int(table.line[c.event])
            near = [(esc, e) for esc, e in exc if int(table.source[e.event]) == src
                    and 0 < abs(int(table.line[e.event]) - ln) <= 3 and abs(e.ts - c.ts) <= 5.0]
            if near:
                esc, e = max(near, key=lambda x: x[0])
                sc = min(sc, esc - 0.05)
                reasons = reasons + [f"comments on the exception at line {int(table.line[e.event])} "
                                     f"(ranked below it)"]
        out.append((sc, c, reasons))
    return out


def _names_of_change(ce: ChangeEvent) -> re.Pattern[str] | None:
    """A pattern finding a change's service (or host) named as a word in a line, when the name is telling (four
    letters or more, not a generic daemon such as systemd)."""
    names = [n for n in (ce.service, ce.host) if n and len(n) >= 4 and n.lower() not in _GENERIC_SERVICES
             and n.lower() not in _GENERIC_TOKENS]
    if not names:
        return None
    return re.compile(r"(?<![\w.-])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])", re.I)


def _change_roles(ce: ChangeEvent) -> set[str]:
    """The kinds of server (database, cache, ...) a change was made to: a schema change is one to a database; a
    change on a host or by a daemon whose name says what it runs (db-1, redis-2, postgres) is one to that."""
    roles: set[str] = {"database"} if ce.kind == "schema" else set()
    if ce.host:
        roles |= semantics.roles_named(re.sub(r"[-._]", " ", ce.host))
    if ce.service:
        role = semantics.role_of_service(ce.service)
        if role:
            roles.add(role)
    elif not ce.host and ce.file:
        # A file whose lines name neither: its name and its folder's say what it logs (redis/sentinel.log,
        # postgresql/postgresql-15-main.log, mysql/error.log).
        path = ce.file.replace("\\", "/").split("/")
        roles |= semantics.roles_named(re.sub(r"[-._]", " ", " ".join(path[-2:])))
    return roles


def _shares_name(change_text: str, step_text: str, step_file: str) -> bool:
    """Whether a change's text names something (a hyphenated or dotted name) that a failing step's line or file
    also names: "deploying pricing-service 5.9.9" and "pricing-service returned 500" / pricing-service.log."""
    idents = {m.group(0).lower() for m in _IDENT.finditer(change_text)}
    idents = {i for i in idents if len(i) >= 5 and any(c.isalpha() for c in i.split(".")[-1])}
    if not idents:
        return False
    hay = f"{step_text} {Path(step_file).name}".lower()
    return any(i in hay for i in idents)


_JOB_CMD = re.compile(r"\bCMD \((.*)\)\s*$")


def _job_output(job_text: str, service: str | None) -> bool:
    """Whether a line of `service` is the output of the job `job_text` started: a program its command runs
    ("CMD (/usr/local/bin/db-backup.sh --full)" runs db-backup; the user it runs as is not one)."""
    if not service:
        return False
    base = service.split("/")[-1].split("[")[0].strip().lower()
    if len(base) < 4 or base in _GENERIC_SERVICES:
        return False
    m = _JOB_CMD.search(job_text or "")
    command = m.group(1) if m else (job_text or "")
    for word in re.findall(r"[\w./-]+", command.lower()):
        name = word.rsplit("/", 1)[-1]
        if re.sub(r"\.(?:sh|py|pl|rb|bash)$", "", name) == base:
            return True
    return False


def _is_symptom(ctx: _Ctx, c: _Ch) -> bool:
    """User-facing impact itself: 4xx/5xx answers, slow answers, fewer successful requests."""
    if c.c.kind in ("latency up", "rate down"):
        return True
    k = c.c.key
    # A 5xx request line is the symptom; an error line that says what failed ("certificate has expired") and
    # carries the request's status is a failure first.
    return k >= 0 and int(ctx.keys.status_class[k]) in (4, 5) and not bool(ctx.keys.says_error[k])


def _same_place(ctx: _Ctx, a: _Ch, b: _Ch, by_file: bool = True) -> bool:
    """Same host (when both have one), else same service, else (with by_file) the same file."""
    ka, kb = a.c.key, b.c.key
    if ka < 0 or kb < 0:
        return False
    keys = ctx.keys
    if keys.host[ka] and keys.host[kb]:
        return bool(keys.host[ka] == keys.host[kb])  # syslog files hold many hosts: the host decides
    if keys.service[ka] and keys.service[kb]:
        return bool(keys.service[ka] == keys.service[kb])
    return by_file and (bool(keys.source[ka] == keys.source[kb])
                        or _server_of(ctx.table.sources[int(keys.source[ka])])
                        == _server_of(ctx.table.sources[int(keys.source[kb])]) != "")


# The streams one server writes to separate files: nginx_access.log and nginx_error.log, httpd-error.log, app.stderr.
_STREAM_SUFFIX = re.compile(r"[-_.](?:access|error|err|out|stdout|stderr|requests?)$", re.I)


@functools.lru_cache(maxsize=256)
def _server_of(source: str) -> str:
    """The server a log file belongs to when its name says which of that server's streams it holds
    ("nginx_access.log" and "nginx_error.log": "nginx"), else "" (the file is its own place)."""
    stem = Path(source).name.lower()
    stem = re.sub(r"(?:\.log)?(?:\.\d+)?(?:\.gz)?$", "", stem)
    head = _STREAM_SUFFIX.sub("", stem)
    if head == stem or len(head) < 3:
        return ""
    return str(Path(source).parent / head)


# A logger's name (Python's "orders.consumer", Spring's "c.e.orders.web.OrderController" or Tomcat's
# "o.a.c.c.C.[Tomcat].[localhost]"): a class or module inside a process, not a place of its own.
_LOGGER_NAME = re.compile(r"[A-Za-z_$][\w$]*(?:\.[\w$\[\]/-]+)+")


def _same_process(ctx: _Ctx, a: _Ch, b: _Ch) -> bool:
    """Two steps in one application's log file, told apart only by their loggers (no host, and each service either
    absent or a logger's dotted name): one process, so one place for the path to the symptom."""
    ka, kb = a.c.key, b.c.key
    if ka < 0 or kb < 0:
        return False
    keys = ctx.keys
    if keys.host[ka] or keys.host[kb] or keys.source[ka] != keys.source[kb]:
        return False
    for k in (ka, kb):
        svc = _name(ctx.table.services, int(keys.service[k]))
        if svc and not _LOGGER_NAME.fullmatch(svc):
            return False
    return True


_TAGS_ONLY = re.compile(r"\s*(?:\[[^\]\n]{0,80}\]\s*)*")  # a message of nothing but bracketed tags


_TRACE_HEAD = "Traceback (most recent call last):"
_TRACE_END = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning|Fault)\b(?::|$)")


def _trace_end(src: str, n: int) -> str | None:
    """The exception line that ends the Python traceback opening at line n (within 60 lines), as a message: what
    failed, where the first line only says a traceback follows."""
    got = context_many(src, [n], before=0, after=60).get(n, [])
    for ln, t in got:
        if ln <= n:
            continue
        msg = message_of(t)
        if _TRACE_END.match(msg):
            return msg
    return None


def _read_texts(ctx: _Ctx, events: Sequence[int]) -> None:
    """Read the message of these events back from their files (one pass per file), into ctx.texts."""
    want: dict[str, list[int]] = {}
    for e in events:
        if e >= 0 and e not in ctx.texts:
            want.setdefault(ctx.table.sources[int(ctx.table.source[e])], []).append(e)
    for src, evs in want.items():
        lines = {int(ctx.table.line[e]): e for e in evs}
        found = context_many(src, sorted(lines), before=0, after=1)
        for n, got in found.items():
            text = next((t for ln, t in got if ln == n), "")
            msg = message_of(text) if text else ""
            if text and _TAGS_ONLY.fullmatch(msg):
                # A header with no message of its own, only tags (Rails' FATAL "[req-id]" before the error on the
                # next line): the next line is the message.
                nxt = next((t for ln, t in got if ln == n + 1), "")
                if nxt.strip():
                    msg = _PRINTABLE.sub(" ", nxt).strip()[:300]
            elif msg.startswith(_TRACE_HEAD):
                msg = _trace_end(src, n) or msg
            ctx.texts[lines[n]] = msg


def _mentions(ctx: _Ctx, steps: Sequence[_Ch], namer: dict[int, list[_Ch]] | None = None) -> dict[int, str]:
    """Steps whose host or service another step's line names ("connect to db-1:5432 failed" names db-1):
    id(step) -> "the line at file:line" (the first such line; in `namer`, id(step) -> every step naming it)."""
    out: dict[int, str] = {}
    keys = ctx.keys
    for c in steps:
        if c.c.key < 0:
            continue
        names = {n for n in (_name(ctx.table.hosts, int(keys.host[c.c.key])),
                             _name(ctx.table.services, int(keys.service[c.c.key]))) if n and len(n) >= 3}
        roles = _path_names(ctx, c)[2]
        if not names and not roles:
            continue
        pattern = re.compile(r"(?<![\w.-])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])", re.I) \
            if names else None
        for o in steps:
            if o is c or o.event < 0:
                continue
            same = o.c.key >= 0 and (int(keys.host[o.c.key]) == int(keys.host[c.c.key])
                                     and int(keys.service[o.c.key]) == int(keys.service[c.c.key]))
            if same:
                continue
            text = ctx.texts.get(o.event, "")
            said = None
            if text and pattern is not None and pattern.search(text):
                f, ln = _where(ctx, o.event)
                said = f"the line at {f}:{ln}"
            else:
                role = sorted(roles & semantics.roles_named(text)) if text and roles else []
                if role:
                    f, ln = _where(ctx, o.event)
                    said = f"the line at {f}:{ln} (a {role[0]} client's error; {role[0]} runs here)"
            if said is None:
                continue
            out.setdefault(id(c), said)
            if namer is None:
                break
            namer.setdefault(id(c), []).append(o)
    # A failure elsewhere that repeats this step's rare words quotes it: "blocked by: [... flood-stage watermark]"
    # quotes "flood stage disk watermark [95%] exceeded" (a periodic report may come a little after the quote).
    for c in steps:
        if id(c) in out or c.c.key < 0 or keys.bad[c.c.key] < 0.25:
            continue
        mine = _rare_words(ctx, ctx.texts.get(c.event, "") or keys.text[c.c.key])
        if len(mine) < 2:
            continue
        for o in steps:
            # (the quote reads as a clearly worse failure: a client's ERROR on the server's WARN condition; two
            # clients' errors quoting one server are neither the other's cause)
            if o is c or o.c.key < 0 or o.event < 0 or keys.bad[o.c.key] < 0.55 or _same_place(ctx, o, c) \
                    or o.ts < c.ts - 120.0 or keys.bad[o.c.key] < keys.bad[c.c.key] + 0.15:
                continue
            if len(mine & _rare_words(ctx, ctx.texts.get(o.event, "") or keys.text[o.c.key])) >= 2:
                f, ln = _where(ctx, o.event)
                out[id(c)] = f"the line at {f}:{ln} (it repeats this line's words)"
                break
    return out


def _chain_members(steps: list[_Ch], cause_key: str | None, keys: keys_mod.Keys) -> list[_Ch]:
    """At most MAX_STEPS steps: the cause, the strongest symptoms, then the earliest others (one per host/service)."""
    if len(steps) <= MAX_STEPS:
        return _by_onset(steps, cause_key, keys)
    must = [c for c in steps if c.c.key >= 0 and keys.name(c.c.key) == cause_key]
    if steps and steps[0] not in must:
        must.append(min(steps, key=lambda c: c.ts))  # the onset is the chain's first step
    symptoms = sorted((c for c in steps if c.symptom >= 0.6), key=lambda c: -_anchor_weight(c))[:2]
    chosen = {id(c) for c in must + symptoms}
    seen_place: set[tuple[int, int]] = set()
    rest = []
    for c in sorted(steps, key=lambda c: (-(c.bad * (0.3 if c.background else 1.0)), c.ts)):
        if id(c) in chosen:
            continue
        place = (int(keys.host[c.c.key]), int(keys.service[c.c.key])) if c.c.key >= 0 else (-1, -1)
        if place in seen_place and len(rest) >= 2:
            continue
        seen_place.add(place)
        rest.append(c)
    out = list({id(c): c for c in must + symptoms + rest}.values())
    return _by_onset(out[:MAX_STEPS], cause_key, keys)


def _by_onset(steps: list[_Ch], cause_key: str | None, keys: keys_mod.Keys) -> list[_Ch]:
    """In onset order; at the same time the cause first and symptoms last."""
    def rank(c: _Ch) -> tuple[float, int]:
        if c.c.key >= 0 and keys.name(c.c.key) == cause_key:
            return c.ts, 0
        return c.ts, 2 if c.symptom >= 0.6 or c.c.kind in ("latency up", "rate down") else 1
    return sorted(steps, key=rank)


def _num(x: float) -> str:
    """A count or rate as people write it, with no exponent: "230", "18.5", "2.3", "0.47"."""
    if x != x or abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}".removesuffix(".0")
    if x and abs(x) < 0.001:
        return f"{x:.6f}".rstrip("0")
    return f"{x:.2g}"


def _rates(during: float, before: float) -> str:
    """Two per-minute rates in the unit that shows them: "12/min vs 0.5/min", or per hour / per day when they
    are that rare (92 error lines over 13 days are not "0/min")."""
    top = max(during, before)
    unit, per_min = ("min", 1.0) if top == 0 or top >= 0.1 else ("h", 60.0) if top * 60 >= 0.1 else ("day", 1440.0)
    return f"{_num(during * per_min)}/{unit} vs {_num(before * per_min)}/{unit}"


def _dur(s: float) -> str:
    s = abs(float(s))
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"  # "11.3 days", not "270.1 h"


_CHANGE_MAX = 40


CERTIFICATE_REACH_S = 24 * 3600.0  # how far back certificate changes (renewals, rotations, their failures) are listed


def _changes_before(ctx: _Ctx, onset: float, window_s: float, upto: float | None = None) -> list[ChangeEvent]:
    """Change events (deploy, restart, config, ...) in the hour before the onset (and one bin after), nearest
    first; routine ones (a job that runs all day) are listed once and last."""
    keys = ctx.keys
    out: list[tuple[float, ChangeEvent, int]] = []
    if not ctx.timed:
        return []
    for k, kind in enumerate(keys.change):
        if kind is None or keys.background[k]:
            continue  # logins and desktop daemons do not change the system ("user deploy" logged in)
        ev = ctx.events_of(k)
        if len(ev) == 0:
            continue
        tt = ctx.times_of(k)
        # (one bin after the onset for rounding, at most five minutes: on a log of weeks a bin is hours long)
        # (a clock that jumped forward stamps its own report late, by as much as it jumped: five minutes after)
        after = 300.0 if kind == "clock" else min(ctx.width, 300.0)
        i = int(np.searchsorted(tt, max(onset + after, upto or onset), side="right")) - 1
        # A certificate bites when it expires, hours or days after its renewal failed or a key was rotated: those are
        # listed from the last day (they are still only candidates within `window_s`).
        reach = max(window_s, CERTIFICATE_REACH_S) if kind == "certificate" else window_s
        if i < 0 or tt[i] < onset - reach:
            continue
        # A change rolled out host by host: its first occurrence in the quarter hour before the onset.
        j = int(np.searchsorted(tt, onset - 15 * 60, side="left"))
        if j <= i:
            i = j
        e = int(ev[i])
        before = onset - float(tt[i])
        # Routine: it happens all through the log (a scheduled job, periodic reloads).
        # Spread over at least half the log (and an hour) in three or more separate half hours: a rollout of ten
        # hosts in ten minutes is one change, not routine.
        occurrences = len(ev)
        spread = float(tt[-1] - tt[0])
        log_span = float(ctx.n_bins * ctx.width)
        slots = len(np.unique(np.floor(tt / 1800.0)))
        routine = occurrences >= 4 and spread >= max(3600.0, 0.5 * log_span) and slots >= 3
        if routine:
            # A routine template can still carry a new command ("CMD (rebuild_stats.sh)" among the hourly jobs).
            novel = _novel_occurrence(ctx, ev[max(0, i - 200):i + 1], onset - reach)
            if novel is not None:
                e, routine = novel, False
                i = int(np.nonzero(ev == e)[0][0])
                before = onset - float(tt[i])
        if routine:
            continue  # a job that runs all through the log (hourly cron, sysstat, apt timers) is not a change
        f, ln = _where(ctx, e)
        ce = ChangeEvent(kind, "", f"{f}:{ln}", f, ln, float(tt[i]), iso(float(tt[i])),
                         _name(ctx.table.hosts, int(ctx.table.host[e])),
                         _name(ctx.table.services, int(ctx.table.service[e])), round(before, 1))
        if routine:
            ce.kind = f"{kind} (routine: {occurrences} times in the log)"
        ce.background = bool(keys.background[k])
        out.append((before + (10 * window_s if routine else 0.0), ce, e))
    out.sort(key=lambda x: x[0])
    out = out[:_CHANGE_MAX]
    _read_texts(ctx, [e for _, _, e in out])
    for _, ce, e in out:
        ce.text = ctx.texts.get(e, "")
    return [ce for _, ce, _ in out]


_DIGITS = re.compile(r"\w*\d\w*")  # tokens holding a digit: ids, run ids, counts


def _novel_occurrence(ctx: _Ctx, evs: np.ndarray, since: float) -> int | None:
    """The latest of these events (one key, time order) after `since` whose text, digits aside, none of the
    earlier ones had; None when every recent one is a repeat."""
    if len(evs) < 2:
        return None
    _read_texts(ctx, [int(e) for e in evs])
    seen: set[str] = set()
    found = None
    for e in evs:
        e = int(e)
        text = _DIGITS.sub("#", ctx.texts.get(e, ""))
        if text and text not in seen and seen and ctx.t[e] >= since:
            found = e
        seen.add(text)
    return found


def _impact(ctx: _Ctx, onset: float, end: float, symptom: _Ch, lookback: float, chain: list[Step]) -> Impact:
    table, t = ctx.table, ctx.t
    base_lo = onset - max(lookback, 30 * 60 if ctx.timed else lookback)
    dur_min = max((end - onset) / 60.0, 1e-9) if ctx.timed else 1.0
    base_min = max((onset - base_lo) / 60.0, 1e-9) if ctx.timed else 1.0
    badkey = np.zeros(len(ctx.keys) + 1, dtype=bool)
    badkey[:-1] = ctx.keys.bad >= 0.55
    # Log rate analysis of the spike: the incident's error lines in the chain's sources vs all their lines before.
    srcs = {ctx.table.sources.index(s.file) for s in chain if s.file in ctx.table.sources}
    src_in = np.zeros(len(table.sources), dtype=bool)  # a lookup per source, not np.isin
    src_in[list(srcs) if srcs else slice(None)] = True
    # One pass a chunk of events at a time: the masks are a few MB whatever the log's length.
    n_err = n_err_before = n_req = n_rd = n_rb = n_5xx = n_4xx = n_5xx_before = 0
    lat_d: list[np.ndarray] = []
    lat_b: list[np.ndarray] = []
    spike_parts: list[np.ndarray] = []
    base_parts: list[np.ndarray] = []
    for lo, hi in columns.spans(len(table)):
        tt, st = t[lo:hi], table.status[lo:hi]
        during = (tt >= onset) & (tt <= end)
        before = (tt >= base_lo) & (tt < onset)
        is_err = badkey[ctx.keys.of[lo:hi]] | (st >= 500)
        n_err += int((is_err & during).sum())
        n_err_before += int((is_err & before).sum())
        req = st > 0
        n_req += int(req.sum())
        rd, rb = req & during, req & before
        n_rd += int(rd.sum())
        n_rb += int(rb.sum())
        n_5xx += int((rd & (st >= 500)).sum())
        n_4xx += int((rd & (st >= 400) & (st < 500)).sum())
        n_5xx_before += int((rb & (st >= 500)).sum())
        lat = table.latency[lo:hi]
        has = np.isfinite(lat)
        lat_d.append(lat[has & during])
        lat_b.append(lat[has & before])
        in_src = src_in[table.source[lo:hi]]
        spike_parts.append(np.flatnonzero(is_err & during & in_src) + lo)
        base_parts.append(np.flatnonzero(before & in_src) + lo)
    imp = Impact(summary="", symptom="")
    imp.errors = n_err
    # Four significant digits: a rate of a few lines a day is not "0/min".
    imp.errors_per_min_during = float(f"{imp.errors / dur_min:.4g}")
    imp.errors_per_min_before = float(f"{n_err_before / base_min:.4g}")
    if n_req:
        imp.requests = n_rd
        imp.status_5xx = n_5xx
        imp.status_4xx = n_4xx
        if n_rd:
            imp.share_5xx_during = round(imp.status_5xx / imp.requests, 4)
        if n_rb:
            imp.share_5xx_before = round(n_5xx_before / n_rb, 4)
    ld = np.concatenate(lat_d).astype(np.float64) if lat_d else np.zeros(0)
    lb = np.concatenate(lat_b).astype(np.float64) if lat_b else np.zeros(0)
    if len(ld) >= 3:
        imp.latency_p95_ms_during = round(float(np.percentile(ld, 95)), 1)
    if len(lb) >= 3:
        imp.latency_p95_ms_before = round(float(np.percentile(lb, 95)), 1)
    del ld, lb, lat_d, lat_b
    spike = np.concatenate(spike_parts) if spike_parts else np.zeros(0, np.int64)
    base = np.concatenate(base_parts) if base_parts else np.zeros(0, np.int64)
    del spike_parts, base_parts
    imp.explained_by = explain.field_shifts(table, spike, base)
    # What broke, in the log's words.
    k = symptom.c.key
    sc = int(ctx.keys.status_class[k]) if k >= 0 else 0
    route = _name(table.routes, int(ctx.keys.route[k])) if k >= 0 else None
    place = (route or _name(table.services, int(ctx.keys.service[k])) or _name(table.hosts, int(ctx.keys.host[k]))
             or Path(table.sources[int(ctx.keys.source[k])]).name) if k >= 0 else "the service"
    if symptom.c.kind == "latency up":
        imp.symptom = f"slow responses on {place}"
    elif symptom.c.kind == "rate down":
        imp.symptom = f"fewer successful requests on {place}"
    elif sc == 5:
        imp.symptom = f"5xx errors on {place}"
    elif sc == 4 and symptom.symptom == SYMPTOM_AUTH:
        codes = ctx.table.status[ctx.events_of(k)]
        imp.symptom = f"{401 if (codes == 401).sum() >= (codes == 403).sum() else 403} errors on {place}"
    elif sc == 4:
        imp.symptom = f"4xx errors on {place}"
    else:
        imp.symptom = f"errors in {place}"
    parts = []
    if imp.requests and imp.share_5xx_during is not None and (imp.status_5xx or imp.share_5xx_before):
        before_s = f" ({imp.share_5xx_before:.1%} before)" if imp.share_5xx_before is not None else ""
        parts.append(f"{imp.status_5xx} 5xx of {imp.requests} requests ({imp.share_5xx_during:.1%}){before_s}")
    parts.append(f"{imp.errors} error lines ({_rates(imp.errors_per_min_during, imp.errors_per_min_before)} before)"
                 if ctx.timed else f"{imp.errors} error lines")
    if imp.latency_p95_ms_during is not None and imp.latency_p95_ms_before is not None \
            and imp.latency_p95_ms_during > 1.5 * imp.latency_p95_ms_before:
        parts.append(f"p95 latency {imp.latency_p95_ms_during:.0f} ms (was {imp.latency_p95_ms_before:.0f} ms)")
    imp.summary = f"{imp.symptom}: " + "; ".join(parts)
    return imp


NO_SYMPTOM = ("no user-facing symptom in these logs (no 5xx, 4xx, slow requests or errors at a front door): a "
              "change in failures worth a look, not a confirmed outage")


def _confidence(chain: list[Step], candidates: list[Candidate], impact: Impact, symptom: _Ch) -> tuple[str, str]:
    user_facing = symptom.symptom >= 0.6 or symptom.c.kind in ("latency up", "rate down")
    if not user_facing:
        # Without anything users saw, the engine cannot say there was an incident, however clear the chain.
        return "low", NO_SYMPTOM
    top = candidates[0] if candidates else None
    # The margin to the best candidate that tells another story (another host/service than the top one).
    other = [c for c in candidates[1:] if top is None or (c.host, c.service) != (top.host, top.service)
             or (c.host is None and c.service is None)]
    margin = top.score - other[0].score if top is not None and other else 1.0
    if user_facing and len(chain) >= 2 and margin >= 0.15:
        return "high", "a user-facing symptom, a chain of changes that began together, and a clear first cause"
    if len(chain) >= 2 and (user_facing or margin >= 0.15):
        why = "candidates rank close" if margin < 0.15 else "no user-facing symptom (no 5xx / latency / error rate "\
                                                              "at a front door)"
        return "medium", why
    return "low", "a single change" if len(chain) < 2 else "no user-facing symptom and close candidates"


def _unrelated(ctx: _Ctx, bad: list[_Ch], used: set[int], incidents: list[Incident], options: TriageOptions,
               lookback: float) -> list[Unrelated]:
    keys = ctx.keys
    chain_keys = {s.key for inc in incidents for s in inc.chain}
    cand_keys = {c.key for inc in incidents for c in inc.candidates if c.key}
    out: list[tuple[float, Unrelated]] = []
    seen: set[int] = set()
    main = incidents[0] if incidents else None
    span = 30 * 60 if ctx.timed else 10 * ctx.width

    def add(k: int, e: int, reason: str, loud: float) -> None:
        if k in seen or keys.name(k) in chain_keys or keys.name(k) in cand_keys or e < 0:
            return
        seen.add(k)
        f, ln = _where(ctx, e)
        out.append((loud, Unrelated(
            text="", where=f"{f}:{ln}", file=f, line=ln, ts=float(ctx.t[e]) if ctx.timed else None,
            time=iso(float(ctx.t[e])) if ctx.timed else None,
            host=_name(ctx.table.hosts, int(ctx.table.host[e])),
            service=_name(ctx.table.services, int(ctx.table.service[e])), count=int(keys.count[k]), reason=reason,
            key=keys.name(k), incident=main.id if main else None)))

    for i, c in enumerate(bad):
        k = c.c.key
        if k < 0 or c.metric is not None or keys.name(k) in chain_keys or c.c.kind == "rate down" or i in used:
            continue
        if c.c.kind == "stopped" and keys.bad[k] < 0.3:
            continue  # an ordinary message that stopped (a phase of the work ended): not worth a line here
        if main is None or main.onset_ts is None:
            add(k, c.event, "a change with no user-facing symptom after it", float(keys.count[k]))
            continue
        b, a = _rate_around(ctx, k, main.onset_ts, span)
        steady = a <= 2.0 * b + 3 and b <= 2.0 * a + 3
        place = _name(ctx.table.services, int(keys.service[k])) or _name(ctx.table.hosts, int(keys.host[k]))
        host = _name(ctx.table.hosts, int(keys.host[k]))
        where = f"{place}{' on ' + host if host and host != place else ''}" if place else "its source"
        if c.off_path is not None:
            reason = c.off_path
        elif c.ts < main.onset_ts - lookback:
            rel = main.onset_ts - c.ts
            reason = (f"began {_dur(rel)} before {main.id}'s onset"
                      + (" and its rate did not change at it" if steady else ", well before the incident's chain"))
        elif main.end_ts is not None and c.ts > main.end_ts:
            reason = f"began after {main.id} ended"
        elif (flaps := _recurring(ctx, c, min(c.c.bin, int((main.onset_ts - ctx.t0) // ctx.width)))) >= 2:
            # only bursts before the incident: a sparse failure that comes and goes within it is not routine
            reason = f"flaps all through the log ({flaps} bursts before {main.id}'s onset): routine, not the incident"
        elif c.background:
            reason = f"routine chatter of {where}; its activity does not follow {main.id}'s symptom"
        else:
            reason = f"changed near {main.id} but its activity does not follow the symptom ({where})"
        loud = float(keys.count[k]) * (1.0 + c.bad)
        add(k, c.event, reason, loud)
    # Loud failures that never changed: steady all along.
    if main is not None and main.onset_ts is not None:
        loud_bad = np.nonzero(keys.bad >= 0.3)[0]
        for k in loud_bad[np.argsort(-keys.count[loud_bad])][:20]:
            k = int(k)
            if keys.count[k] < 10:
                break
            b, a = _rate_around(ctx, k, main.onset_ts, span)
            if a <= 2.0 * b + 3 and b <= 2.0 * a + 3 and b > 0:
                ev = ctx.events_of(k)
                add(k, int(ev[0]), f"steady all along ({int(keys.count[k])} lines; {b:.0f} in the half hour before "
                                   f"{main.id}'s onset, {a:.0f} after)", float(keys.count[k]))
    # Lines the audit detector flagged that the incidents do not explain.
    if ctx.key_flag is not None:
        for i, k in enumerate(np.nonzero(ctx.key_flag > 0)[0][:200]):
            k = int(k)
            if i % 32 == 31:
                spill.release()  # each key's first line is on a page of its own (detectors.spill)
            if keys.name(k) in chain_keys:
                continue
            ev = ctx.events_of(k)
            if len(ev) == 0:
                continue
            e = int(ev[0])
            if main is not None and main.onset_ts is not None and ctx.timed:
                rel = main.onset_ts - float(ctx.t[e])
                where = "before" if rel > 0 else "after"
                reason = (f"flagged by {ctx.detector} as unusual, {_dur(rel)} {where} {main.id}'s onset and not on "
                          f"its chain")
            else:
                reason = f"flagged by {ctx.detector} as unusual, not on an incident's chain"
            add(k, e, reason, float(ctx.key_flag[k]))
    out.sort(key=lambda x: -x[0])
    return [u for _, u in out[:options.unrelated]]


# --- text, read back from the files -------------------------------------------------------------------------

_PRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# A terminal's colour and cursor codes (ESC [ ... m), which CI runners, npm, pytest and Jenkins' ansicolor write into
# their logs: not part of the message ("\x1b[31mFAILED\x1b[0m tests/..." is "FAILED tests/...").
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def message_of(raw: str) -> str:
    """The message of a raw line, without its header (JSON lines: the message and error fields) and its colour
    codes."""
    raw = _ANSI.sub("", raw.rstrip("\r\n")) if "\x1b" in raw else raw.rstrip("\r\n")
    s = raw.strip()
    if s.startswith("{"):
        try:
            obj = json.loads(s)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            fmt = detect_format([s])
            parsed = fmt.make_parser(None)(s)
            if parsed is not None:
                return _PRINTABLE.sub(" ", parsed[4])[:300]
    fmt = detect_format([raw])
    parsed = fmt.make_parser(None)(raw)
    text = parsed[4] if parsed is not None and parsed[4] else raw
    return _PRINTABLE.sub(" ", text).strip()[:300]


def _fill_texts(ctx: _Ctx, out: Triage) -> None:
    want: dict[str, set[int]] = {}
    items: list[Any] = []
    for inc in out.incidents:
        items += inc.chain + [c for c in inc.candidates if c.kind != "metric"] + inc.changed_before
    items += out.unrelated
    for it in items:
        if it.file and it.line:
            want.setdefault(it.file, set()).add(int(it.line))
    lines: dict[tuple[str, int], str] = {}
    for src, nums in want.items():
        found = context_many(src, sorted(nums), before=0, after=1)
        for n, ctx_lines in found.items():
            text = next((t for ln, t in ctx_lines if ln == n), None)
            if text is not None:
                msg = message_of(text)
                if _TAGS_ONLY.fullmatch(msg):  # only tags: the next line is the message (as in _read_texts)
                    nxt = next((t for ln, t in ctx_lines if ln == n + 1), "")
                    if nxt.strip():
                        msg = _PRINTABLE.sub(" ", nxt).strip()[:300]
                elif msg.startswith(_TRACE_HEAD):
                    msg = _trace_end(src, n) or msg
                lines[(src, n)] = msg
    for it in items:
        if it.file and it.line and not it.text:
            it.text = lines.get((it.file, int(it.line)), "")
    for inc in out.incidents:
        for st in inc.chain:
            if st.exc and st.exc not in st.text:
                st.text = f"{st.text} [{st.exc}]"  # the exception is in the trace below the first line
        by_where = {st.where: st for st in inc.chain}
        for cand in inc.candidates:
            st = by_where.get(cand.where or "")
            if st is not None and st.exc and st.exc not in cand.text:
                cand.text = f"{cand.text} [{st.exc}]"
    for inc in out.incidents:
        inc.title = _title(inc)


_DOC_POINTER = re.compile(r"[\s;,.]*(?:for (?:more )?(?:details|information|info|help),? ?(?:please )?(?:see|visit|"
                          r"refer to|go to)|(?:please )?see(?: also)?|more info(?:rmation)?(?: at)?)\s*:?\s*"
                          r"<?https?://\S+?>?[\s.)]*$", re.I)


def _clip_middle(msg: str, width: int) -> str:
    """A long message cut in its middle, not its end: a wrapped error names its operation first and its root cause
    last ("upload failed: operation error S3: PutObject, ..., api error ExpiredToken: The provided token has
    expired"), and the title needs both. A pointer to documentation that ends it ("For more details see:
    http://wiki.apache.org/hadoop/NoRouteToHost") says nothing of what failed: it goes first."""
    if len(msg) <= width:
        return msg
    msg = _DOC_POINTER.sub("", msg) or msg
    if len(msg) <= width:
        return msg
    tail_w = (width - 5) // 2
    head = msg[:width - 5 - tail_w]
    tail = msg[-tail_w:]
    cut = head.rfind(" ")
    if cut >= len(head) // 2:
        head = head[:cut]
    m = re.search(r"[\s,;:]+", tail)
    if m is not None and m.end() < len(tail) // 2:
        tail = tail[m.end():]
    return f"{head.rstrip(' ,;:')} ... {tail}"


# The fields of a JSON payload that say what failed (ansible's "FAILED! => {...}", an API's error body), in order.
_GIST_FIELDS = ("msg", "message", "error", "reason", "exception", "stderr", "cmd", "command", "rc", "exit_code",
                "status_code")
_JSON_FIELD = re.compile(r'"(\w+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)')


def _payload_gist(msg: str) -> str:
    """A long message that ends in a JSON object, with the object told by the fields that say what failed
    ('fatal: [web-1]: FAILED! => {"changed": true, "cmd": "head /proc/meminfo && false", ..., "rc": 1, ...}' ->
    'fatal: [web-1]: FAILED! => cmd: head /proc/meminfo && false; rc: 1'); else the message as it is. The message may
    be cut short (its object then unclosed): the fields are read where they are."""
    at = msg.find("{\"")
    if at <= 0:
        return msg
    found: dict[str, str] = {}
    for m in _JSON_FIELD.finditer(msg, at):
        name, raw = m.group(1).lower(), m.group(2)
        if name in _GIST_FIELDS and name not in found:
            try:
                value = str(json.loads(raw))
            except ValueError:
                value = raw.strip('"')
            value = " ".join(value.split("\n", 1)[0].split())
            if value:
                found[name] = value[:80]
    if not found:
        return msg
    gist = "; ".join(f"{name}: {found[name]}" for name in _GIST_FIELDS if name in found)
    return f"{msg[:at].rstrip()} {gist}"


def _title(inc: Incident) -> str:
    """The failing message, where, and what it broke."""
    top = inc.candidates[0] if inc.candidates else None
    # The failing message: the one the top change precedes, else the top failing key.
    cause = next((c for c in inc.candidates if c.kind == "log" and top is not None and top.linked
                  and c.where == top.linked), None) \
        or next((c for c in inc.candidates if c.kind == "log"), None)
    step = next((s for s in inc.chain if s.role == "cause"), None) or (inc.chain[0] if inc.chain else None)
    msg = (cause.text if cause and cause.text else (step.text if step else "")) or (step.template if step else "")
    msg = msg.strip().splitlines()[0] if msg.strip() else "a change"
    msg = _clip_middle(_payload_gist(msg) if len(msg) > 110 else msg, 110)
    where = None
    if cause is not None:
        where = cause.host or cause.service or (Path(cause.file).name if cause.file else None)
    elif step is not None:
        where = step.host or step.service or Path(step.file).name
    title = f"\u201c{msg}\u201d" + (f" on {where}" if where else "")
    top = inc.candidates[0] if inc.candidates else None
    if top is not None and top.kind in ("change", "metric") and top.text:
        what = top.text.strip().splitlines()[0][:80]
        title += f" after \u201c{what}\u201d"
    symptom = inc.impact.symptom
    if symptom:
        plain = symptom.startswith(("errors in", "the run failed", "slow responses"))  # ("broke slow responses")
        title += f" \u2014 {symptom}" if plain else f" \u2014 broke {symptom}"
    return title
