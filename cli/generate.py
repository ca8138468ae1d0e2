"""`sleuth generate` and `sleuth demo`: synthetic incident logs from the lab's generator (not in the wheel)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.common import RichHook, err, fail, lab, progress_bar, settings


def generate(
    out: Annotated[Path | None, typer.Argument(help="File to write the synthetic log to.")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1000, help="Number of lines (an incident needs 1000).")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same bytes).")] = 0,
    fmt: Annotated[str, typer.Option("--fmt", help="iso, syslog or jsonl.")] = "iso",
    metrics: Annotated[Path | None, typer.Option("--metrics", help="Also write a metrics CSV here.")] = None,
    incidents: Annotated[int | None, typer.Option("--incidents", help="Instead: write N multi-source incident folders "
                                                  "(syslog, nginx, JSON, Java, Python logs, metrics.csv; "
                                                  "answer.json each) under --out.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for --incidents.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="With --incidents: only this kind (default: the kinds "
                                             "in turn).")] = None,
) -> None:
    """Write a realistic synthetic log with an injected incident (and its labels beside it, as OUT.truth.json),
    or with --incidents N --out DIR, N realistic multi-source incident folders with their answer keys."""
    if incidents is not None:
        from cli.incidents import generate_incident_folders

        if out_dir is None:
            raise fail("--incidents needs --out DIR (the folder to write the incident folders in)")
        generate_incident_folders(incidents, out_dir, kind, seed, None if lines == 20_000 else lines)
        return
    if out is None:
        raise fail("give the file to write (sleuth generate OUT), or --incidents N --out DIR")
    synth = lab("synth")
    if fmt not in ("iso", "syslog", "jsonl"):
        raise fail(f"unknown --fmt {fmt!r}; choose iso, syslog or jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    truth = synth.generate_logs(out, lines=lines, seed=seed, fmt=fmt)
    synth.write_truth(truth, str(out) + ".truth.json")
    err.print(f"wrote {out}: {truth.lines} lines, {len(truth.anomalous_lines)} injected incident lines "
              f"({', '.join(i.kind for i in truth.incidents)})")
    if metrics is not None:
        path, labels = synth.generate_metrics(metrics, seed=seed)
        err.print(f"wrote {path}: series {', '.join(labels)}")


def demo(
    workdir: Annotated[Path, typer.Option("--dir", help="Where to write the sample incident log.")] = Path("sleuth-demo"),
    lines: Annotated[int, typer.Option("--lines", "-n", min=1000, help="Lines in the sample log.")] = 20_000,
) -> None:
    """Generate a sample incident log, audit it, print the report and how much of the incident it found."""
    synth = lab("synth")
    from detectors.pipeline import AuditOptions
    from detectors.pipeline import audit as run_audit
    from detectors.render import print_report

    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "incident.log"
    truth = synth.generate_logs(log, lines=lines, seed=7)
    synth.write_truth(truth, str(log) + ".truth.json")
    err.print(f"generated {log} ({truth.lines} lines; incident: {', '.join(i.kind for i in truth.incidents)})")
    with progress_bar() as bar:
        result = run_audit([str(log)], AuditOptions(state_dir=None), progress=RichHook(bar))
    conf = settings({})
    report = result.report
    if conf.explain:
        from agent.cli_support import explain_audit

        err.print("explaining the incident (no model: the incident engine's words)…" if conf.backend == "none"
                  else f"explaining the incident with the {conf.backend} model…")
        report = explain_audit(result, [str(log)], conf)
    print_report(report, Console())
    found = {a.line for a in result.report.anomalies} & truth.anomalous_lines
    flagged = int((result.line_scores >= result.detector.threshold).sum())
    err.print(f"\n{len(found)} of the {len(result.report.anomalies)} anomalies shown are injected incident lines; "
              f"{flagged} lines lie in anomalous windows.")
    if result.triage is not None and result.triage.incidents:  # what the incident engine made of it, checked
        inc = result.triage.incidents[0]
        cited = {s.line for s in inc.chain} | {c.line for c in inc.candidates if c.line}
        err.print(f"incident engine: {inc.title} (onset {inc.onset_time}); {len(cited & truth.anomalous_lines)} of "
                  f"the {len(cited)} lines its chain and candidates cite are injected incident lines (the incident "
                  f"starts at line {min(truth.anomalous_lines)})", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command()(generate)
    app.command()(demo)
