"""CALM on Apache Beam (`sleuth watch`): the same per-series logic as `core`, as a stateful, keyed DoFn.

    lines ─► ParseRecord ─┬─► (series, record) ─► CalmSeriesDoFn (state: ordered buffer + SeriesState;
          (bad lines ─────┤                        timers: end of input, idle flush)  ◄── model side input
           counted)       │                                   │ KEEP segments         (WatchFilePattern on the
                          │                                   ▼                        model directory, streaming)
                          │                        AdaptDoFn (one key: batches KEEPs, fine-tunes, writes the
                          │                                   next version atomically into the model directory)
                          ▼                                   │
                     JSON-lines events ◄───────────────────────┘

The loop closes through the model directory, as in the CALM paper: the adapt stage writes a version, the
scoring stage sees it through a side input (`apache_beam.ml.inference.utils.WatchFilePattern`, on flink/dataflow)
or through its own check of the directory (every `refresh_every` points and every `watch_s` seconds: direct and
prism, where the Python DirectRunner cannot feed a side input to this stateful DoFn in streaming mode), and only
swaps to a version that loads and matches its sha256, so a half-written file never serves. In a batch run the
adapt stage runs after scoring, so new versions serve the next run; with --follow they serve within seconds.

Why not RunInference for the forecast: CALM's forecast for a point needs that series' ordered, gap-filled
context, and its result feeds that series' pending judgments, so forecasting lives inside the keyed state
machine; RunInference's model-refresh mechanism (WatchFilePattern side input) is what is reused.

Runners: `direct` (default; batch for files read to the end, streaming with `--follow`), `prism` (needs the
prism binary, downloaded by Beam on first use or given with --prism_location), and `flink` / `dataflow` with
their usual pipeline options (see detectors/calm/INTEGRATION.md).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.runners.worker.statecache import CacheAware
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindow, TimestampedValue

from detectors.calm.adapt import AdaptConfig, Adapter, KeepSegment
from detectors.calm.core import CalmConfig, CalmCore, CalmEvent, OrderBuffer, SeriesState
from detectors.calm.judge import Judge, RuleJudge
from detectors.calm.records import BadRecord, Record, parse_line
from detectors.calm.residual import ResidualConfig
from detectors.calm.store import ModelStore

log = logging.getLogger(__name__)
NAMESPACE = "calm"


@dataclass
class JudgeSpec:
    """A picklable recipe for the judge (LLM clients are built on the worker, not shipped)."""

    kind: str = "rule"  # rule | embedded | openai
    model: str | None = None  # GGUF path (embedded) or model name (openai)
    url: str | None = None  # OpenAI-compatible base URL (vLLM)
    timeout_s: float = 30.0

    def build(self) -> Judge:
        """The judge; an LLM judge falls back to the rule judge per call when the model fails."""
        if self.kind == "rule":
            return RuleJudge()
        from detectors.calm.judge import LLMJudge

        if self.kind == "embedded":
            from detectors.calm.judge import LlamaCppJSON

            return LLMJudge(LlamaCppJSON(self.model), timeout_s=self.timeout_s)
        raise ValueError(f"unknown judge kind {self.kind!r}; pass a detectors.llm.LLM to CalmCore for other back ends")


@dataclass
class WatchOptions:
    """What `sleuth watch` passes down."""

    model_dir: Path
    config: CalmConfig = field(default_factory=CalmConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    judge: JudgeSpec = field(default_factory=JudgeSpec)
    follow: bool = False  # streaming: keep reading appended lines
    poll_s: float = 1.0  # how often followed files are read
    watch_s: float = 5.0  # how often the model directory is checked (side input)
    stop_after_s: float | None = None  # streaming: stop after this long (None: until interrupted)
    idle_s: float = 30.0  # streaming: flush a quiet series' buffer and pending judgments after this long
    out: str | None = None  # events file (default stdout)
    runner: str = "direct"
    batch: int = 1024  # points of one series processed together by the scoring DoFn
    beam_args: list[str] = field(default_factory=list)
    # Model refresh through Beam's WatchFilePattern side input. Off on the Python DirectRunner: in streaming mode
    # there (Beam 2.77) its side input never became ready in our runs, so the DoFn's own directory check is used.
    watch_side_input: bool | None = None  # None: on for flink/dataflow, off for direct/prism


# ---- parsing ------------------------------------------------------------------------------------------------


class ParseRecord(beam.DoFn):
    """A batch of (source, line number, text) (from BatchElements) -> one (series, [Record, ...]) per series in it,
    in line order, and a bad-input event per unusable line on the 'bad' output."""

    def __init__(self, event_time: bool = True) -> None:
        self.event_time = event_time  # batch: records carry their own timestamps; streaming: arrival time
        self.bad = Metrics.counter(NAMESPACE, "bad_input")
        self.records = Metrics.counter(NAMESPACE, "records")

    def process(self, batch: Sequence[tuple[str, int, str]]) -> Iterable[Any]:
        by_series: dict[str, list[Record]] = {}
        defaults: dict[str, str] = {}
        for source, line, text in batch:
            series = defaults.get(source)
            if series is None:
                series = defaults[source] = Path(source).stem if source not in ("-", "<stdin>") else "default"
            parsed = parse_line(text, source=source, line=line, default_series=series)
            if parsed is None:
                continue
            if isinstance(parsed, BadRecord):
                self.bad.inc()
                Metrics.counter(NAMESPACE, f"bad_{parsed.reason}".replace("bad_bad_", "bad_")).inc()
                event = CalmEvent("bad_input", message=f"{parsed.source}:{parsed.line}: {parsed.message}; skipped",
                                  data={"reason": parsed.reason, "text": parsed.text})
                yield beam.pvalue.TaggedOutput("bad", event.to_json())
                continue
            by_series.setdefault(parsed.series, []).append(parsed)
        for name, records in by_series.items():
            self.records.inc(len(records))
            if self.event_time:
                yield TimestampedValue((name, records), max(r.ts for r in records))
            else:
                yield (name, records)


# ---- the per-series stateful DoFn ---------------------------------------------------------------------------


class _Weight:
    """An object whose size is a given estimate (what Beam's state cache adds up)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __sizeof__(self) -> int:
        return self.size


@dataclass
class _KeyState(CacheAware):
    buffer: OrderBuffer
    series: SeriesState | None
    model_version: int = -1
    # Made with the state, not while it is weighed: objsize skips ids of module globals it saw, and an object
    # made during the walk could reuse the id of a temporary it saw there (it then weighed 56 bytes).
    weight: _Weight = field(default_factory=lambda: _Weight(0), repr=False, compare=False)

    def get_referents_for_cache(self) -> list[Any]:
        """Beam's state cache weighs a cached value by walking every object it holds (objsize): a series' state
        is thousands of floats in deques (the ordered buffer, the context, the scorer's history and residuals),
        walked on every write, once per batch. Its weight is estimated instead: the containers' own sizes (O(1))
        and 24 bytes per float they hold (the context and the scorer's history hold the same value objects, the
        buffer's recent timestamps and their set the same timestamps), 100 per waiting point."""
        b = self.buffer
        size = sys.getsizeof(b._recent) + sys.getsizeof(b._recent_set) + sys.getsizeof(b.waiting)
        floats = len(b._recent)
        size += 100 * len(b.heap)
        s = self.series
        if s is not None:
            sc = s.scorer
            parts = (s.values, s.diffs, sc.hist, sc.resid, sc.zs)
            size += sum(sys.getsizeof(p) for p in parts)
            floats += max(len(s.values), len(sc.hist)) + len(s.diffs) + len(sc.resid) + len(sc.zs)
            floats += sum(len(seg.before) + len(seg.after) for seg in s.pending)
        self.weight.size = size + 24 * floats + 2048
        return [self.weight]


class CalmSeriesDoFn(beam.DoFn):
    """Ordered buffer, gap filling, forecast, IQR detection and judgment for one series (the key).

    Emits JSON event lines on the main output and `KeepSegment`s on the 'keep' output.
    """

    STATE = ReadModifyWriteStateSpec("calm", PickleCoder())
    END = TimerSpec("end", TimeDomain.WATERMARK)
    IDLE = TimerSpec("idle", TimeDomain.WATERMARK)  # event time: the series' own clock + idle_s

    def __init__(self, model_dir: str, config: CalmConfig, judge: JudgeSpec, streaming: bool, idle_s: float,
                 watch_s: float = 5.0) -> None:
        self.model_dir = model_dir
        self.watch_s = watch_s
        self._checked = 0.0
        self.config = config
        self.judge_spec = judge
        self.streaming = streaming
        self.idle_s = idle_s
        self.core: CalmCore | None = None
        self.model_signal: str | None = None
        self.counters = {k: Metrics.counter(NAMESPACE, k) for k in
                         ("points", "anomalies", "judged_keep", "judged_remove", "late", "duplicate", "model_swaps",
                          "model_files_skipped", "long_gaps", "filled")}

    def setup(self) -> None:
        store = ModelStore.open(self.model_dir, seed_from=None)
        self.keeps: list[KeepSegment] = []
        self.core = CalmCore(store, config=replace(self.config, adapt=False), judge=self.judge_spec.build(),
                             keep_sink=self.keeps.append)

    def _run(self, state: Any, fn: Any) -> Iterable[Any]:
        core = self.core
        assert core is not None
        ks: _KeyState | None = state.read()
        before = dict(core.stats)
        core.buffers, core.states = {}, {}
        if ks is not None:
            core.buffers[ks.buffer.name] = ks.buffer
            if ks.series is not None:
                core.states[ks.series.name] = ks.series
        events, name = fn(core)
        buffer = core.buffers.get(name)
        if buffer is not None:
            state.write(_KeyState(buffer, core.states.get(name), core.version))
        for key, counter in self.counters.items():
            delta = core.stats[key] - before.get(key, 0)
            if delta:
                counter.inc(delta)
        for event in events:
            if event.kind != "end":
                yield event.to_json()
        while self.keeps:
            yield beam.pvalue.TaggedOutput("keep", ("adapt", self.keeps.pop(0)))

    def process(
        self,
        element: tuple[str, Iterable[Record]],
        state: Any = beam.DoFn.StateParam(STATE),
        end: Any = beam.DoFn.TimerParam(END),
        idle: Any = beam.DoFn.TimerParam(IDLE),
        timestamp: Any = beam.DoFn.TimestampParam,
    ) -> Iterable[Any]:
        yield from self._process(element, None, state, end, idle, timestamp)

    def _process(self, element: tuple[str, Iterable[Record]], model_signal: Any, state: Any, end: Any, idle: Any,
                 timestamp: Any) -> Iterable[Any]:
        # One batch of a series' records (from ParseRecord): the state is read and written once per batch and the
        # batch goes through the core in time order, as `push_many` does in-process.
        name, batch = element
        records = sorted(batch, key=lambda r: r.ts)
        end.set(GlobalWindow().max_timestamp())
        if self.streaming:
            idle.set(timestamp + self.idle_s)  # arrival time (streaming elements are stamped when read)
        signal = getattr(model_signal, "model_id", model_signal)

        def step(core: CalmCore) -> tuple[list[CalmEvent], str]:
            events: list[CalmEvent] = []
            if signal is not None and signal != self.model_signal:
                self.model_signal = signal
                events += core.check_models()
            elif time.monotonic() - self._checked > self.watch_s:
                self._checked = time.monotonic()
                events += core.check_models()
            core.buffers.setdefault(name, OrderBuffer(name))
            return events + core.push_many(records), name

        yield from self._run(state, step)

    @on_timer(END)
    def on_end(self, key: str = beam.DoFn.KeyParam, state: Any = beam.DoFn.StateParam(STATE)) -> Iterable[Any]:
        """Input is complete: release everything and judge what is pending with the points it has."""
        yield from self._run(state, lambda core: (core.flush_series(key), key))

    @on_timer(IDLE)
    def on_idle(self, key: str = beam.DoFn.KeyParam, state: Any = beam.DoFn.StateParam(STATE)) -> Iterable[Any]:
        """The series went quiet: stop waiting for late points and judge with what arrived (max wait)."""
        yield from self._run(state, lambda core: (core.flush_series(key), key))


class CalmSeriesWatchDoFn(CalmSeriesDoFn):
    """`CalmSeriesDoFn` with the model directory watched by a side input (WatchFilePattern's ModelMetadata)."""

    def process(  # type: ignore[override]
        self,
        element: tuple[str, Iterable[Record]],
        model_signal: Any,
        state: Any = beam.DoFn.StateParam(CalmSeriesDoFn.STATE),
        end: Any = beam.DoFn.TimerParam(CalmSeriesDoFn.END),
        idle: Any = beam.DoFn.TimerParam(CalmSeriesDoFn.IDLE),
        timestamp: Any = beam.DoFn.TimestampParam,
    ) -> Iterable[Any]:
        yield from self._process(element, model_signal, state, end, idle, timestamp)


class AdaptDoFn(beam.DoFn):
    """One key: accumulate KEEP segments; at `keep_batch`, fine-tune the serving version and write the next one."""

    KEEPS = BagStateSpec("keeps", PickleCoder())

    def __init__(self, model_dir: str, config: AdaptConfig) -> None:
        self.model_dir = model_dir
        self.config = config

    def setup(self) -> None:
        self.store = ModelStore.open(self.model_dir, seed_from=None)
        self.adapter = Adapter(self.store, self.config)

    def process(self, element: tuple[str, KeepSegment], keeps: Any = beam.DoFn.StateParam(KEEPS)) -> Iterable[str]:
        keeps.add(element[1])
        batch = list(keeps.read())
        if len(batch) < self.config.keep_batch:
            return
        base = self.store.latest()
        if base is None:
            return
        keeps.clear()
        started = time.perf_counter()
        result = self.adapter.fine_tune(base, batch)
        Metrics.counter(NAMESPACE, "models_accepted" if result.accepted else "models_rejected").inc()
        state = "written" if result.accepted else "rejected"
        yield CalmEvent("model", model_version=result.version,
                        message=f"fine-tuned v{result.version:04d} from v{result.parent:04d} on {len(batch)} KEEP "
                        f"segment(s) {state} in {time.perf_counter() - started:.2f}s: {result.reason}",
                        data={"state": state, "version": result.version, "adapt_seconds": round(result.seconds, 3)}
                        ).to_json()


# ---- sources and sinks --------------------------------------------------------------------------------------


def _expand_sources(sources: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files (directories expanded, sorted) and one-line problems for sources that cannot be read."""
    files, problems = [], []
    for source in sources:
        if source == "-":
            continue
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".csv", ".jsonl", ".json", ".txt", ".log"))
            if not found:
                problems.append(f"{source}: directory has no .csv/.jsonl/.json/.txt files")
            files += found
        elif path.is_file():
            if _looks_binary_file(path):
                problems.append(f"{source}: looks binary (NUL bytes or mostly non-text in its first 8 KB); pass a "
                                f"CSV or JSON-lines metrics file")
            else:
                files.append(path)
        else:
            problems.append(f"{source}: no such file or directory")
    return files, problems


def _looks_binary_file(path: Path) -> bool:
    """The audit's binary test on a file's first bytes (a gzip file is not binary here: it is refused later)."""
    from detectors.readers import BINARY_PROBE_BYTES, _looks_binary

    try:
        with open(path, "rb") as handle:
            return _looks_binary(handle.read(BINARY_PROBE_BYTES))
    except OSError:
        return False  # unreadable: reported when it is read


def read_lines(sources: Sequence[str], stdin: Any = None) -> Iterable[tuple[str, int, str]]:
    """(source, line number, text) of every line of every source, read to the end (bounded runs)."""
    files, _ = _expand_sources(sources)
    if "-" in sources:
        for i, text in enumerate(stdin or sys.stdin, 1):
            yield ("<stdin>", i, text)
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for i, text in enumerate(handle, 1):
                    yield (str(path), i, text)
        except OSError as error:
            log.warning("cannot read %s: %s", path, error)


def _read_source(named: tuple[str, str]) -> Iterator[tuple[str, int, str]]:
    """(source name, path) -> (source name, line number, text) of each line; an unreadable file is logged."""
    name, path = named
    if not path:
        return
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for i, text in enumerate(handle, 1):
                yield (name, i, text)
    except OSError as error:
        log.warning("cannot read %s: %s", path, error)


class TailFiles(beam.DoFn):
    """On each tick, the lines appended to each file since the last tick (offsets kept in state)."""

    OFFSETS = ReadModifyWriteStateSpec("offsets", PickleCoder())

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def process(self, element: Any, offsets: Any = beam.DoFn.StateParam(OFFSETS)) -> Iterable[Any]:
        seen: dict[str, tuple[int, int, str]] = offsets.read() or {}
        for path in self.paths:
            pos, line_no, partial = seen.get(path, (0, 0, ""))
            try:
                size = os.path.getsize(path)
                if size < pos:  # truncated or rotated: start again
                    pos, partial = 0, ""
                with open(path, "rb") as handle:
                    handle.seek(pos)
                    chunk = handle.read()
            except OSError:
                continue
            pos += len(chunk)
            text = partial + chunk.decode("utf-8", errors="replace")
            *complete, partial = text.split("\n")
            for line in complete:
                line_no += 1
                yield (path, line_no, line)
            seen[path] = (pos, line_no, partial)
        offsets.write(seen)

    def get_allowed_timestamp_skew(self) -> Any:
        from apache_beam.utils.timestamp import Duration

        return Duration(seconds=10**9)


class _Sink(beam.DoFn):
    """Append JSON lines to a local file or stdout (Direct/Prism runs)."""

    _lock = threading.Lock()
    # Direct/Prism-loopback runs write from this process: count here too, since metrics updated in timer
    # callbacks' bundles are not always reported back.
    counts: Counter[str] = Counter()
    # The newest event's data time and model version, with the wall time it was written (sleuth watch --metrics-port).
    last: dict[str, float] = {}

    def __init__(self, out: str | None) -> None:
        self.out = out

    def process(self, line: str) -> Iterator[str]:  # emits nothing; Beam checks that process returns an iterable
        event = json.loads(line)
        kind = event.get("kind", "?")
        keys = [f"events_{kind}"]
        if kind == "judgment":
            keys.append(f"events_judgment_{str(event.get('decision', '?')).lower()}")
        for key in keys:
            Metrics.counter(NAMESPACE, key).inc()
        with self._lock:
            self.counts.update(keys)
            if isinstance(event.get("timestamp"), (int, float)):
                self.last.update(timestamp=float(event["timestamp"]), written=time.time())
            if isinstance(event.get("model_version"), int):
                self.last["model_version"] = float(event["model_version"])
            if self.out:
                with open(self.out, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            else:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
        yield from ()


def _spool_stdin(stream: Any, path: Path) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        for line in stream:
            handle.write(line)
            handle.flush()


# ---- building and running -----------------------------------------------------------------------------------


def build(p: beam.Pipeline, lines: beam.PCollection, opts: WatchOptions, streaming: bool) -> beam.PCollection:
    """Attach the CALM transforms to a PCollection of (source, line, text); returns the JSON event lines."""
    model_dir = str(opts.model_dir)
    # Bundles: lines are parsed in batches of up to `batch` within a bundle (BatchElements flushes at the bundle's
    # end, so a followed file's new lines are never held back), one (series, records) element per series and batch:
    # the stateful scoring DoFn reads and writes a series' state once per batch, not once per point. (The stateful
    # variant, max_batch_duration_secs, breaks PeriodicImpulse on the Python DirectRunner in streaming mode.)
    batches = lines | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=opts.batch)
    parsed = batches | "Parse" >> beam.ParDo(ParseRecord(event_time=not streaming)).with_outputs("bad", main="records")
    args = (model_dir, opts.config, opts.judge, streaming, opts.idle_s, opts.watch_s)
    keyed = parsed.records | "KeyBySeries" >> beam.Map(lambda kv: kv).with_output_types(
        beam.typehints.KV[str, beam.typehints.Any])  # type: ignore[misc]
    if streaming and opts.watch_side_input:
        from apache_beam.ml.inference.utils import WatchFilePattern

        signal = p | "WatchModels" >> WatchFilePattern(os.path.join(model_dir, "calm-v*.json"), interval=opts.watch_s)
        scored = keyed | "CALM" >> beam.ParDo(CalmSeriesWatchDoFn(*args), beam.pvalue.AsSingleton(signal)).with_outputs(
            "keep", main="events")
    else:
        # No side input: the DoFn checks the model directory itself every `refresh_every` points (and the Python
        # DirectRunner mistakes a side input for the main input of a stateful DoFn in streaming mode).
        scored = keyed | "CALM" >> beam.ParDo(CalmSeriesDoFn(*args)).with_outputs("keep", main="events")
    outputs = [parsed.bad, scored.events]
    if opts.config.adapt:
        keeps = scored.keep | "KeyKeeps" >> beam.Map(lambda kv: kv).with_output_types(beam.typehints.KV[str, beam.typehints.Any])  # type: ignore[misc]
        outputs.append(keeps | "Adapt" >> beam.ParDo(AdaptDoFn(model_dir, opts.adapt)))
    return outputs | "Events" >> beam.Flatten()


def pipeline_options(opts: WatchOptions, streaming: bool) -> Any:
    """Beam options from the runner name and the user's extra flags."""
    from apache_beam.options.pipeline_options import PipelineOptions

    runners = {"direct": "DirectRunner", "prism": "PrismRunner", "flink": "FlinkRunner", "dataflow": "DataflowRunner"}
    if opts.runner not in runners:
        raise ValueError(f"unknown runner {opts.runner!r}; choose one of: {', '.join(runners)}")
    flags = [f"--runner={runners[opts.runner]}", *opts.beam_args]
    if streaming:
        flags.append("--streaming")
    if opts.runner == "direct" and not streaming:
        flags.append("--direct_num_workers=1")
    return PipelineOptions(flags, save_main_session=False)


def run(sources: Sequence[str], opts: WatchOptions, stdin: Any = None) -> dict[str, int]:
    """Run the pipeline to completion (or until `stop_after_s` / Ctrl-C when following). Returns the counters."""
    ModelStore.open(opts.model_dir)  # seed with the shipped checkpoint when empty
    streaming = opts.follow
    if opts.watch_side_input is None:
        opts = replace(opts, watch_side_input=opts.runner in ("flink", "dataflow"))
    options = pipeline_options(opts, streaming)
    p = beam.Pipeline(options=options)
    if streaming:
        from apache_beam.transforms.periodicsequence import PeriodicImpulse
        from apache_beam.utils.timestamp import Timestamp

        files, _ = _expand_sources(sources)
        paths = [str(f) for f in files]
        if "-" in sources:
            spool = Path(tempfile.mkdtemp(prefix="sleuth-stdin-")) / "stdin.csv"
            spool.touch()
            threading.Thread(target=_spool_stdin, args=(stdin or sys.stdin, spool), daemon=True).start()
            paths.append(str(spool))
        stop = Timestamp.now() + (opts.stop_after_s if opts.stop_after_s else 10**9)
        lines = (p | "Tick" >> PeriodicImpulse(start_timestamp=Timestamp.now(), stop_timestamp=stop,
                                               fire_interval=opts.poll_s)
                 | "Key" >> beam.Map(lambda t: ("tail", t))
                 | "Tail" >> beam.ParDo(TailFiles(paths)))
    else:
        # The files are read by a FlatMap on the workers (as ReadAllFromText does): a Create of every line made
        # Beam infer the type of each of them (3 s of 20,000 lines) and ship them all inside the pipeline.
        files, _ = _expand_sources(sources)
        named = [(str(f), str(f)) for f in files]
        if "-" in sources:
            spool = Path(tempfile.mkdtemp(prefix="sleuth-stdin-")) / "stdin.csv"
            with open(spool, "w", encoding="utf-8") as handle:
                handle.writelines(stdin or sys.stdin)
            named.insert(0, ("<stdin>", str(spool)))
        lines = (p | "Sources" >> beam.Create(named or [("<empty>", "")])
                 | "Read" >> beam.FlatMap(_read_source).with_output_types(tuple[str, int, str]))
    events = build(p, lines, opts, streaming)
    events | "Write" >> beam.ParDo(_Sink(opts.out))
    _Sink.counts.clear()
    result = p.run()
    result.wait_until_finish()
    counters: dict[str, int] = {}
    try:
        for c in result.metrics().query()["counters"]:
            if c.key.metric.namespace == NAMESPACE:
                counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + int(c.committed or c.attempted or 0)
    except Exception:  # some runners do not report metrics back; the event stream has everything
        pass
    for key, value in _Sink.counts.items():
        counters[key] = max(counters.get(key, 0), value)
    return counters


def run_records(records: Sequence[Record], *, model_dir: Path, adapt: bool = False, config: CalmConfig | None = None,
                runner: str = "direct") -> list[dict[str, Any]]:
    """Run already-parsed records through the Beam pipeline (bounded) and return the events (tests, bench)."""
    with tempfile.TemporaryDirectory(prefix="calm-beam-") as tmp:
        src = Path(tmp) / "input.csv"
        src.write_text("".join(f"{r.ts},{r.value!r},{r.series}\n" for r in records))
        out = Path(tmp) / "events.jsonl"
        cfg = replace(config or CalmConfig(), adapt=adapt)
        run([str(src)], WatchOptions(model_dir=model_dir, config=cfg, out=str(out), runner=runner))
        return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def watch_main(
    sources: Sequence[str],
    *,
    runner: str = "direct",
    model_dir: Path | None = None,
    follow: bool = False,
    out: str | None = None,
    judge: str = "rule",
    judge_model: str | None = None,
    allowed_lateness_s: float = 0.0,
    keep_batch: int = 3,
    adapt: bool = True,
    stop_after_s: float | None = None,
    emit_points: bool = False,
    beam_args: Sequence[str] = (),
    min_deviation: float = 0.0,
    z_flag: float = 6.0,
    stdin: Any = None,
    stderr: Any = None,
) -> int:
    """`sleuth watch SOURCE...`: run CALM on Beam and write JSON-lines events. Returns the exit code.

    Exit codes: 0 no anomaly, 1 anomalies found, 2 usage error (no readable source, unknown runner).
    """
    from detectors.calm.store import default_model_dir

    err = stderr or sys.stderr
    files, problems = _expand_sources(sources)
    for problem in problems:
        print(f"sleuth watch: {problem}; skipped", file=err)
    if not files and "-" not in sources:
        print("Error: no readable source; give files, directories or - for stdin", file=err)
        return 2
    opts = WatchOptions(
        model_dir=Path(model_dir) if model_dir else default_model_dir(),
        config=CalmConfig(allowed_lateness_s=allowed_lateness_s, adapt=adapt, emit_points=emit_points,
                          residual=ResidualConfig(min_deviation=min_deviation, z_flag=z_flag)),
        adapt=AdaptConfig(keep_batch=keep_batch),
        judge=JudgeSpec(kind=judge, model=judge_model),
        follow=follow, stop_after_s=stop_after_s, out=out, runner=runner, beam_args=list(beam_args),
    )
    try:
        counters = run(sources, opts, stdin=stdin)
    except ValueError as error:
        print(f"Error: {error}", file=err)
        return 2
    except KeyboardInterrupt:
        print("sleuth watch: interrupted", file=err)
        return 130
    except Exception as error:  # the CLI edge: a remote/portable runner that cannot start is a message
        if runner == "direct":
            raise  # in-process: a failure here is a bug, let it show
        hint = {"prism": "; give a local binary with --prism_location=PATH or use --runner direct",
                "flink": "; check --flink_master and that the job server is reachable",
                "dataflow": "; check --project, --region, --temp_location and your credentials"}.get(runner, "")
        print(f"Error: the {runner} runner failed: {str(error)[:300]}{hint}", file=err)
        return 2
    # Counts come from the events written (metrics updated inside timer callbacks are not reported by every runner).
    shown = {k.removeprefix("events_"): v for k, v in counters.items() if k.startswith("events_")}
    shown |= {k: v for k, v in counters.items() if k in ("records", "bad_input", "late", "duplicate", "long_gaps", "filled")}
    if counters.get("records", 0) == 0 and not any(k.startswith("events_") for k in counters):
        print("sleuth watch: empty stream: no records were read", file=err)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(shown.items()))
    print(f"sleuth watch: {summary or 'no counters reported by the runner'}", file=err)
    return 1 if shown.get("anomaly", 0) else 0
