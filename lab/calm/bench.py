"""`sleuth bench calm`: detection quality, judge accuracy, throughput and adaptation latency, baselines in one run.

1. ROC-AUC per series on NAB (label: inside a NAB window) and SMD channels (label: inside a segment blamed on the
   channel), scored on the evaluation part of the split in `lab.calm.data`: CALM's streaming score without
   adaptation (`calm`) and with it (`adaptive`: judge, KEEP -> residual statistics restart + fine-tuning), the
   shipped neural forecaster's band score alone (`neural`, the detection score before issue 18), and Apache Beam's
   own rolling detectors (`apache_beam.ml.anomaly` RobustZScore and IQR, default windows) as baselines; and the
   share of evaluation points CALM flags. The scorer's defaults were chosen on SMD; NAB was not tuned on.
2. Judge accuracy on a generated labelled set of sustained level shifts vs transient spikes, per back end.
3. Throughput: points/s through the in-process core (one point at a time, and batched) and the Beam DirectRunner.
4. Adaptation latency: KEEP batch complete -> new model written, validated and serving.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab.calm.data import DEFAULT_DATA, Series, nab_series, smd_series


@dataclass
class SeriesResult:
    """AUROC of every method on one series."""

    name: str
    points: int
    positives: int
    auroc: dict[str, float] = field(default_factory=dict)
    flagged: float = 0.0  # share of evaluation points CALM flags (label-free threshold)
    adaptations: int = 0
    rejected: int = 0
    keeps: int = 0
    removes: int = 0


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC-AUC (NaN when only one class is present); NaN scores count as the lowest."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels).astype(int)
    if y.min() == y.max():
        return math.nan
    s = np.asarray(scores, dtype=np.float64)
    low = np.nanmin(s) - 1 if np.isfinite(s).any() else 0.0
    s = np.where(np.isfinite(s), s, low)
    return float(roc_auc_score(y, s))


def beam_baseline(values: np.ndarray, kind: str) -> np.ndarray:
    """Scores of Beam's rolling detector (score each point, then learn it), default window."""
    import apache_beam as beam
    from apache_beam.ml.anomaly.detectors.iqr import IQR
    from apache_beam.ml.anomaly.detectors.robust_zscore import RobustZScore

    detector = IQR() if kind == "iqr" else RobustZScore()
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        row = beam.Row(x=float(v))
        score = detector.score_one(row)
        out[i] = math.nan if score is None else score
        detector.learn_one(row)
    return out


def neural_scores(values: np.ndarray, checkpoint: Path) -> np.ndarray:
    """The shipped quantile forecaster alone: the streaming intensity of its IQR-band scores (before issue 18)."""
    from detectors.calm.detect import intensity, one_step_scores
    from detectors.calm.forecaster import load_checkpoint

    scores, _ = one_step_scores(load_checkpoint(checkpoint), values)
    return intensity(scores)


def stream_scores(series: Series, checkpoint: Path, *, adapt: bool = True, keep_batch: int = 3,
                  judge: Any = None) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Per-point band score and intensity of the CALM loop, the series streamed from its first point.

    With `adapt=False` this is the static forecaster through the very same code (ordering, gap filling, scoring).
    """
    from detectors.calm.adapt import AdaptConfig
    from detectors.calm.core import CalmConfig, CalmCore
    from detectors.calm.records import Record
    from detectors.calm.store import ModelStore

    with tempfile.TemporaryDirectory(prefix="calm-bench-") as tmp:
        store = ModelStore.open(tmp, seed_from=checkpoint)
        start = 0  # the whole history streams through (as the Beam baselines see it); only the split is scored
        core = CalmCore(store, config=CalmConfig(emit_points=True, refresh_every=10**9, adapt=adapt), judge=judge,
                        adapt=AdaptConfig(keep_batch=keep_batch))
        name = series.name
        events = core.push_many(Record(name, float(t), float(v))
                                for t, v in zip(series.timestamps[start:], series.values[start:], strict=True))
        events += core.flush()
        by_ts = {e.timestamp: (e.score, e.intensity) for e in events if e.kind == "point"}
        pairs = [by_ts.get(float(t), (math.nan, math.nan)) for t in series.timestamps]
        scores = np.array([p[0] for p in pairs], dtype=np.float64)
        levels = np.array([p[1] for p in pairs], dtype=np.float64)
        info = {"adaptations": int(core.stats["models_accepted"]), "rejected": int(core.stats["models_rejected"]),
                "keep": int(core.stats["judged_keep"]), "remove": int(core.stats["judged_remove"])}
    return scores, levels, info


def quality(console: Any, data: Path, *, limit: int | None = None, checkpoint: Path | None = None) -> list[SeriesResult]:
    """Part 1: the AUROC table."""
    from detectors.calm.store import SHIPPED

    checkpoint = checkpoint or SHIPPED
    all_series = nab_series(data) + smd_series(data)
    if limit:
        all_series = all_series[:limit]
    results = []
    for s in all_series:
        started = time.perf_counter()
        ev = np.zeros(len(s.values), bool)
        ev[s.split :] = True
        ev &= s.mask
        r = SeriesResult(s.name, int(ev.sum()), int(s.labels[ev].sum()))
        point, static, _ = stream_scores(s, checkpoint, adapt=False)
        _, adaptive, info = stream_scores(s, checkpoint)
        r.adaptations, r.rejected, r.keeps, r.removes = info["adaptations"], info["rejected"], info["keep"], info["remove"]
        r.flagged = float(np.mean(np.nan_to_num(point[ev]) > 1.0))
        r.auroc["calm"] = auroc(static[ev], s.labels[ev])
        r.auroc["adaptive"] = auroc(adaptive[ev], s.labels[ev])
        r.auroc["neural"] = auroc(neural_scores(s.values, checkpoint)[ev], s.labels[ev])
        r.auroc["beam_robust_z"] = auroc(beam_baseline(s.values, "robust_z")[ev], s.labels[ev])
        r.auroc["beam_iqr"] = auroc(beam_baseline(s.values, "iqr")[ev], s.labels[ev])
        results.append(r)
        console.print(f"  {s.name:58s} " + " ".join(f"{k}={v:.3f}" for k, v in r.auroc.items())
                      + f"  flagged={r.flagged:.2%} keep={r.keeps} remove={r.removes} models={r.adaptations}+{r.rejected}rej "
                      f"({time.perf_counter() - started:.0f}s)")
    return results


def summarize(results: Sequence[SeriesResult]) -> dict[str, Any]:
    """Means per method (series with both classes), and the adaptive >= static share."""
    scored = [r for r in results if all(math.isfinite(v) for v in r.auroc.values())]
    methods = list(scored[0].auroc) if scored else []
    out: dict[str, Any] = {"series": len(scored)}
    for group in ("all", "nab", "smd"):
        rows = [r for r in scored if group == "all" or r.name.startswith(group)]
        if rows:
            out[group] = {m: float(np.mean([r.auroc[m] for r in rows])) for m in methods}
            out[group]["n"] = len(rows)
    for group in ("all", "nab", "smd"):
        rows = [r for r in scored if group == "all" or r.name.startswith(group)]
        if rows:
            out[group]["calm_ahead_of_robust_z"] = float(np.mean([r.auroc["calm"] > r.auroc["beam_robust_z"] for r in rows]))
            out[group]["adaptive_ahead_of_robust_z"] = float(np.mean([r.auroc["adaptive"] > r.auroc["beam_robust_z"]
                                                                      for r in rows]))
    flags = [r.flagged for r in results]
    if flags:
        out["flagged_mean"], out["flagged_max"] = float(np.mean(flags)), float(np.max(flags))
    if scored:
        out["adaptive_ge_static"] = float(np.mean([r.auroc["adaptive"] >= r.auroc["calm"] - 1e-9 for r in scored]))
        adapted = [r for r in scored if r.adaptations > 0]  # the others never fine-tuned: adaptive == static
        out["adapted_series"] = len(adapted)
        out["adapted_improved"] = sum(r.auroc["adaptive"] > r.auroc["calm"] + 1e-9 for r in adapted)
        out["adapted_worse"] = sum(r.auroc["adaptive"] < r.auroc["calm"] - 1e-9 for r in adapted)
    return out


# ---- judge accuracy -----------------------------------------------------------------------------------------


def judge_cases(n: int = 60, seed: int = 0) -> list[tuple[Any, str]]:
    """A labelled set: half sustained level shifts (KEEP), half transient spikes or short bursts (REMOVE).

    Each case is a generated series (level, optional daily-like cycle, noise); the forecaster's band at the event
    gives predicted/lower/upper, as in the stream.
    """
    from detectors.calm.detect import one_step_scores
    from detectors.calm.forecaster import load_checkpoint
    from detectors.calm.judge import JudgeCase
    from detectors.calm.store import SHIPPED

    forecaster = load_checkpoint(SHIPPED)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        length, t0 = 200, 150
        sigma = rng.uniform(0.5, 2.0)
        t = np.arange(length)
        base = rng.uniform(10, 100) + (rng.uniform(0, 4) * sigma * np.sin(2 * np.pi * t / rng.uniform(40, 120))
                                       if rng.random() < 0.5 else 0)
        x = base + rng.normal(0, sigma, length)
        size = rng.uniform(4, 12) * sigma * rng.choice([-1, 1])
        if i % 2 == 0:
            x[t0:] += size  # sustained shift
            label = "KEEP"
        else:
            width = int(rng.integers(1, 4))  # a spike or a short burst
            x[t0 : t0 + width] += size
            label = "REMOVE"
        _, rows = one_step_scores(forecaster, x[: t0 + 1])
        med, _, _, lo, hi = rows[t0]
        cases.append((JudgeCase(f"generated-{i}", float(t0 * 60), float(x[t0]), float(med), float(lo), float(hi),
                                list(x[t0 - 32 : t0]), list(x[t0 + 1 : t0 + 17])), label))
    return cases


def judge_accuracy(console: Any, judges: Sequence[Any], n: int = 60) -> list[dict[str, Any]]:
    """Part 2: accuracy, KEEP recall, REMOVE recall and seconds per case of each judge."""
    cases = judge_cases(n)
    rows = []
    for judge in judges:
        started = time.perf_counter()
        answers = [judge.judge(case) for case, _ in cases]
        seconds = (time.perf_counter() - started) / len(cases)
        hits = [a.decision == label for a, (_, label) in zip(answers, cases, strict=True)]
        keep = [h for h, (_, label) in zip(hits, cases, strict=True) if label == "KEEP"]
        remove = [h for h, (_, label) in zip(hits, cases, strict=True) if label == "REMOVE"]
        fallbacks = sum("fallback" in a.judge for a in answers)
        rows.append({"judge": judge.name, "accuracy": float(np.mean(hits)), "keep_recall": float(np.mean(keep)),
                     "remove_recall": float(np.mean(remove)), "s_per_case": seconds, "fallbacks": fallbacks,
                     "keep_answers": sum(a.decision == "KEEP" for a in answers)})
        console.print(f"  judge {judge.name}: accuracy {rows[-1]['accuracy']:.2f} ({len(cases)} cases), "
                      f"{seconds:.2f}s/case, {fallbacks} fallbacks")
    return rows


# ---- throughput and latency ---------------------------------------------------------------------------------


def synthetic_stream(n: int, seed: int = 0, series: str = "cpu") -> list[Any]:
    """A generated metric stream with a spike and a level shift (records)."""
    from detectors.calm.records import Record

    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 50 + 5 * np.sin(2 * np.pi * t / 96) + rng.normal(0, 1, n)
    x[n // 4] += 25
    x[n // 2 :] += 15
    return [Record(series, 1_700_000_000.0 + 60.0 * i, float(v)) for i, v in enumerate(x)]


def throughput(console: Any, n: int = 20000, beam_points: int = 20000, series: int = 4) -> dict[str, float]:
    """Part 3: points/s (wall and CPU) through the core (one by one; batched) and through Beam's DirectRunner.

    The Beam figure is for `series` series of `beam_points / series` points each (the DoFn batches per series);
    it includes the pipeline's start-up, which is measured separately on a 200-point run and reported.
    """
    from detectors.calm.core import CalmConfig, CalmCore
    from detectors.calm.store import ModelStore

    records = synthetic_stream(n)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="calm-tp-") as tmp:
        core = CalmCore(ModelStore.open(tmp), config=CalmConfig(adapt=False))
        started, cpu = time.perf_counter(), time.process_time()
        for r in records:
            core.push(r)
        core.flush()
        out["inprocess_streaming_pps"] = n / (time.perf_counter() - started)
        out["inprocess_streaming_cpu_s"] = time.process_time() - cpu
        # Points per CPU second: on a shared, loaded machine the wall figure says more about the neighbours.
        out["inprocess_streaming_pps_cpu"] = n / max(out["inprocess_streaming_cpu_s"], 1e-9)
        core = CalmCore(ModelStore.open(tmp), config=CalmConfig(adapt=False))
        started = time.perf_counter()
        core.push_many(records)
        core.flush()
        out["inprocess_batched_pps"] = n / (time.perf_counter() - started)
        try:
            from detectors.calm.pipeline import run_records

            per = beam_points // series
            sub = [r for k in range(series) for r in synthetic_stream(per, seed=k, series=f"s{k}")]
            started = time.perf_counter()
            run_records(sub[:200], model_dir=Path(tmp), adapt=False)
            out["beam_startup_s"] = time.perf_counter() - started
            started, cpu = time.perf_counter(), time.process_time()
            events = run_records(sub, model_dir=Path(tmp), adapt=False)
            wall = time.perf_counter() - started
            out["beam_direct_pps"] = len(sub) / wall
            out["beam_direct_cpu_s"] = time.process_time() - cpu
            out["beam_direct_pps_cpu"] = len(sub) / max(out["beam_direct_cpu_s"], 1e-9)
            out["beam_direct_points"] = float(len(sub))
            out["beam_anomaly_events"] = float(sum(e.get("kind") == "anomaly" for e in events))
        except Exception as error:  # the benchmark reports what it could not measure
            console.print(f"  beam throughput not measured: {type(error).__name__}: {error}")
    console.print("  throughput: " + ", ".join(f"{k} {v:,.1f}" if k.endswith("_s") else f"{k} {v:,.0f}"
                                               for k, v in out.items()))
    return out


def adaptation_latency(console: Any, runs: int = 5) -> dict[str, float]:
    """Part 4: seconds from a full KEEP batch to the new version serving (fine-tune + validate + write + load)."""
    from detectors.calm.adapt import AdaptConfig
    from detectors.calm.core import CalmConfig, CalmCore
    from detectors.calm.store import ModelStore

    seconds = []
    for seed in range(runs):
        with tempfile.TemporaryDirectory(prefix="calm-lat-") as tmp:
            core = CalmCore(ModelStore.open(tmp), config=CalmConfig(), adapt=AdaptConfig(keep_batch=1))
            core.push_many(synthetic_stream(1200, seed))
            core.flush()
            seconds += core.adapt_latencies
    out = {"median_s": statistics.median(seconds) if seconds else math.nan,
           "max_s": max(seconds) if seconds else math.nan, "n": len(seconds)}
    console.print(f"  adaptation latency: median {out['median_s']:.2f}s, max {out['max_s']:.2f}s over {out['n']} fine-tunes")
    return out


def run_bench(
    console: Any = None,
    *,
    data: Path = DEFAULT_DATA,
    limit: int | None = None,
    llms: Sequence[Any] = (),
    embedded: bool = True,
    judge_cases_n: int = 60,
    parts: Sequence[str] = ("quality", "judge", "throughput", "latency"),
) -> dict[str, Any]:
    """Run the benchmark and print its tables.

    Args:
        console: A rich Console (default: a new one).
        data: ../shared/data.
        limit: Only the first N series (smoke runs).
        llms: Extra `StructuredLLM` back ends to measure as judges (e.g. agent's vLLM back end).
        embedded: Also measure SmolLM2-135M through llama-cpp-python.
        judge_cases_n: Size of the generated judge set.
        parts: Which parts to run.

    Returns:
        Every figure, for scripts.
    """
    import torch
    from rich.console import Console
    from rich.table import Table

    from detectors.calm.judge import LlamaCppJSON, LLMJudge, RuleJudge

    torch.set_num_threads(1)
    console = console or Console()
    report: dict[str, Any] = {}
    if "quality" in parts:
        console.print("[bold]CALM quality[/] (ROC-AUC per series, evaluation split only)")
        results = quality(console, data, limit=limit)
        summary = summarize(results)
        report["quality"] = {"series": [r.__dict__ for r in results], "summary": summary}
        table = Table(title="ROC-AUC, mean over series")
        table.add_column("set")
        methods = ["calm", "adaptive", "neural", "beam_robust_z", "beam_iqr"]
        for m in methods + ["calm > robust_z", "n"]:
            table.add_column(m, justify="right")
        for group in ("nab", "smd", "all"):
            if group in summary:
                g = summary[group]
                label = group + (" (tuning set)" if group == "smd" else "")
                table.add_row(label, *(f"{g[m]:.3f}" for m in methods), f"{g['calm_ahead_of_robust_z']:.0%}", str(g["n"]))
        console.print(table)
        console.print(f"CALM flags {summary.get('flagged_mean', math.nan):.2%} of evaluation points on average (most: "
                      f"{summary.get('flagged_max', math.nan):.2%}); adaptive >= calm on "
                      f"{summary.get('adaptive_ge_static', math.nan):.0%} of series; of the "
                      f"{summary.get('adapted_series', 0)} series that fine-tuned at least once, "
                      f"{summary.get('adapted_improved', 0)} improved and {summary.get('adapted_worse', 0)} got worse "
                      "(goals: NAB mean >= 0.65, ahead of RobustZScore on >= 70 % of series)")
        console.print("calm/adaptive: the streaming intensity (mean clipped robust z of the last 192 points of the "
                      "seasonal residual); neural: the shipped forecaster's IQR-band intensity; baselines: "
                      "apache_beam.ml.anomaly RobustZScore and IQR, default windows. Scorer defaults chosen on SMD.")
    if "judge" in parts:
        judges: list[Any] = [RuleJudge()]
        judges += [LLMJudge(llm) for llm in llms]
        if embedded:
            try:
                judges.append(LLMJudge(LlamaCppJSON(), timeout_s=120))
            except Exception as error:  # report, do not fail the other parts
                console.print(f"  embedded judge not measured: {type(error).__name__}: {error}")
        report["judge"] = judge_accuracy(console, judges, judge_cases_n)
    if "throughput" in parts:
        report["throughput"] = throughput(console)
    if "latency" in parts:
        report["latency"] = adaptation_latency(console)
    return report
