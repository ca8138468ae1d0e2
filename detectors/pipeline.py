"""The audit: read → template → window → fit → score → rank → report, streaming until the scoring step.

Only compact columns (`EventTable`) are kept per event; the text of the lines a report shows is read back from
the files at the end. Progress goes to an optional hook so the CLI can draw Rich bars and the TUI its widgets.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

import detectors.classical  # noqa: F401  (registers the baseline detector)
from detectors import spill
from detectors.base import Detector, DetectorError, Evidence, LogWindow, NotEnoughData, get_detector
from detectors.events import Event, ReadStats, Skip
from detectors.eventtable import EventTable
from detectors.memory import bound_heap
from detectors.readers import context_many, expand_sources, read_events, total_bytes
from detectors.report import Anomaly, ContextLine, Report, SkipEntry, Totals, WindowVerdict
from detectors.saferegex import compile_user
from detectors.templates import TemplateStore
from detectors.windows import WindowError, Windows, WindowSpec, make_windows

# Detectors that judge a window by its nearest references fit on the earlier part of the audited logs by default
# (time-ordered), when neither --baseline nor --fit-fraction is given: fitted on everything, every window is its own
# nearest reference and nothing is found.
TIME_ORDERED_DEFAULT: dict[str, float] = {"icad": 0.5}

# Events held as Python objects while reading, before their columns go into the event table (a batch's objects
# are a few KB each: the batch, not the log, sets this part of the memory).
READ_BATCH = 1024

# progress(stage, advance, total): stage is "read" (bytes), "score" (windows) or "explain" (anomalies).
ProgressHook = Callable[[str, float, float | None], None]


@dataclass
class AuditOptions:
    """What `sleuth audit` does; every field has a CLI flag of the same name."""

    detector: str = "auto"  # a name from detectors.base.DETECTORS; auto: diff with a baseline, else classical
    window: str = "count:20:10"  # count:SIZE[:STEP] | time:SPAN[:STEP] | session:REGEX
    include: tuple[str, ...] = ()  # globs of files to read inside directories
    exclude: tuple[str, ...] = ()  # globs of files to skip inside directories
    baseline: tuple[str, ...] = ()  # logs of normal operation to fit on (default: the audited logs themselves)
    fit_fraction: float | None = None  # fit on the earliest fraction of windows instead (time-ordered split)
    top: int = 20  # anomalies shown in the report
    context: int = 3  # lines shown before and after each anomaly
    state_dir: Path | None = None  # where Drain3 state is persisted per system (None: in memory)
    system: str | None = None  # name of the persisted template state (default: from the first source's name)
    detector_options: dict[str, Any] = field(default_factory=dict)
    all_windows: bool = False  # list every window's score in the report, not only the flagged ones
    incidents: bool = True  # run the incident engine (detectors.incidents); the report leads with its incidents
    metrics: tuple[str, ...] = ()  # metric files for the incident engine (read once, as metrics, even if also a log)


@dataclass
class AuditResult:
    """The report plus what tools, the TUI and benchmarks query afterwards."""

    report: Report
    events: EventTable
    templates: TemplateStore
    windows: Windows
    scores: np.ndarray  # one per window
    line_scores: np.ndarray  # one per event: the highest score of a window that contains it
    detector: Detector
    stats: ReadStats
    triage: Any = None  # detectors.incidents.Triage when options.incidents


def system_name(sources: Sequence[str]) -> str:
    """A name for the template state of these sources: the first file's stem without trailing digits/dates."""
    for s in sources:
        if s != "-":
            stem = Path(s).name.split(".")[0]
            stem = re.sub(r"[\d._-]+$", "", stem) or stem
            return re.sub(r"[^\w.-]", "_", stem) or "default"
    return "stdin"


class _Ingest:
    """Reads sources into one event table, mining templates and session keys as it goes."""

    def __init__(self, store: TemplateStore, spec: WindowSpec, detector: Detector | None = None) -> None:
        self.store = store
        self.session_re = compile_user(spec.pattern) if spec.kind == "session" else None
        # Line-level detectors (diff) collect a key per event while it is read; they get it with `bind_lines`.
        self.detector = detector

    def read(self, paths: Sequence[str], options: AuditOptions, stats: ReadStats, stdin: BinaryIO | None,
             progress: ProgressHook | None) -> tuple[EventTable, np.ndarray | None, list[str]]:
        table = EventTable()
        sessions: list[int] = []
        keys: dict[str, int] = {}
        add = self.store.add
        session_re = self.session_re
        on_progress = (lambda n: progress("read", n, None)) if progress else None
        batch: list[Event] = []
        tids: list[int] = []
        keyer = self.detector.line_keyer() if self.detector is not None else None
        for event in read_events(paths, stats=stats, include=options.include, exclude=options.exclude,
                                 stdin=stdin, on_progress=on_progress):
            # A folded entry (a stack trace) is templated by its first line: the frames vary, the error does not.
            batch.append(event)
            tids.append(add(event.text.partition("\n")[0]))
            if keyer is not None:
                keyer.add(event)
            if len(batch) >= READ_BATCH:
                table.extend(batch, tids)
                batch, tids = [], []
            if session_re is not None:
                m = session_re.search(event.raw)
                if m is None:
                    sessions.append(-1)
                else:
                    key = m.group(0)
                    sid = keys.get(key)
                    if sid is None:
                        sid = keys[key] = len(keys)
                    sessions.append(sid)
        if batch:
            table.extend(batch, tids)
        table.freeze()
        if keyer is not None and self.detector is not None:
            self.detector.bind_lines(table, keyer.freeze())
        if session_re is None:
            return table, None, []
        return table, np.asarray(sessions, dtype=np.int64), list(keys)


def _iso(ts: float) -> str | None:
    if ts != ts:  # NaN
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def window_line_scores(windows: Windows, scores: np.ndarray, n_events: int,
                       detector: Detector | None = None, chunk: int = 5_000) -> np.ndarray:
    """Each event's score: the highest share it gets of the scores of the windows that contain it.

    With element scores (e.g. template rarity) a window's score is shared out in proportion to them, so the rare
    line of an anomalous window scores higher than its ordinary neighbours; without, every line gets it whole.
    Events in no window score the lowest window score. Works in chunks of windows to keep memory flat.
    """
    low = float(scores.min()) if len(scores) else 0.0
    out = spill.full(n_events, -np.inf, np.float64)
    offsets, members = windows.offsets, windows.members
    for lo in range(0, len(windows), chunk):
        hi = min(lo + chunk, len(windows))
        a, b = int(offsets[lo]), int(offsets[hi])
        if b <= a:
            continue
        lengths = np.diff(offsets[lo:hi + 1])
        per_member = np.repeat(scores[lo:hi], lengths)
        elem = detector.member_scores(windows.slice(lo, hi)) if detector is not None else None
        if elem is not None and len(elem) == b - a:
            nonempty = lengths > 0
            peak = np.zeros(hi - lo)
            peak[nonempty] = np.maximum.reduceat(elem, (offsets[lo:hi] - a)[nonempty])
            peak_m = np.repeat(peak, lengths)
            share = np.where(peak_m > 0, np.clip(elem / np.where(peak_m > 0, peak_m, 1), 0, 1), 1.0)
            # A share never drops a line below the lowest window score, so windows keep their order.
            per_member = low + (per_member - low) * share
        np.maximum.at(out, members[a:b], per_member)
        spill.release()
    for lo in range(0, n_events, 1 << 18):
        part = out[lo:lo + (1 << 18)]
        part[np.isinf(part)] = low
    spill.release()
    return out


def audit(paths: Sequence[str], options: AuditOptions | None = None, *, progress: ProgressHook | None = None,
          stdin: BinaryIO | None = None) -> AuditResult:
    """Audit log sources and build the ranked, evidenced report.

    Args:
        paths: Files, `.gz` files, directories, or "-" for stdin.
        options: What to do (defaults: the classical detector on sliding windows of 20 lines).
        progress: Optional hook for progress bars.
        stdin: The stream "-" reads (default: sys.stdin's buffer).

    Raises:
        DetectorError: If the detector name, the window specification or the data cannot be used
            (e.g. too few windows to fit); the message says what to change.
    """
    options = options or AuditOptions()
    started = time.perf_counter()
    bound_heap()  # freed temporaries of long logs go back to the system (detectors.memory)
    spec = WindowSpec.parse(options.window)
    name = options.detector
    if name == "auto":
        name = "diff" if options.baseline else "classical"
    detector = get_detector(name, **options.detector_options)
    if detector.line_level:
        if not options.baseline and options.fit_fraction is None:
            raise DetectorError(f"the {detector.name} detector compares the audited logs with a good run: give "
                                f"--baseline GOOD.log (or --fit-fraction 0.5 to compare with their earlier part)")
        spec = WindowSpec("count", 1, 1)  # compared line by line; the detector groups new lines into blocks
    sources = expand_sources(paths, options.include, options.exclude)
    state_path = None
    if options.state_dir is not None:
        state_path = Path(options.state_dir) / "drain3" / f"{options.system or system_name(sources or paths)}.bin"
    store = TemplateStore(state_path)
    detector.bind_templates(store.template)  # detectors that read template text (ICAD, LogICL) keep it
    ingest = _Ingest(store, spec, detector)
    if progress:
        progress("read", 0, float(total_bytes(sources)) or None)

    stats = ReadStats()
    if store.recovered:
        stats.skip(Skip(str(state_path), None, "damaged state", store.recovered))
    fit_windows: Windows | None = None
    fit_desc = "the audited logs themselves (unsupervised)"
    if options.baseline:
        base_stats = ReadStats()
        base_table, base_sessions, base_keys = ingest.read(options.baseline, options, base_stats, None, None)
        fit_windows = make_windows(base_table, spec, base_sessions, base_keys)
        fit_desc = f"baseline logs of normal operation: {', '.join(options.baseline)} ({len(base_table)} events)"

    log_paths = _without_metrics(paths, sources, options.metrics)
    table, sessions, keys = ingest.read(log_paths, options, stats, stdin, progress)
    if len(table) == 0:
        reasons = "; ".join(skip.message for skip in stats.skips[:3]) or "the inputs are empty"
        raise NotEnoughData(f"no log lines could be read from {', '.join(paths)}: {reasons}")
    if spec.kind == "session":
        _check_sessions(spec, keys, paths, len(table), "audited logs")
        if options.baseline:
            _check_sessions(spec, base_keys, options.baseline, len(base_table), "baseline")
    windows = make_windows(table, spec, sessions, keys)
    spill.release()  # between stages, the pages of the spilled columns go back (detectors.spill)
    if fit_windows is None:
        fit_windows = windows
        fraction = options.fit_fraction
        if fraction is None:
            fraction = detector.default_fit_fraction
            if fraction is None:
                fraction = TIME_ORDERED_DEFAULT.get(detector.name)
        if fraction is not None:
            firsts = windows.window_of_events()
            cut = np.quantile(firsts[firsts >= 0], fraction) if len(firsts) else 0
            fit_windows = windows.subset(np.nonzero((firsts >= 0) & (firsts <= cut))[0])
            fit_desc = f"the earliest {fraction:.0%} of the windows (time-ordered), {len(fit_windows)} windows"
            if options.fit_fraction is None:
                fit_desc += (f"; the {detector.name} default, since a window among its own references scores as "
                             f"normal: the later windows are judged against the earlier ones (--fit-fraction sets "
                             f"the share, --baseline gives normal logs instead)")
    if options.baseline:
        _check_baseline(options.baseline, base_stats, base_table, paths, stats, table)
    least = detector.min_fit_windows or (1 if detector.line_level else 2)
    too_few = f"only {len(fit_windows)} window(s) to fit on ({len(table)} events)"
    if len(fit_windows) < least and (options.baseline or not options.incidents):
        raise NotEnoughData(f"{too_few}: give more logs, a --baseline of normal logs, or a smaller --window (now "
                            f"{options.window!r})")
    if len(fit_windows) < least:
        # A log too short to learn what is normal from (a CI job's 19 lines): no anomaly is scored, and the
        # incident engine still reads every line (a failed run's verdict and what came before it need no fit).
        fit_desc = (f"nothing: {too_few}, too few to learn what is normal from, so no anomaly was scored (give a "
                    f"--baseline of a good run, or a smaller --window than {options.window!r}); the incident engine "
                    f"read every line")
        scores = np.zeros(len(windows))  # below the unfitted detector's threshold (inf)
        line_scores = window_line_scores(windows, scores, len(table))
        store.save()
        anomalies: list[Anomaly] = []
        threshold_rule = "none: the detector was not fitted"
    else:
        detector.fit(fit_windows)
        spill.release()
        fit_desc = detector.fit_description(fit_desc)
        if progress:
            progress("score", 0, float(len(windows)))
        scores = detector.score(windows)
        spill.release()
        if progress:
            progress("score", float(len(windows)), None)
        line_scores = window_line_scores(windows, scores, len(table), detector)
        store.save()

        ranked = detector.rank_anomalies(windows, scores, store, options.top, options.context, progress)
        anomalies = ranked if ranked is not None else _rank(windows, scores, detector, store, options, progress)
        threshold_rule = detector.threshold_rule()
    spill.release()
    report = Report(
        created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        sources=list(table.sources) or list(paths),
        detector=detector.name,
        windowing=detector.describe_windows() or spec.describe(),
        fit=fit_desc,
        threshold_rule=threshold_rule,
        totals=Totals(
            sources=len(table.sources), lines=stats.lines, events=stats.events, folded=stats.folded,
            skipped=sum(stats.skipped_by_reason.values()), templates=len(store.counts),
            new_templates=store.new_templates(), windows=len(windows),
            anomalous_windows=int((scores >= detector.threshold).sum()), anomalies_shown=len(anomalies),
            seconds=round(time.perf_counter() - started, 3),
        ),
        anomalies=anomalies,
        skipped=[SkipEntry(s.source, s.line, s.reason, s.message) for s in stats.skips],
        skipped_by_reason=dict(stats.skipped_by_reason),
        formats=dict(stats.formats),
        windows=window_verdicts(windows, scores, detector, store, anomalies, options.all_windows),
        windows_listed="all" if options.all_windows else "flagged",
    )
    # Scored, ranked and reported: the members array of count/time windows (4 bytes per event and window holding
    # it) is rebuilt if a tool or the TUI asks for it, and not kept through the triage.
    windows.release()
    spill.release()
    result = AuditResult(report, table, store, windows, scores, line_scores, detector, stats)
    if options.incidents:
        from detectors.incidents import triage_audit

        result.triage = triage_audit(result, metrics=list(options.metrics))
        report.incidents = result.triage.to_dict()
    return result


def _without_metrics(paths: Sequence[str], sources: Sequence[str], metrics: Sequence[str]) -> Sequence[str]:
    """The audited paths less the files also given as --metrics (a file is read once, as metrics)."""
    if not metrics:
        return paths
    import os

    mset = {os.path.realpath(m) for m in metrics}
    if not any(s != "-" and os.path.realpath(s) in mset for s in sources):
        return paths
    return [s for s in sources if s == "-" or os.path.realpath(s) not in mset]


def _check_sessions(spec: WindowSpec, keys: Sequence[str] | None, paths: Sequence[str], events: int,
                    what: str) -> None:
    """A session regex that matches no line would leave nothing to score: say so instead of "0 windows"."""
    if not keys:
        raise WindowError(f"the session regex /{spec.pattern}/ matched none of the {events} lines of the {what} "
                          f"({', '.join(paths)}); check it against a line (e.g. session:blk_-?\\d+ for HDFS block "
                          f"ids) or use --window count:20:10")


# Flagged windows beyond this many (highest scores first) are listed with their focus line but without the
# detector's own explanation, which can cost a model call per window.
EXPLAINED_WINDOWS = 2_000
VERDICT_BLOCK = 5_000  # windows whose member scores are computed at once when listing verdicts


def window_verdicts(windows: Windows, scores: np.ndarray, detector: Detector, store: TemplateStore,
                    anomalies: Sequence[Anomaly], all_windows: bool = False) -> list[WindowVerdict]:
    """Every flagged window (or every window) as a `WindowVerdict`: key, line range, score, threshold, severity,
    the line that drove the score, the top evidence and the anomaly that shows the same problem.

    Line-level detectors that group lines into blocks (`all_blocks`) list their blocks as the flagged windows.
    """
    from detectors.base import severity

    table = windows.table
    thr = float(detector.threshold)
    by_template = {a.template_id: a.id for a in anomalies}
    by_window = {a.window: a.id for a in anomalies}
    out: list[WindowVerdict] = []
    blocks = getattr(detector, "all_blocks", None)
    if blocks is not None:
        for b in sorted(blocks, key=lambda b: b.first):
            src = table.sources[int(table.source[b.first])]
            first = int(table.line[b.first])
            key = f"{src}:{first}" if first == b.last_line else f"{src}:{first}-{b.last_line}"
            explain = getattr(detector, "_nearest_evidence", None)
            evidence = explain(table, b.focus, None).summary if explain is not None else None
            out.append(WindowVerdict(key, f"{src}:{first}", f"{src}:{b.last_line}", len(b.events), b.score, thr, True,
                                     severity(b.score, thr), table.where(b.focus),
                                     store.template(int(table.template[b.focus])), evidence, by_window.get(key)))
        if not all_windows:
            return out
        flagged_events = np.zeros(len(table), dtype=bool)
        for b in blocks:
            flagged_events[b.events] = True
        which = np.array([w for w in range(len(windows)) if windows.offsets[w + 1] > windows.offsets[w]
                          and not flagged_events[windows.members[windows.offsets[w]]]], dtype=np.int64)
    else:
        which = np.arange(len(windows)) if all_windows else np.nonzero(scores >= thr)[0]
    offsets, members = windows.offsets, windows.members
    ranked = which[np.argsort(-scores[which], kind="stable")] if len(which) else which
    explained = {int(w) for w in ranked[scores[ranked] >= thr][:EXPLAINED_WINDOWS]}
    # The detector's member scores, a block of windows at a time (all at once they are the audit's largest
    # temporary on long logs): (block, its first member, its scores or None).
    block: tuple[int, int, np.ndarray | None] = (-1, 0, None)
    for w in which:
        w = int(w)
        a, b = int(offsets[w]), int(offsets[w + 1])
        if b <= a:
            continue
        if w // VERDICT_BLOCK != block[0]:
            spill.release()  # the previous block's pages of spilled columns (detectors.spill)
            lo = w // VERDICT_BLOCK * VERDICT_BLOCK
            hi = min(lo + VERDICT_BLOCK, len(windows))
            elem = detector.member_scores(windows.slice(lo, hi))
            if elem is not None and len(elem) != int(offsets[hi]) - int(offsets[lo]):
                elem = None
            block = (w // VERDICT_BLOCK, int(offsets[lo]), elem)
        elem = block[2]
        j = a + int(np.argmax(elem[a - block[1]:b - block[1]])) if elem is not None else a
        focus = int(members[j])
        score = float(scores[w])
        flagged = score >= thr
        tid = int(table.template[focus])
        evidence = None
        if w in explained:
            ev = detector.explain(windows[w], score)
            evidence = ev[0].summary if ev else None
        out.append(WindowVerdict(windows.key(w), table.where(int(members[a])), table.where(int(members[b - 1])), b - a,
                                 score, thr, flagged, severity(score, thr), table.where(focus), store.template(tid),
                                 evidence, by_template.get(tid) if flagged else None))
    return out


def _check_baseline(baseline: Sequence[str], base_stats: ReadStats, base_table: EventTable, paths: Sequence[str],
                    stats: ReadStats, table: EventTable) -> None:
    """Refuse a baseline in another log format that shares (almost) no template with the audited logs: every
    audited line would be new against it, which says nothing about the audited logs."""
    base_formats, formats = set(base_stats.formats), set(stats.formats)
    if len(base_table) == 0:
        reasons = "; ".join(skip.message for skip in base_stats.skips[:3]) or "it is empty"
        raise NotEnoughData(f"no line could be read from the baseline {', '.join(baseline)}: {reasons}")
    if not base_formats or not formats or base_formats & formats:
        return
    shared = np.isin(table.template, np.unique(base_table.template)).mean() if len(table) else 1.0
    if shared < 0.1:
        raise NotEnoughData(
            f"the baseline {', '.join(baseline)} is in another log format ({', '.join(sorted(base_formats))}) than "
            f"{', '.join(paths)} ({', '.join(sorted(formats))}), and only {shared:.0%} of the audited lines have a "
            f"template seen in it; give a baseline of the same system (a good run of the same job)")


def _rank(windows: Windows, scores: np.ndarray, detector: Detector, store: TemplateStore, options: AuditOptions,
          progress: ProgressHook | None) -> list[Anomaly]:
    """Anomalous windows, best first, one per focus template so the report shows distinct problems."""
    table = windows.table
    flagged = np.nonzero(scores >= detector.threshold)[0]
    order = flagged[np.argsort(-scores[flagged], kind="stable")]
    anomalies: list[Anomaly] = []
    shown_templates: dict[int, Anomaly] = {}
    repeats: dict[int, int] = {}
    if progress:
        progress("explain", 0, float(min(len(order), options.top)))
    for i, w in enumerate(order):
        if len(anomalies) >= options.top:
            break
        if i % 16 == 15:
            spill.release()  # a long log's windows read so far (detectors.spill)
        sample = windows[int(w)]
        if len(sample.events) == 0:
            continue
        elem = detector.element_scores(sample)
        j = int(np.argmax(elem)) if elem is not None and len(elem) else 0
        event = int(sample.events[j])
        tid = int(table.template[event])
        if tid in shown_templates:
            repeats[tid] = repeats.get(tid, 0) + 1
            continue
        verdict = detector.verdict(sample, float(scores[w]))
        rank = len(anomalies) + 1
        aid = f"A{rank}"
        evidence = _located(verdict.evidence, sample, table)
        for k, e in enumerate(evidence, 1):
            e.id = f"{aid}.e{k}"
        src, line = table.sources[int(table.source[event])], int(table.line[event])
        anomalies.append(Anomaly(
            id=aid, rank=rank, detector=verdict.detector, where=f"{src}:{line}", source=src, line=line,
            ts=None if np.isnan(table.ts[event]) else float(table.ts[event]), time=_iso(float(table.ts[event])),
            template_id=tid, template=store.template(tid), text="", score=verdict.score, threshold=verdict.threshold,
            severity=verdict.severity, window=sample.key, evidence=evidence,
            level=table.level_name(event), host=table.host_name(event),
        ))
        shown_templates[tid] = anomalies[-1]
        if progress:
            progress("explain", 1, None)
    for tid, n in repeats.items():
        a = shown_templates[tid]
        a.evidence.append(Evidence("repeat", f"{n} more anomalous window(s) have this line's template at their peak",
                                   template_id=tid, id=f"{a.id}.e{len(a.evidence) + 1}"))
    spill.release()
    _fill_text(anomalies, options.context)
    return anomalies


def _located(evidence: list[Evidence], sample: LogWindow, table: EventTable) -> list[Evidence]:
    """Give template evidence the file:line of its first line in the window, so every claim links to a line."""
    for e in evidence:
        if e.where is None and e.template_id is not None:
            hits = np.nonzero(np.asarray(sample.templates) == e.template_id)[0]
            if len(hits):
                e.where = table.where(int(sample.events[int(hits[0])]))
    return evidence


def _fill_text(anomalies: Iterable[Anomaly], context: int) -> None:
    """Read back each anomaly's line and its surroundings from the sources, one pass per source."""
    by_source: dict[str, list[Anomaly]] = {}
    for a in anomalies:
        by_source.setdefault(a.source, []).append(a)
    for source, group in by_source.items():
        found = context_many(source, [a.line for a in group], before=context, after=context)
        for a in group:
            lines = found.get(a.line, [])
            a.context = [ContextLine(n, text, n == a.line) for n, text in lines]
            a.text = next((text for n, text in lines if n == a.line), "")
