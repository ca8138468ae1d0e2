"""The incident engine: deterministic triage of logs (and metrics) into incidents with their chain, ranked
root-cause candidates, what changed just before, and what is unrelated — no model involved.

    from detectors.incidents import triage, triage_audit
    t = triage(["logs/"], metrics=["logs/metrics.csv"])   # a folder, files, or globs
    t = triage_audit(audit_result)                          # what `sleuth audit` read, with its detector's scores
    t.incidents[0].title, t.incidents[0].chain, t.to_dict()

Modules: `keys` (event keys with meaning), `timebase` (time you can trust), `rates` (change over time),
`explain` (field values behind a spike), `metrics` (--metrics series and CALM signals), `semantics` (what words,
levels and statuses mean), `engine` (grouping into incidents), `model` (the dataclasses).
"""

from detectors.incidents.engine import TriageOptions, load, message_of, triage, triage_audit, triage_table
from detectors.incidents.metrics import read_metrics, signals_from_calm
from detectors.incidents.model import (
    Candidate,
    ChangeEvent,
    FieldShift,
    Impact,
    Incident,
    MetricSeries,
    Signal,
    Step,
    Triage,
    Unrelated,
)

__all__ = [
    "Candidate", "ChangeEvent", "FieldShift", "Impact", "Incident", "MetricSeries", "Signal", "Step", "Triage",
    "TriageOptions", "Unrelated", "load", "message_of", "read_metrics", "signals_from_calm", "triage",
    "triage_audit", "triage_table",
]
