"""`sleuth watch`: stream metrics through CALM on Apache Beam."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import Runner, err, fail, settings


def watch(
    ctx: typer.Context,
    sources: Annotated[list[str], typer.Argument(help="CSV / JSON-lines files (timestamp,value[,series]), directories, - for stdin, or prom://HOST:PORT/QUERY?since=2h.")],
    runner: Annotated[Runner, typer.Option("--runner", help="Beam runner; extra --flags after the sources go to Beam as its pipeline options.")] = Runner.direct,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep reading lines appended to the files (streaming).")] = False,
    out: Annotated[str | None, typer.Option("--out", help="Write JSON-lines events here (default stdout).")] = None,
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="CALM model versions (default <data dir>/calm/models).")] = None,
    judge: Annotated[str, typer.Option("--judge", help="rule (default) or embedded (SmolLM2 via llama.cpp).")] = "rule",
    lateness: Annotated[float, typer.Option("--allowed-lateness", help="Seconds a point may arrive late and still be re-ordered.")] = 0.0,
    keep_batch: Annotated[int, typer.Option("--keep-batch", help="KEEP segments per fine-tune.")] = 3,
    no_adapt: Annotated[bool, typer.Option("--no-adapt", help="Never fine-tune.")] = False,
    min_deviation: Annotated[float, typer.Option("--min-deviation", min=0.0, help="Never flag a point closer than this to its expected value, in the series' own units (e.g. 5 for CPU %). The automatic minimum (10 % of the recent 5-95 % range, the window's widest deviation) applies too.")] = 0.0,
    z_flag: Annotated[float, typer.Option("--z", min=1.0, help="Robust standard deviations from the expected value needed to flag a point.")] = 6.0,
    points: Annotated[bool, typer.Option("--points", help="Also emit every scored point with its band (for charts).")] = False,
    stop_after: Annotated[float | None, typer.Option("--stop-after", help="With --follow: stop after this many seconds.")] = None,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", min=1, max=65535, help="Expose the watcher's counters (events, anomalies, KEEP/REMOVE, model version, lag) for Prometheus at http://127.0.0.1:PORT/metrics.")] = None,
) -> None:
    """Stream metrics through CALM: forecast bands, anomalies, KEEP/REMOVE judgments, live model updates.

    Unknown --flags are Apache Beam pipeline options (e.g. --flink_master=host:8081), passed to Beam as they are."""
    from detectors.calm.pipeline import watch_main
    from detectors.sources import SourceError
    from detectors.sources.prom import is_prom, materialize_metrics

    conf = settings({})
    models = model_dir or conf.data_dir / "calm" / "models"
    if any(is_prom(s) for s in sources):
        if follow:
            raise fail("--follow reads files as they grow; a prom:// query is read once (drop --follow, or re-run "
                       "it with since=...)")
        try:
            sources = materialize_metrics(sources)  # prom://HOST:PORT/QUERY -> a metric CSV of its query_range
        except SourceError as error:
            raise fail(str(error)) from None
    if metrics_port is not None:
        from detectors.calm.exporter import start_exporter

        try:
            start_exporter(metrics_port, model_dir=models)
        except ImportError:
            raise fail("--metrics-port needs the 'prometheus-client' package; pip install prometheus-client") from None
        except OSError as error:
            raise fail(f"--metrics-port {metrics_port}: cannot listen ({error.strerror or error}); pick another "
                       f"port") from None
        err.print(f"metrics at http://127.0.0.1:{metrics_port}/metrics", highlight=False)
    raise typer.Exit(watch_main(
        sources, runner=runner.value, model_dir=models, follow=follow,
        out=out, judge=judge, allowed_lateness_s=lateness, keep_batch=keep_batch, adapt=not no_adapt,
        emit_points=points, stop_after_s=stop_after, beam_args=list(ctx.args), min_deviation=min_deviation,
        z_flag=z_flag,
    ))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(watch)
