"""The agent's graph with scripted chat models: triage, tool call -> answer, errors, sessions, the graph's shape."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent import Settings, Sleuth, build_graph
from agent.api import UnavailableLLM
from agent.cli_support import chat_loop, explain_audit, list_sessions, serve_llm_argv, serve_llm_command
from agent.graph import graph_mermaid
from agent.sessions import SessionError, check_name
from tools import TOOLS, TOOLS_BY_NAME, Workspace

from fakes import explain_reply, model_of, scripted_llm


@pytest.fixture(scope="module")
def incident_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lab.synth import generate_logs

    path = tmp_path_factory.mktemp("agent") / "incident.log"
    generate_logs(path, lines=2000, seed=1)
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def model_calls(sleuth: Sleuth) -> list[dict[str, Any]]:
    return [c for c in sleuth.state.get("calls", []) if c["by"] == "model"]


def distinct_reply(ids: list[str], cite: str = "A1") -> dict[str, Any]:
    """A well-formed explainer answer whose sentences differ (a model repeating one sentence is rejected)."""
    verbs = ["failed", "degraded", "stalled", "errored"]
    return {"summary": f"Something went wrong in these logs [{cite}].",
            "hypotheses": [{"id": h, "explanation": f"Work {verbs[i % 4]} during the incident ({h}) [{cite}].",
                            "cites": [cite]} for i, h in enumerate(ids)]}


def test_triage_explains_hypotheses_and_checks_citations(incident_log: Path, settings: Settings) -> None:
    llm = scripted_llm([distinct_reply(["H1", "H2", "H3"])])
    report = Sleuth(settings, llm=llm).audit([str(incident_log)])
    ex = report.explanation
    assert ex is not None and ex["status"] == "ok", ex.get("reason")
    assert 2 <= len(ex["hypotheses"]) <= 3
    assert [h["id"] for h in ex["hypotheses"]] == [f"H{i}" for i in range(1, len(ex["hypotheses"]) + 1)]
    assert "[A1]" in ex["text"] and ex["citations"]["dropped"] == []
    assert ex["citations"]["resolved"] == ex["citations"]["total"]
    # The model's text is hedged where the evidence is thin; the deterministic explanation stands beside it.
    assert ex["deterministic"] and len(ex["evidence_summary"]) == len(ex["hypotheses"])


def test_an_invented_citation_costs_the_model_its_explanation(incident_log: Path, settings: Settings) -> None:
    report = Sleuth(settings, llm=scripted_llm([explain_reply(["H1", "H2", "H3"], cite="A1", bogus="A99")])).audit(
        [str(incident_log)])
    ex = report.explanation
    assert ex is not None and ex["status"] == "deterministic" and "A99" in ex["reason"]
    assert "A99" not in ex["text"] and ex["text"] == ex["deterministic"] and ex["citations"]["dropped"] == []


def test_triage_never_lets_the_model_choose_tools(incident_log: Path, settings: Settings) -> None:
    llm = scripted_llm([explain_reply(["H1"])])
    sleuth = Sleuth(settings, llm=llm)
    sleuth.audit([str(incident_log)])
    assert [c["by"] for c in sleuth.state["calls"]] == ["system"]
    assert len(model_of(llm).seen) == 1  # one explanation call, nothing else


@pytest.mark.parametrize(
    ("llm", "reason"),
    [
        (UnavailableLLM("cannot reach the LLM server at http://127.0.0.1:9/v1"), "cannot reach"),
        (scripted_llm(["this is not JSON at all"]), "not valid JSON"),
        (scripted_llm([{"verdict": "bad", "hypotheses": "nope"}]), "did not match the schema"),
        (scripted_llm([{"summary": "A disk filled on db-01, then writes failed [A1].", "hypotheses": [
            {"id": "H1", "explanation": "Database writes failed with no space left on device [A1].", "cites": ["A1"]}]}]),
         "repeated the prompt's example"),
    ],
    ids=["server-down", "garbage", "wrong-shape", "copied-example"],
)
def test_report_is_written_when_the_model_fails(incident_log: Path, settings: Settings, llm: Any, reason: str) -> None:
    report = Sleuth(settings, llm=llm).audit([str(incident_log)])
    ex = report.explanation
    assert ex is not None and ex["status"] == "deterministic" and reason in ex["reason"]
    assert ex["text"] and not ex["text"].startswith("explanation unavailable") and "[" in ex["text"]
    assert report.anomalies and ex["hypotheses"] and ex["evidence_summary"]


def test_a_copied_example_sentence_is_dropped_and_the_rest_kept(incident_log: Path, settings: Settings) -> None:
    reply = distinct_reply(["H1", "H2"])
    reply["hypotheses"][1]["explanation"] = "Database writes failed with no space left on device [A1]."
    reply["summary"] = "A disk filled on db-01, then writes failed [A1]. This is a classic cascade."
    report = Sleuth(settings, llm=scripted_llm([reply])).audit([str(incident_log)])
    ex = report.explanation
    assert ex is not None and ex["status"] == "ok", ex.get("reason")
    assert "no space left on device" not in ex["text"] and "db-01, then" not in ex["text"] and "[A1]" in ex["text"]


def test_no_explain_skips_the_model(incident_log: Path, settings: Settings) -> None:
    llm = scripted_llm([])
    report = Sleuth(settings, llm=llm).audit([str(incident_log)], explain=False)
    assert report.explanation is not None and report.explanation["status"] == "deterministic"
    assert "skipped" in report.explanation["reason"] and report.explanation["text"]
    assert model_of(llm).seen == []


def test_planned_tool_call_then_checked_answer(incident_log: Path, settings: Settings) -> None:
    llm = scripted_llm([
        explain_reply(["H1"]),
        {"tool": "search_events", "args": {"pattern": "No space left", "limit": 3}},
        {"tool": "answer", "args": {}},
        "Writes failed for lack of disk space [A1] [A42].",
    ])
    sleuth = Sleuth(replace(settings, plan="on"), llm=llm)
    sleuth.audit([str(incident_log)])
    tokens: list[str] = []
    answer = sleuth.ask("did the disk fill up?", on_token=tokens.append)
    # The rephrasing cited evidence that does not exist: the deterministic answer stands, and is what streamed.
    assert answer.source == "deterministic" and "A42" in (answer.reason or "")
    assert "".join(tokens) == answer.text and "A42" not in answer.text and answer.citations["dropped"] == []
    assert [(s["tool"], s["ok"], s["executed"]) for s in answer.steps if s["tool"] == "search_events"] == [
        ("search_events", True, True)]
    # The tool's lines reached the rephraser as delimited data; the planner saw only ids and counts.
    answer_prompt = model_of(llm).prompts_text()[-1]
    assert "<<<DATA" in answer_prompt and "No space left" in answer_prompt
    plan_prompts = model_of(llm).prompts_text()[1:3]
    assert all("No space left on device" not in p for p in plan_prompts)
    assert "ok, " in plan_prompts[1] and "result(s)" in plan_prompts[1]


def test_invalid_arguments_are_rejected_and_never_run(incident_log: Path, settings: Settings) -> None:
    ran: list[Any] = []
    spied = [replace(t, run=lambda ws, args: ran.append(args)) if t.name == "search_events" else t for t in TOOLS]
    llm = scripted_llm([
        explain_reply(["H1"]),
        {"tool": "search_events", "args": {"limit": "lots", "data": "JSONAJECT"}},
        "I could not search.",
    ])
    sleuth = Sleuth(replace(settings, plan="on"), llm=llm, tools=spied)
    sleuth.audit([str(incident_log)])
    answer = sleuth.ask("search for errors")
    assert ran == []
    (step,) = [s for s in answer.steps if s["tool"] == "search_events"]
    assert step["executed"] is False and step["ok"] is False
    assert "invalid arguments for search_events" in step["error"] and "not run" in step["error"]
    assert "data" in step["error"]
    # The rejection ended the planning: one planner prompt, and the deterministic answer stands.
    assert sum("Decide the single next step" in p for p in model_of(llm).prompts_text()) == 1
    assert answer.source == "deterministic" and answer.text
    assert model_calls(sleuth) == [{"tool": "search_events", "args": {"limit": "lots", "data": "JSONAJECT"},
                                    "by": "model", "executed": False, "ok": False}]


def test_unknown_tool_is_rejected(incident_log: Path, settings: Settings) -> None:
    llm = scripted_llm([explain_reply(["H1"]), {"tool": "delete_logs", "args": {}}, "ok"])
    sleuth = Sleuth(replace(settings, plan="on"), llm=llm)
    sleuth.audit([str(incident_log)])
    (step,) = [s for s in sleuth.ask("clean up").steps if s["tool"] == "delete_logs"]
    assert not step["executed"] and "there is no tool 'delete_logs'" in step["error"]


def test_tool_error_goes_back_to_the_model(incident_log: Path, settings: Settings) -> None:
    llm = scripted_llm([
        explain_reply(["H1"]),
        {"tool": "describe_template", "args": {"template_id": 987654}},
        {"tool": "list_anomalies", "args": {"limit": 2}},
        {"tool": "answer", "args": {}},
        "Two anomalies stand out [A1].",
    ])
    sleuth = Sleuth(replace(settings, plan="on"), llm=llm)
    sleuth.audit([str(incident_log)])
    answer = sleuth.ask("describe the template")
    assert [(s["tool"], s["ok"]) for s in answer.steps if s["tool"] in ("describe_template", "list_anomalies")] == [
        ("describe_template", False), ("list_anomalies", True)]
    assert "T987654 does not occur" in model_of(llm).prompts_text()[2]


def test_bugs_in_tools_propagate(incident_log: Path, settings: Settings) -> None:
    def broken(ws: Workspace, args: Any) -> Any:
        raise RuntimeError("bug")

    tools = [replace(TOOLS_BY_NAME["list_anomalies"], run=broken)]
    llm = scripted_llm([explain_reply(["H1"]), {"tool": "list_anomalies", "args": {}}])
    sleuth = Sleuth(replace(settings, plan="on"), llm=llm, tools=tools)
    sleuth.audit([str(incident_log)])
    with pytest.raises(RuntimeError, match="bug"):
        sleuth.ask("list")


def test_native_tool_calls_are_validated_too(incident_log: Path, settings: Settings) -> None:
    call = AIMessage("", tool_calls=[{"name": "list_anomalies", "args": {"limit": "[1]"}, "id": "c1"}])
    llm = scripted_llm([explain_reply(["H1"]), call, "Nothing more [A1]."])
    sleuth = Sleuth(Settings(data_dir=settings.data_dir, decisions="native", plan="on"), llm=llm)
    sleuth.audit([str(incident_log)])
    answer = sleuth.ask("what is anomalous?")
    (step,) = [s for s in answer.steps if s["tool"] == "list_anomalies"]
    assert not step["executed"] and "limit" in step["error"]


def test_a_model_down_mid_answer_leaves_the_deterministic_answer(incident_log: Path, settings: Settings) -> None:
    llm = scripted_llm([explain_reply(["H1"]), {"tool": "list_anomalies", "args": {"limit": 2}}, {"tool": "answer", "args": {}}],
                       dry_is_down=True)
    sleuth = Sleuth(replace(settings, plan="on"), llm=llm)
    sleuth.audit([str(incident_log)])
    answer = sleuth.ask("what is anomalous?")  # the script runs dry: the model fails mid-answer
    assert answer.status == "ok" and answer.source == "deterministic" and "down" in (answer.reason or "")
    assert answer.text and answer.citations["total"] >= 1


def test_session_is_saved_and_resumed(incident_log: Path, settings: Settings) -> None:
    on = replace(settings, plan="on")
    first = Sleuth(on, session="incident-42",
                   llm=scripted_llm([explain_reply(["H1"]), {"tool": "answer", "args": {}}, "The worker crashed [A1]."]))
    first.audit([str(incident_log)])
    first.ask("what crashed?")
    first.close()

    second_llm = scripted_llm([{"tool": "get_context", "args": {"where": "incident.log:1705", "before": 1, "after": 1}},
                               {"tool": "answer", "args": {}}, "Here is the context [incident.log:1705]."])
    second = Sleuth(on, session="incident-42", llm=second_llm)
    ((question, said),) = second.history()
    assert question == "what crashed?" and said.endswith("The worker crashed [A1].")
    assert second.state["sources"] == [str(incident_log)]
    answer = second.ask("show me the lines around it")
    # The tools rebuilt the audit from the saved sources; the earlier question reached the planner.
    assert all(s["ok"] for s in answer.steps), answer.steps
    assert "what crashed?" in model_of(second_llm).prompts_text()[0]
    second.close()

    (info,) = list_sessions(settings, echo=lambda line: None)
    assert info.name == "incident-42" and info.questions == 2 and info.sources == [str(incident_log)]


def test_session_names_are_checked() -> None:
    assert check_name("nightly_2026-11-23") == "nightly_2026-11-23"
    with pytest.raises(SessionError, match="must be 1-80"):
        check_name("../etc/passwd")


def test_chat_loop_streams_and_resumes(incident_log: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.api

    replies = iter([explain_reply(["H1"]), {"tool": "answer", "args": {}}, "Disk full [A1]."])
    monkeypatch.setattr(agent.api, "make_llm", lambda s: scripted_llm(list(replies)))
    printed: list[str] = []
    streamed: list[str] = []
    code = chat_loop(replace(settings, plan="on"), "cli", paths=[str(incident_log)], lines=["why?", "exit", "never asked"],
                     echo=printed.append, write=streamed.append)
    assert code == 0
    assert "".join(streamed).strip().endswith("Disk full [A1].")
    assert any(line.startswith("Audited ") for line in printed)


def test_explain_audit_for_the_cli(incident_log: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.api
    from detectors.pipeline import audit

    monkeypatch.setattr(agent.api, "make_llm", lambda s: scripted_llm([distinct_reply(["H1", "H2", "H3"])]))
    result = audit([str(incident_log)])
    report = explain_audit(result, [str(incident_log)], settings)
    assert report is result.report and report.explanation and report.explanation["status"] == "ok"
    off = Settings(data_dir=settings.data_dir, explain=False)
    assert explain_audit(audit([str(incident_log)]), [str(incident_log)], off).explanation is None


def test_serve_llm_prints_the_recommended_command() -> None:
    argv = serve_llm_argv("Qwen/Qwen2.5-7B-Instruct", port=8001)
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct"]
    assert "--enable-auto-tool-choice" in argv and argv[argv.index("--tool-call-parser") + 1] == "hermes"
    lines: list[str] = []
    assert serve_llm_command("Qwen/Qwen2.5-7B-Instruct", run=False, echo=lines.append) == 0
    assert lines[0].startswith("vllm serve Qwen/Qwen2.5-7B-Instruct --enable-auto-tool-choice")


def test_graph_shape(snapshot: Any) -> None:
    graph = build_graph(scripted_llm([]), Workspace())
    assert graph_mermaid(graph) == snapshot


def test_nightly_audit_example_writes_reports(incident_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import agent.api

    monkeypatch.setattr(agent.api, "make_llm", lambda s: scripted_llm([explain_reply(["H1", "H2", "H3"])]))
    monkeypatch.setenv("SLEUTH_DATA_DIR", str(tmp_path / "data"))
    spec = importlib.util.spec_from_file_location("nightly_audit", Path(__file__).parent.parent / "examples" / "nightly_audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main([str(incident_log), "--out", str(tmp_path / "out"), "--fail-on", "high"])
    assert code in (0, 1)
    (md,) = (tmp_path / "out").glob("sleuth-*.md")
    assert "## Explanation" in md.read_text(encoding="utf-8")
