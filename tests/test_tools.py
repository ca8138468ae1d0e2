"""The agent's tools over a generated incident log: typed arguments, capped output, errors the model can fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import TOOLS, ToolArgsError, ToolInputError, Workspace, get_tool
from tools.base import MAX_TEXT_CHARS, ToolOutput, cap_text


@pytest.fixture(scope="module")
def incident_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lab.synth import generate_logs

    path = tmp_path_factory.mktemp("tools") / "incident.log"
    generate_logs(path, lines=2000, seed=1)
    return path


@pytest.fixture(scope="module")
def ws(incident_log: Path) -> Workspace:
    workspace = Workspace()
    workspace.audit([str(incident_log)])
    return workspace


def test_every_tool_has_a_schema_and_description() -> None:
    names = [t.name for t in TOOLS]
    assert {"audit_source", "list_anomalies", "search_events", "get_context", "describe_template", "score_window"} <= set(names)
    assert len(names) == len(set(names))
    for tool in TOOLS:
        assert tool.description and tool.schema()["type"] == "object"


def test_audit_source_summarises_ranked_anomalies(incident_log: Path) -> None:
    out = get_tool("audit_source")(Workspace(), {"paths": [str(incident_log)]})
    assert out.count >= 1
    assert "A1" in out.text and "audited 1 source(s)" in out.text


def test_list_anomalies_respects_severity_and_limit(ws: Workspace) -> None:
    out = get_tool("list_anomalies")(ws, {"limit": 1})
    assert out.text.splitlines()[1].startswith("A1 ")
    high = get_tool("list_anomalies")(ws, {"min_severity": "high"})
    assert all(a.severity == "high" for a in ws.result.report.anomalies if a.id in high.data["ids"])


def test_search_events_by_pattern_and_host(ws: Workspace) -> None:
    out = get_tool("search_events")(ws, {"pattern": "No space left", "host": "db-01", "limit": 3})
    assert out.count >= 1
    assert all("No space left" in c.summary for c in out.cited)
    assert len(out.cited) <= 3


def test_search_events_by_time_of_day(ws: Workspace) -> None:
    out = get_tool("search_events")(ws, {"since": "00:05", "until": "00:05", "limit": 2})
    assert out.count > 2 and len(out.cited) == 2
    assert all("T00:05:" in c.summary for c in out.cited)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"pattern": "(unclosed"}, "not a valid regular expression"),
        ({"host": "no-such-host"}, "no events from host"),
        ({"since": "yesterday-ish"}, "cannot read"),
        ({"since": "00:10", "until": "00:01"}, "swap them"),
    ],
    ids=["bad-regex", "unknown-host", "bad-time", "reversed-range"],
)
def test_search_events_errors_say_what_to_change(ws: Workspace, args: dict, message: str) -> None:
    with pytest.raises(ToolInputError, match=message):
        get_tool("search_events")(ws, args)


def test_invalid_arguments_are_rejected_before_running(ws: Workspace) -> None:
    with pytest.raises(ToolArgsError, match=r"invalid arguments for search_events: limit: .*It takes: pattern\?"):
        get_tool("search_events")(ws, {"limit": "lots"})
    with pytest.raises(ToolArgsError, match="bogus"):
        get_tool("list_anomalies")(ws, {"bogus": 1})
    with pytest.raises(ToolArgsError, match="must be a JSON object"):
        get_tool("list_anomalies")(ws, "[1]")


def test_get_context_marks_the_line_and_refuses_other_files(ws: Workspace) -> None:
    where = ws.result.report.anomalies[0].where
    out = get_tool("get_context")(ws, {"where": where, "before": 2, "after": 2})
    assert any(" > " in row for row in out.text.splitlines())
    with pytest.raises(ToolInputError, match="not one of the audited sources"):
        get_tool("get_context")(ws, {"where": "/etc/passwd:1"})
    with pytest.raises(ToolInputError, match="file:line"):
        get_tool("get_context")(ws, {"where": "nonsense"})


def test_describe_template_counts_and_hosts(ws: Workspace) -> None:
    tid = ws.result.report.anomalies[0].template_id
    out = get_tool("describe_template")(ws, {"template_id": tid})
    assert out.data["count"] >= 1 and out.data["new"] is True
    assert f"T{tid}:" in out.text and "hosts:" in out.text
    with pytest.raises(ToolInputError, match="does not occur"):
        get_tool("describe_template")(ws, {"template_id": 987654})


def test_score_window_returns_a_verdict(ws: Workspace) -> None:
    a = ws.result.report.anomalies[0]
    out = get_tool("score_window")(ws, {"where": a.where, "size": 20})
    assert out.data["label"] == "anomaly" and out.data["score"] >= out.data["threshold"]


def test_tools_need_an_audit_first() -> None:
    with pytest.raises(ToolInputError, match="call audit_source"):
        get_tool("list_anomalies")(Workspace(), {})


def test_output_is_capped() -> None:
    long = "\n".join(f"line {i} " + "x" * 100 for i in range(200))
    out = ToolOutput(long)
    assert len(out.text) <= MAX_TEXT_CHARS and "output capped" in out.text
    assert cap_text("short") == "short"
