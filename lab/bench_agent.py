"""`sleuth bench agent`: seconds from a generated 20k-line incident log to an explained report, on the embedded model."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.api import Sleuth
from agent.backends import make_llm
from agent.settings import Settings


def bench_agent(
    lines: int = 20_000,
    *,
    settings: Settings | None = None,
    workdir: Path | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Generate an incident log, audit and explain it, and report the figures.

    Args:
        lines: Size of the generated log.
        settings: Back end and bounds (default: the embedded model, llm_url unset).
        workdir: Where the log is written (default: a temporary folder).
        echo: Where the table is printed.

    Returns:
        lines, seconds (end to end, model load included), audit_seconds, explain_seconds, load_seconds,
        completion_tokens, prompt_tokens, prefill_seconds, tokens_per_s (completion tokens over all model time),
        decode_tokens_per_s (after the first token), citations_resolved, citations_total, anomalies, status, model.
    """
    from detectors.synth import generate_logs

    settings = settings or Settings()
    with tempfile.TemporaryDirectory(prefix="sleuth-bench-") as tmp:
        folder = workdir or Path(tmp)
        log = folder / "incident.log"
        generate_logs(log, lines=lines, seed=0)
        started = time.perf_counter()
        llm = make_llm(replace(settings, explain=True))
        sleuth = Sleuth(replace(settings, explain=True), llm=llm)
        report = sleuth.audit([str(log)])
        seconds = time.perf_counter() - started
        sleuth.close()
    explanation = report.explanation or {}
    cites = explanation.get("citations") or {}
    stats = llm.stats
    figures: dict[str, Any] = {
        "lines": lines,
        "seconds": round(seconds, 2),
        "audit_seconds": round(report.totals.seconds, 2),
        "explain_seconds": round(seconds - report.totals.seconds, 2),
        "load_seconds": round(float(getattr(llm, "load_seconds", 0.0)), 2),
        "completion_tokens": stats.completion_tokens,
        "prompt_tokens": stats.prompt_tokens,
        "prefill_seconds": round(stats.prefill_seconds, 2),
        "tokens_per_s": round(stats.tokens_per_second, 1),
        "decode_tokens_per_s": round(stats.generation_tokens_per_second, 1),
        "citations_resolved": int(cites.get("resolved", 0) or 0),
        "citations_total": int(cites.get("total", 0) or 0),
        "anomalies": len(report.anomalies),
        "status": explanation.get("status", "none"),
        "model": llm.name,
    }
    echo("| figure | value |\n|---|--:|")
    for key, value in figures.items():
        echo(f"| {key} | {value} |")
    if figures["status"] != "ok":
        echo(f"explanation: {explanation.get('text', '')}")
    return figures
