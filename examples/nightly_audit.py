"""Nightly audit: audit yesterday's logs, explain the top anomalies, write Markdown + JSON, exit non-zero on trouble.

Run from cron or CI, e.g.:

    0 6 * * *  /opt/sleuth/.venv/bin/python examples/nightly_audit.py /var/log/app/ --out /srv/reports --fail-on high

The model is whatever the settings say (config file, SLEUTH_* variables): vLLM with SLEUTH_LLM_URL/SLEUTH_MODEL,
else the embedded SmolLM2. If the model is down or slow, the report is still written, with the detectors'
verdicts and "explanation unavailable: <reason>".
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from agent import Sleuth, load_settings
from detectors.base import SEVERITIES
from detectors.render import render_markdown


def main(argv: list[str] | None = None) -> int:
    """Audit, explain, write the reports; 1 if anything reaches --fail-on, 2 on bad usage."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="log files or directories")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the reports")
    parser.add_argument("--fail-on", choices=SEVERITIES[1:], default="high", help="exit 1 at this severity or worse")
    parser.add_argument("--session", default=None, help="save the session so `sleuth chat --session NAME` can follow up")
    args = parser.parse_args(argv)

    sleuth = Sleuth(load_settings(), session=args.session)
    try:
        report = sleuth.audit(args.paths)
    finally:
        sleuth.close()
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"sleuth-{stamp}.md").write_text(render_markdown(report), encoding="utf-8")
    (args.out / f"sleuth-{stamp}.json").write_text(report.to_json(), encoding="utf-8")
    explanation = report.explanation or {}
    incidents = (report.incidents or {}).get("incidents") or []
    print(f"{len(incidents)} incident(s), {len(report.anomalies)} anomalies, worst {report.worst_severity()}; "
          f"explanation {explanation.get('status', 'none')}; reports in {args.out}")
    # As `sleuth audit --fail-on`: an incident at least this confident fails the run too.
    worst = max(SEVERITIES.index(report.worst_severity()), SEVERITIES.index(report.worst_incident()))
    return 1 if worst >= SEVERITIES.index(args.fail_on) else 0


if __name__ == "__main__":
    sys.exit(main())
