"""CALM in-process: ordered buffers, gap filling, forecast bands, judging, adaptation and model swaps.

The Beam pipeline (`detectors.calm.pipeline`) runs the same `SeriesState` per key inside a stateful DoFn, so the
two produce the same anomalies for the same ordered input; this module is what tests and the throughput
comparison use, and what `sleuth watch --runner inprocess` runs.

Per series, a point goes through:
1. ordering: points wait in a buffer until the watermark (newest timestamp seen minus `allowed_lateness_s`)
   passes them, then leave in time order; a point older than one already released is *late*: reported in a
   `late` event (with its value, so nothing is lost) and not scored; a repeated timestamp is a `duplicate`;
2. gaps: the step is learned from the data; up to `max_fill` missing steps are interpolated (the filled points
   extend the context but are never flagged); a longer gap restarts the context;
3. expectation and score (`detectors.calm.residual`): a robust, per-series residual (daily seasonality when the
   series has it, median/MAD over the last 1000 points), its z and a smoothed ranking score (`intensity`);
4. detection: a deviation beyond max(6 robust sd, a minimum in the series' own units, the widest deviation of
   the last window) -> an `anomaly` event; flagged points close together form one anomaly segment;
5. judgment: once `after` more points arrived (or event time passed the segment's deadline) the judge answers
   KEEP or REMOVE with a reason -> a `judgment` event;
6. adaptation: a KEEP makes the residual statistics restart from the shift (the new level is learnt, not
   flagged for a whole window); KEEP segments also go to the `Adapter`: a full batch fine-tunes a new version of
   the quantile forecaster (the agent's forecast-band tool and the audit's series detector), written atomically
   -> a `model` event.
"""

from __future__ import annotations

import heapq
import json
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from detectors.base import Evidence, Verdict, severity
from detectors.calm.adapt import AdaptConfig, Adapter, AdaptResult, KeepSegment
from detectors.calm.forecaster import PatchForecaster, QuantileForecaster
from detectors.calm.judge import Judge, JudgeCase, RuleJudge
from detectors.calm.records import BadRecord, Record
from detectors.calm.residual import ResidualConfig, RobustResidualScorer
from detectors.calm.store import ModelStore


@dataclass(frozen=True)
class CalmConfig:
    """Knobs of the streaming detector (the model's shape lives in ForecasterConfig)."""

    allowed_lateness_s: float = 0.0  # how far behind the newest timestamp a point may arrive and still be ordered
    max_fill: int = 12  # missing steps interpolated; a longer gap restarts the context
    before: int = 32  # points before an anomaly shown to the judge
    after: int = 16  # points after it the judge waits for
    max_wait_steps: float = 48.0  # event-time bound on that wait, in steps (judged with fewer points after it)
    merge_gap: int = 3  # flagged points at most this many points apart form one anomaly segment
    residual: ResidualConfig = field(default_factory=ResidualConfig)  # the scorer's knobs (z_flag, min_deviation)
    replay: int = 1024  # recent points kept per series (context, judge, fine-tuning data)
    refresh_every: int = 256  # points between checks of the model directory for a newer version
    emit_points: bool = False  # also emit a `point` event per scored point (band for charts; the benchmark)
    adapt: bool = True


def _finite(value: Any) -> Any:
    """NaN and infinities become None (JSON has no NaN), inside dicts and lists too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@dataclass(slots=True)
class CalmEvent:
    """One line of the JSON-lines output."""

    kind: str  # point | anomaly | judgment | model | late | duplicate | bad_input | gap | end
    series: str = ""
    timestamp: float | None = None
    value: float | None = None
    predicted: float | None = None
    lower: float | None = None
    upper: float | None = None
    score: float | None = None  # |deviation| / half-width of the flagging band: flagged above 1
    anomaly_id: str | None = None
    decision: str | None = None
    reason: str | None = None
    judge: str | None = None
    model_version: int | None = None
    filled: bool | None = None
    intensity: float | None = None  # mean clipped z of the recent points (the ranking score)
    message: str | None = None
    data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Without empty fields, with an ISO `time` beside the epoch timestamp."""
        out = {k: _finite(v) for k, v in asdict(self).items() if v is not None}
        if self.timestamp is not None and math.isfinite(self.timestamp):
            out["time"] = datetime.fromtimestamp(self.timestamp, UTC).isoformat().replace("+00:00", "Z")
        return out

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(self.to_dict(), allow_nan=False, default=str)

    def verdict(self) -> Verdict | None:
        """An `anomaly` or `judgment` event as the common Verdict type (with its evidence)."""
        if self.kind not in ("anomaly", "judgment") or self.score is None:
            return None
        evidence = [Evidence(
            kind="residual",
            summary=f"{self.series}: {self.value:.4g} outside the expected band [{self.lower:.4g}, {self.upper:.4g}] "
            f"(expected {self.predicted:.4g})",
            weight=float(self.score),
            data={"value": self.value, "predicted": self.predicted, "lower": self.lower, "upper": self.upper},
        )]
        if self.decision:
            evidence.append(Evidence(kind="judge", summary=f"{self.decision}: {self.reason} ({self.judge})",
                                     data={"decision": self.decision, "judge": self.judge}))
        return Verdict(detector="calm", sample=f"{self.series}@{self.to_dict().get('time', self.timestamp)}",
                       score=float(self.score), threshold=1.0, label="anomaly",
                       severity=severity(float(self.score), 1.0), evidence=evidence)


@dataclass
class Segment:
    """Flagged points close together, judged once."""

    id: str
    series: str
    ts: float
    value: float
    predicted: float
    lower: float
    upper: float
    score: float
    start_pos: int
    last_pos: int
    before: list[float]
    deadline: float
    after: list[float] = field(default_factory=list)
    count: int = 1
    decision: str | None = None


class OrderBuffer:
    """Points of one series waiting for the watermark; released in timestamp order."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.heap: list[tuple[float, int, float]] = []
        self.waiting: set[float] = set()
        self.released_ts = -math.inf
        self.max_ts = -math.inf  # newest timestamp seen: this series' watermark is max_ts - allowed lateness
        self._seq = 0
        self._recent: deque[float] = deque(maxlen=2048)  # released timestamps, to tell duplicates from late points
        self._recent_set: set[float] = set()

    def add(self, ts: float, value: float) -> str | None:
        """Queue a point; returns "late" or "duplicate" when it cannot be queued."""
        if ts in self.waiting or ts == self.released_ts or ts in self._recent_set:
            return "duplicate"
        if ts < self.released_ts:
            return "late"
        heapq.heappush(self.heap, (ts, self._seq, value))
        self._seq += 1
        self.waiting.add(ts)
        self.max_ts = max(self.max_ts, ts)
        return None

    def release(self, watermark: float) -> list[tuple[float, float]]:
        """Every waiting point at or before `watermark`, oldest first."""
        out = []
        while self.heap and self.heap[0][0] <= watermark:
            ts, _, value = heapq.heappop(self.heap)
            self.waiting.discard(ts)
            out.append((ts, value))
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(ts)
            self._recent_set.add(ts)
        if out:
            self.released_ts = out[-1][0]
        return out


class SeriesState:
    """Everything CALM remembers about one series between points (picklable: Beam keeps it in state)."""

    def __init__(self, name: str, config: CalmConfig, context: int) -> None:
        self.name = name
        self.config = config
        self.context = context
        self.values: deque[float] = deque(maxlen=max(config.replay, context + config.before))
        self.pos = 0
        self.last_ts: float | None = None
        self.diffs: deque[float] = deque(maxlen=32)
        self.open: Segment | None = None
        self.pending: list[Segment] = []
        self.segments = 0
        self.scorer = RobustResidualScorer(config.residual)
        self._step: float | None = None
        self._step_age = 0  # gaps seen since the step was last computed

    @property
    def step(self) -> float | None:
        """The sampling step, the median of recent gaps (None until two points were seen); recomputed every few
        gaps while it settles, then every 16 (a per-point median was a third of the per-point cost)."""
        if self.diffs and (self._step is None or self._step_age >= (1 if len(self.diffs) < 32 else 16)):
            ordered = sorted(self.diffs)
            m = len(ordered)
            self._step = ordered[m // 2] if m % 2 else 0.5 * (ordered[m // 2 - 1] + ordered[m // 2])
            self._step_age = 0
        return self._step

    def expand(self, ts: float, value: float) -> tuple[list[tuple[float, float, bool]], list[CalmEvent]]:
        """The point, preceded by interpolated points for a short gap; a long gap restarts the context."""
        events: list[CalmEvent] = []
        out: list[tuple[float, float, bool]] = []
        step = self.step
        if self.last_ts is not None:
            gap = ts - self.last_ts
            if step and gap > 1.5 * step:
                missing = int(round(gap / step)) - 1
                if missing <= self.config.max_fill:
                    prev = self.values[-1] if self.values else value
                    for j in range(1, missing + 1):
                        frac = j / (missing + 1)
                        out.append((self.last_ts + j * step, prev + frac * (value - prev), True))
                    events.append(CalmEvent("gap", self.name, ts, message=f"gap of {gap:.0f}s: {missing} missing "
                                            f"point(s) interpolated", data={"filled": missing}))
                else:
                    events.append(CalmEvent("gap", self.name, ts, message=f"long gap of {gap:.0f}s ({missing} "
                                            f"missing points > max_fill {self.config.max_fill}): context restarted",
                                            data={"restart": True, "missing": missing}))
                    out.append((math.nan, math.nan, True))  # restart marker
            else:
                self.diffs.append(gap)
                self._step_age += 1
        out.append((ts, value, False))
        return out, events


def _sd(z: float) -> str:
    """The robust z as words (a series that barely moved before gives absurd z values: say so instead)."""
    return f"{z:.1f} robust sd" if z < 1000 else "the series barely moved before it"


def _seg_event(kind: str, seg: Segment, version: int | None, **extra: Any) -> CalmEvent:
    return CalmEvent(kind, seg.series, seg.ts, seg.value, seg.predicted, seg.lower, seg.upper, seg.score,
                     seg.id, model_version=version, **extra)


class CalmCore:
    """The CALM loop over many series, in-process.

    Args:
        store: The model directory (new versions are written and picked up there). Ignored when `forecaster`
            is given.
        config: Streaming knobs.
        judge: Who decides KEEP/REMOVE (default: the rule judge).
        adapt: Adaptation knobs; None or `config.adapt=False` turns fine-tuning off.
        forecaster: A fixed forecaster (TimesFM, tests) instead of the store's latest version.
        on_event: Called with each event as it is made (besides being returned).
    """

    def __init__(
        self,
        store: ModelStore | None = None,
        *,
        config: CalmConfig | None = None,
        judge: Judge | None = None,
        adapt: AdaptConfig | None = None,
        forecaster: QuantileForecaster | None = None,
        on_event: Callable[[CalmEvent], None] | None = None,
        keep_sink: Callable[[KeepSegment], None] | None = None,
    ) -> None:
        self.config = config or CalmConfig()
        self.store = store
        self.judge = judge or RuleJudge()
        self._fixed = forecaster
        self.on_event = on_event
        self.keep_sink = keep_sink  # Beam: KEEP segments go to the adapt stage instead of the local adapter
        self.adapter = Adapter(store, adapt) if (store is not None and self.config.adapt and forecaster is None) else None
        self.stats: Counter[str] = Counter()
        self.buffers: dict[str, OrderBuffer] = {}
        self.states: dict[str, SeriesState] = {}
        self.adaptations: list[AdaptResult] = []
        self.adapt_latencies: list[float] = []
        self._since_refresh = 0
        self._skipped_seen: set[str] = set()
        self.forecaster: QuantileForecaster = self._load_initial()
        self.version: int = getattr(getattr(self.forecaster, "info", None), "version", 0)

    def _load_initial(self) -> QuantileForecaster:
        if self._fixed is not None:
            return self._fixed
        if self.store is None:
            raise ValueError("CalmCore needs a model store or a forecaster")
        model = self.store.latest()
        if model is None:
            raise ValueError(f"no usable CALM model in {str(self.store.directory)!r}; run `sleuth train calm` "
                             "or open the store with the shipped checkpoint")
        return model

    # ---- input -------------------------------------------------------------------------------------------

    def push(self, item: Record | BadRecord) -> list[CalmEvent]:
        """One parsed record (or a bad one, which is counted and reported); events released by it."""
        events = self._accept(item)
        if isinstance(item, Record):
            events += self._release(self.config.allowed_lateness_s, only=item.series)
        return self._emit(events)

    def push_many(self, items: Iterable[Record | BadRecord]) -> list[CalmEvent]:
        """Many records, released (and forecast in batches) once at the end: the fast path for files."""
        events: list[CalmEvent] = []
        for item in items:
            events += self._accept(item)
        events += self._release(self.config.allowed_lateness_s)
        return self._emit(events)

    def flush(self) -> list[CalmEvent]:
        """End of stream: release everything, judge what is pending with the points it has, report totals."""
        events: list[CalmEvent] = []
        for name in list(self.buffers):
            events += self.flush_series(name, emit=False)
        if self.stats["points"] == 0 and self.stats["input"] == 0:
            events.append(CalmEvent("end", message="empty stream: no records were read"))
        else:
            events.append(CalmEvent("end", message="end of stream", data=dict(self.stats)))
        return self._emit(events)

    def _emit(self, events: list[CalmEvent]) -> list[CalmEvent]:
        if self.on_event:
            for event in events:
                self.on_event(event)
        return events

    def _accept(self, item: Record | BadRecord) -> list[CalmEvent]:
        self.stats["input"] += 1
        if isinstance(item, BadRecord):
            self.stats[f"bad_{item.reason}" if not item.reason.startswith("bad_") else item.reason] += 1
            return [CalmEvent("bad_input", message=f"{item.source}:{item.line}: {item.message}; skipped",
                              data={"reason": item.reason, "text": item.text})]
        buffer = self.buffers.get(item.series) or self.buffers.setdefault(item.series, OrderBuffer(item.series))
        problem = buffer.add(item.ts, item.value)
        if problem == "late":
            self.stats["late"] += 1
            return [CalmEvent("late", item.series, item.ts, item.value,
                              message=f"point arrived after newer points were scored (later than the allowed "
                              f"lateness of {self.config.allowed_lateness_s:.0f}s); reported, not scored")]
        if problem == "duplicate":
            self.stats["duplicate"] += 1
            return [CalmEvent("duplicate", item.series, item.ts, item.value,
                              message="repeated timestamp; the first value was kept")]
        return []

    # ---- processing --------------------------------------------------------------------------------------

    def _release(self, lateness: float, only: str | None = None) -> list[CalmEvent]:
        """Release each series' points up to its watermark (newest timestamp - `lateness`) and judge what is due."""
        events: list[CalmEvent] = []
        if only is not None:
            one = self.buffers.get(only)
            chosen = [(only, one)] if one is not None else []
        else:
            chosen = list(self.buffers.items())
        for name, buffer in chosen:
            watermark = buffer.max_ts - lateness
            points = buffer.release(watermark)
            state = self.states.get(name)
            if points:
                state = state or self.states.setdefault(name, SeriesState(name, self.config, self.config_context))
                events += self.process(state, points)
            if state is not None:
                events += self._judge_due(state, watermark)
        return events

    def flush_series(self, name: str, *, emit: bool = True) -> list[CalmEvent]:
        """Stop waiting on one series: release all its points and judge its pending anomalies now."""
        events = self._release(-math.inf, only=name)
        state = self.states.get(name)
        if state is not None:
            events += self._judge_due(state, math.inf)
        return self._emit(events) if emit else events

    @property
    def config_context(self) -> int:
        """Context length of the serving model."""
        return self.forecaster.config.context

    def process(self, state: SeriesState, points: list[tuple[float, float]]) -> list[CalmEvent]:
        """Score ordered points of one series (what the Beam DoFn calls too)."""
        events: list[CalmEvent] = []
        items: list[tuple[float, float, bool]] = []
        for ts, value in points:
            expanded, gap_events = state.expand(ts, value)
            state.last_ts = ts
            events += gap_events
            items += expanded
        self._maybe_refresh(events)
        if state.scorer.step_s is None and len(state.diffs) >= 8:
            state.scorer.set_step(state.step)
        for ts, value, filled in items:
            if math.isnan(ts):
                events += self._restart(state)
                continue
            events += self._step(state, ts, value, filled)
        self._since_refresh += len(items)
        return events

    def _restart(self, state: SeriesState) -> list[CalmEvent]:
        events = self._judge_due(state, math.inf)
        state.values.clear()
        state.scorer.reset()
        state.open = None
        self.stats["long_gaps"] += 1
        return events

    def _step(self, state: SeriesState, ts: float, value: float, filled: bool) -> list[CalmEvent]:
        events: list[CalmEvent] = []
        cfg = self.config
        for seg in state.pending:
            if len(seg.after) < cfg.after:
                seg.after.append(value)
        if filled:
            self.stats["filled"] += 1
        else:
            self.stats["points"] += 1
        res = state.scorer.push(value)
        if not math.isnan(res.z) and not filled:
            expected, half = res.expected, res.half_width
            lo, hi = expected - half, expected + half
            score = abs(res.deviation) / half
            if cfg.emit_points:
                events.append(CalmEvent("point", state.name, ts, value, expected, lo, hi, score,
                                        model_version=self.version, intensity=res.intensity,
                                        data={"z": round(res.z, 3)}))
            if res.flagged:
                events += self._flag(state, ts, value, expected, lo, hi, score, res.z)
                events[-1].intensity = res.intensity
        state.values.append(value)
        state.pos += 1
        events += self._judge_due(state, ts)
        return events

    def _flag(self, state: SeriesState, ts: float, value: float, med: float, lo: float, hi: float, score: float,
              z: float) -> list[CalmEvent]:
        cfg = self.config
        self.stats["anomalies"] += 1
        seg = state.open
        if seg is not None and state.pos - seg.last_pos <= cfg.merge_gap:
            seg.last_pos = state.pos
            seg.count += 1
            if seg.decision is None and score > seg.score:
                # The judge looks at the segment's worst point, the points after *it*, and the points before the
                # segment began (a shift's own points are not its "before").
                seg.ts, seg.value, seg.predicted, seg.lower, seg.upper, seg.score = ts, value, med, lo, hi, score
                seg.after = []
                seg.deadline = ts + cfg.max_wait_steps * (state.step or 1.0)
            event = CalmEvent("anomaly", state.name, ts, value, med, lo, hi, score, seg.id, model_version=self.version,
                              decision=seg.decision, message=f"part of anomaly {seg.id} (point {seg.count})")
            return [event]
        state.segments += 1
        step = state.step or 1.0
        seg = Segment(
            id=f"{state.name}#{state.segments}", series=state.name, ts=ts, value=value, predicted=med, lower=lo,
            upper=hi, score=score, start_pos=state.pos, last_pos=state.pos,
            before=list(state.values)[-cfg.before:], deadline=ts + cfg.max_wait_steps * step,
        )
        state.open = seg
        state.pending.append(seg)
        self.stats["segments"] += 1
        return [_seg_event("anomaly", seg, self.version, data={"z": round(z, 2), "deviation": value - med},
                           message=f"{value:.4g} is {value - med:+.4g} from the expected {med:.4g}, {score:.1f}x the "
                           f"flagging margin of ±{(hi - lo) / 2:.4g} in the series' units ({_sd(z)})")]

    def _judge_due(self, state: SeriesState, now: float) -> list[CalmEvent]:
        if not state.pending:
            return []
        events: list[CalmEvent] = []
        due = [s for s in state.pending if len(s.after) >= self.config.after or now >= s.deadline]
        for seg in due:
            state.pending.remove(seg)
            events += self._judge(state, seg)
        return events

    def _judge(self, state: SeriesState, seg: Segment) -> list[CalmEvent]:
        case = JudgeCase(seg.series, seg.ts, seg.value, seg.predicted, seg.lower, seg.upper, seg.before, seg.after)
        judgment = self.judge.judge(case)
        seg.decision = judgment.decision
        self.stats[f"judged_{judgment.decision.lower()}"] += 1
        events = [_seg_event("judgment", seg, self.version, decision=judgment.decision, reason=judgment.reason,
                             judge=judgment.judge, data={"points_after": len(seg.after), "flagged_points": seg.count,
                                                         **case.stats()})]
        if judgment.decision == "KEEP" and self.config.adapt:
            # A sustained shift: the residual statistics restart from it, so the new level is learnt.
            state.scorer.rebase(since=state.pos - seg.start_pos)
            self.stats["rebased"] += 1
        if judgment.decision == "KEEP" and (self.adapter is not None or self.keep_sink is not None):
            base = self.forecaster if isinstance(self.forecaster, PatchForecaster) else None
            keep = KeepSegment(seg.series, seg.ts, seg.id, np.asarray(state.values, dtype=np.float64))
            if self.keep_sink is not None:
                self.keep_sink(keep)
                return events
            assert self.adapter is not None
            started = time.perf_counter()
            result = self.adapter.add(keep, base)
            if result is not None:
                events += self._adapted(result)
                if result.accepted:
                    # KEEP batch complete -> fine-tuned, validated, written, loaded and serving.
                    self.adapt_latencies.append(time.perf_counter() - started)
        return events

    def _adapted(self, result: AdaptResult) -> list[CalmEvent]:
        self.adaptations.append(result)
        if not result.accepted:
            self.stats["models_rejected"] += 1
            return [CalmEvent("model", model_version=self.version, message=f"fine-tuned v{result.version:04d} "
                              f"rejected ({result.reason}); kept in rejected/ for inspection, v{self.version:04d} "
                              "keeps serving", data={"state": "rejected", "version": result.version})]
        self.stats["models_accepted"] += 1
        events: list[CalmEvent] = []
        self._maybe_refresh(events, force=True)
        if events:
            events[-1].message = (f"now serving v{self.version:04d}, fine-tuned from v{result.parent:04d} on "
                                  f"{result.segments} KEEP segment(s) in {result.seconds:.2f}s: {result.reason}")
            events[-1].data = {**(events[-1].data or {}), "adapt_seconds": round(result.seconds, 3)}
        return events

    def _maybe_refresh(self, events: list[CalmEvent], force: bool = False) -> None:
        """Pick up a newer complete version from the store; report files that were skipped."""
        if self.store is None or self._fixed is not None:
            return
        if not force and self._since_refresh < self.config.refresh_every:
            return
        self._since_refresh = 0
        latest = self.store.latest()
        for name, why in self.store.skipped.items():
            if name not in self._skipped_seen:
                self._skipped_seen.add(name)
                self.stats["model_files_skipped"] += 1
                events.append(CalmEvent("model", model_version=self.version,
                                        message=f"model file {name} ignored: {why}; v{self.version:04d} keeps serving",
                                        data={"state": "skipped", "file": name}))
        if latest is not None and latest.info.version != self.version:
            old = self.version
            self.forecaster = latest
            self.version = latest.info.version
            self.stats["model_swaps"] += 1
            events.append(CalmEvent("model", model_version=self.version,
                                    message=f"now serving v{self.version:04d} (was v{old:04d})",
                                    data={"state": "serving", "version": self.version, "previous": old}))

    def check_models(self) -> list[CalmEvent]:
        """Look at the model directory now (a watcher calls this on a timer)."""
        events: list[CalmEvent] = []
        self._maybe_refresh(events, force=True)
        return self._emit(events)
