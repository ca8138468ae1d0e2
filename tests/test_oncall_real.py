"""What a new on-call engineer ran into using sleuth on public logs it was not built on (Loghub, OpenStack, logreduce's
CI cases), each fixed generally: the checks use the real readers, engine, agent graph and renderers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import ormsgpack

from agent import Settings
from agent.cli_support import explain_audit
from detectors.incidents import triage
from detectors.incidents.model import Candidate, Impact, Incident, Triage


def _numpy_values(obj: object, path: str = "") -> list[str]:
    if isinstance(obj, np.generic):
        return [path]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _numpy_values(v, f"{path}.{k}")]
    if isinstance(obj, list | tuple):
        return [p for i, v in enumerate(obj) for p in _numpy_values(v, f"{path}[{i}]")]
    return []


def test_triage_dict_holds_plain_python_numbers() -> None:
    """A score computed on numpy arrays must not reach the report as numpy.float64: the agent's checkpoints
    (msgpack) refuse it ('sleuth audit openstack_parisakalaki/' stopped on 'Type is not msgpack serializable')."""
    cand = Candidate(rank=1, kind="log", text="boom", where="a.log:3", file="a.log", line=3, ts=None, time=None,
                     host=None, service=None, score=np.float64(1.375))
    inc = Incident(id="I1", title="boom", onset=None, onset_ts=None, end_ts=None, impact=Impact(summary="boom", symptom="boom"),
                   confidence="low", confidence_reason="", candidates=[cand], strength=2.5)
    inc.strength = np.float32(2.5)  # type: ignore[assignment]  # as numpy arithmetic leaves it
    d = Triage(incidents=[inc], resolution_s=np.float64(169.0)).to_dict()
    assert _numpy_values(d) == []
    assert d["incidents"][0]["candidates"][0]["score"] == 1.375
    ormsgpack.packb(d)  # what langgraph's checkpointer does with the hypotheses built from it


def test_openstack_nova_log_is_explained_without_a_crash(shared_data: Path, tmp_path: Path) -> None:
    """The real log that crashed the audit's explanation: its incident's candidates scored as numpy floats."""
    from detectors.pipeline import AuditOptions, audit

    path = shared_data / "openstack_parisakalaki" / "openstack-nova-sample.log"
    assert _numpy_values(triage([str(path)]).to_dict()) == []
    result = audit([str(path)], AuditOptions())
    report = explain_audit(result, [str(path)], Settings(data_dir=tmp_path / "data", llm="none"))
    assert report.explanation is not None and report.incidents and report.incidents["incidents"]
