"""The triage app's behaviour with Textual's Pilot: open a generated incident log, filter, jump to anomalies, read
the evidence, ask a scripted agent, follow a citation; and its log model without Textual."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lab.synth import SynthTruth, generate_logs
from tui.agent_bridge import EvidenceAgent, ScriptedAgent, citations
from tui.app import TriageApp
from tui.logindex import LogModel, QueryError, index_source, parse_query
from tui.screens import ContextScreen, HelpScreen
from tui.widgets.agent_pane import AgentPane, CitationList
from tui.widgets.evidence import AnomalyList, EvidenceList
from tui.widgets.logview import LogView

LINES = 3000


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> SynthTruth:
    return generate_logs(tmp_path_factory.mktemp("tui") / "incident.log", lines=LINES, seed=5)


@pytest.fixture(scope="module")
def audited(incident: SynthTruth) -> Any:
    """One real audit of the incident log, shared by the tests (the app's audit worker is given it)."""
    from detectors.pipeline import AuditOptions, audit

    return audit([incident.path], AuditOptions(state_dir=None))


def make_app(incident: SynthTruth, audited: Any, **kwargs: Any) -> TriageApp:
    kwargs.setdefault("agent", ScriptedAgent(["ok"]))
    return TriageApp([incident.path], audit_fn=lambda *a, **k: audited, **kwargs)


async def settle(pilot: Any, app: TriageApp, timeout: float = 20.0) -> None:
    """Wait until indexing and the audit are done and every worker is idle."""
    for _ in range(int(timeout / 0.05)):
        if app.result is not None or app.audit_state in ("audit failed", "no readable sources"):
            break
        await pilot.pause(0.05)
    await app.background_idle()
    await pilot.pause()


# --------------------------------------------------------------------------------------------- the app (Pilot)


async def test_opening_a_log_shows_every_line_and_flags_the_incident(incident, audited) -> None:
    app = make_app(incident, audited)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert app.model.total == incident.lines
        assert app.model.anomalies, "the audit's anomalies reach the app"
        assert app.focused is app.query_one(LogView)
        flagged = app.model.columns.score >= app.model.threshold
        lines = app.model.row_line[flagged] + 1
        assert np.isin(lines, sorted(incident.anomalous_lines)).any()
        assert app.query_one(AnomalyList).option_count == len(audited.report.anomalies)


async def test_n_and_shift_n_follow_the_ranking(incident, audited) -> None:
    """`n` goes down the ranking — the incident's chain (earliest failing step first), then A1, A2, … — not
    along the file; `N` goes back up, and both wrap."""
    app = make_app(incident, audited)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        log = app.query_one(LogView)
        ranked = app.model.ranked_rows()
        chain = [s for inc in app.model.incidents for s in inc["chain"]]
        assert len(ranked) >= len(app.model.anomalies) >= 2
        if chain:  # the engine's first step leads
            assert ranked[0] == app.model.find_row(chain[0]["file"], chain[0]["line"])
        await pilot.press("n")
        assert app.model.base_row(log.cursor) == ranked[0]
        await pilot.press("n")
        assert app.model.base_row(log.cursor) == ranked[1]
        await pilot.press("N")
        assert app.model.base_row(log.cursor) == ranked[0]
        await pilot.press("N")  # wraps to the last
        assert app.model.base_row(log.cursor) == ranked[-1]
        chain_rows = {app.model.find_row(s["file"], s["line"]) for s in chain}
        order = [r for a in app.model.anomalies if (r := app.model.anomaly_rows[a.id]) not in chain_rows]
        assert [r for r in ranked if r in order] == order  # the anomalies in rank order, not file order


async def test_filter_applies_live_and_clears(incident, audited) -> None:
    app = make_app(incident, audited)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("f", *"level:error")
        await app.workers.wait_for_complete()
        await pilot.pause()
        cols = app.model.columns
        assert 0 < len(app.model) < app.model.total
        assert (cols.level[app.model.view] >= 5).all()
        # A regex term and an exclusion combine with the level.
        await pilot.press(*" -db-01")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert all("db-01" not in app.model.text(y) for y in range(len(app.model)))
        await pilot.press(*" service:api")
        await app.workers.wait_for_complete()
        await pilot.pause()
        services = {cols.services[int(k)] for k in cols.service[app.model.view]}
        assert len(app.model) > 0 and services == {"api"}  # stack-trace lines keep their entry's service
        await pilot.press("ctrl+a", "ctrl+k")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(app.model) == app.model.total


async def test_invalid_filter_is_reported_not_raised(incident, audited) -> None:
    app = make_app(incident, audited)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("f", *"(unclosed")
        await pilot.pause()
        assert app.query_one("#filter").has_class("-invalid-query")
        assert len(app.model) == app.model.total


async def test_evidence_link_jumps_to_its_line(incident, audited) -> None:
    app = make_app(incident, audited)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        # Open the top anomaly from the ranked list, then follow its first located evidence.
        await pilot.press("e")
        anomalies = app.query_one(AnomalyList)
        anomalies.focus()
        anomalies.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        top = audited.report.anomalies[0]
        assert app.model.where(app.query_one(LogView).cursor) == top.where
        linked = next((e for e in top.evidence if e.where), None)
        if linked is None:
            pytest.skip("the detector gave the top anomaly no located evidence")
        evidence = app.query_one(EvidenceList)
        evidence.focus()
        evidence.highlighted = top.evidence.index(linked)
        await pilot.press("enter")
        await pilot.pause()
        assert app.model.where(app.query_one(LogView).cursor) == linked.where


async def test_ranked_list_marks_only_the_anomaly_under_the_cursor(incident, audited) -> None:
    """However fast n is pressed, the ranked list marks the selected line's anomaly, or nothing on a line that has
    none (it used to keep a mark from a stop the panel never showed)."""
    from tui.app import SELECTION_DELAY_S

    app = make_app(incident, audited)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        log, ranked = app.query_one(LogView), app.query_one(AnomalyList)
        stops = app.model.anomaly_stops()
        assert len(stops) > 1
        seen_unmarked = False
        for _ in range(len(stops)):
            await pilot.press("n", "n")
            await pilot.pause(SELECTION_DELAY_S * 3)
            await pilot.pause()
            anomaly = app.model.anomaly_at(log.cursor)
            expected = None if anomaly is None else ranked.get_option_index(anomaly.id)
            assert ranked.highlighted == expected
            seen_unmarked |= expected is None
        # A log (line) jump to a plain line clears the mark too.
        plain = next(y for y in range(len(app.model)) if app.model.anomaly_at(y) is None)
        log.jump(plain)
        await pilot.pause(SELECTION_DELAY_S * 3)
        await pilot.pause()
        assert ranked.highlighted is None


async def test_agent_gets_the_selection_and_its_citation_jumps(incident, audited) -> None:
    top = audited.report.anomalies[0]
    target = f"{incident.path}:{min(incident.anomalous_lines)}"
    agent = ScriptedAgent([f"Disk trouble on db-01 [{top.id}]; first sign at [{target}]."],
                          [{"id": "H1", "title": "db-01 disk", "confidence": "high", "evidence": [top.id]}])
    app = make_app(incident, audited, agent=agent)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        app.jump_to(top.id)
        await pilot.press("a", *"what happened?", "enter")
        await app.background_idle()
        await pilot.pause()
        assert agent.questions == ["what happened?"]
        ctx = agent.contexts[0]
        assert ctx["where"] == top.where and ctx["anomaly"]["id"] == top.id
        assert "Disk trouble on db-01" in app.query_one(AgentPane).transcript_text
        cites = app.query_one(CitationList)
        assert [cites.get_option_at_index(i).id for i in range(cites.option_count)] == [top.id, target]
        cites.focus()
        cites.highlighted = 1
        await pilot.press("enter")
        await pilot.pause()
        assert app.model.where(app.query_one(LogView).cursor) == target
        assert app.focused is app.query_one(LogView)


async def test_agent_failure_is_a_notification(incident, audited) -> None:
    class Broken(ScriptedAgent):
        def ask(self, question: str, context: dict[str, Any]):  # type: ignore[override]
            yield "partial "
            raise RuntimeError("model server went away")

    app = make_app(incident, audited, agent=Broken(["x"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("a", *"hi", "enter")
        await app.background_idle()
        await pilot.pause()
        assert any("model server went away" in n.message for n in app._notifications)
        assert "partial" in app.query_one(AgentPane).transcript_text


async def test_evidence_agent_answers_offline_with_citations(incident, audited) -> None:
    app = make_app(incident, audited, agent=EvidenceAgent("no model in this test"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("n", "a", *"why?", "enter")
        await app.background_idle()
        await pilot.pause()
        text = app.query_one(AgentPane).transcript_text
        assert "explanation unavailable: no model in this test" in text
        assert app.query_one(CitationList).option_count >= 1


async def test_search_goes_to_next_and_previous_match(incident, audited) -> None:
    app = make_app(incident, audited)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("slash", *"No space left", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        log = app.query_one(LogView)
        first = log.cursor
        assert "No space left" in app.model.text(first)
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert log.cursor > first and "No space left" in app.model.text(log.cursor)
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert log.cursor == first


async def test_context_help_and_theme(incident, audited) -> None:
    app = make_app(incident, audited)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("n", "c")
        await pilot.pause()
        assert isinstance(app.screen, ContextScreen)
        assert any(focus for _, _, focus in app.screen.lines)
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        from tui.screens import binding_rows

        described = {desc for _, _, desc in binding_rows(app.screen.sections)}
        assert {b.description for b in app.BINDINGS} <= described
        await pilot.press("escape")
        dark = app.current_theme.dark
        await pilot.press("d")
        assert app.current_theme.dark != dark


async def test_timeline_bucket_jumps_the_log(incident, audited) -> None:
    from tui.widgets.timeline import Timeline

    app = make_app(incident, audited)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        timeline = app.query_one(Timeline)
        peak = int(np.argmax(timeline.peaks))
        timeline.focus()
        timeline.picked = peak
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(LogView).cursor == int(timeline.firsts[peak])


async def test_command_palette_jumps_to_an_anomaly(incident, audited) -> None:
    app = make_app(incident, audited)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        second = audited.report.anomalies[min(1, len(audited.report.anomalies) - 1)]
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*f"go to {second.id}:")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.model.where(app.query_one(LogView).cursor) == second.where


async def test_audit_failure_in_the_child_process_is_a_notification(incident) -> None:
    """The default audit runs in a child process; a detector error comes back as a message, not a crash."""
    from detectors.pipeline import AuditOptions

    app = TriageApp([incident.path], agent=ScriptedAgent(["ok"]), audit_options=AuditOptions(detector="nope"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, timeout=60)
        assert app.audit_state == "audit failed"
        assert any("unknown detector 'nope'" in n.message for n in app._notifications)
        assert app.model.total == incident.lines  # the log is still there to read


async def test_audit_finishing_under_the_help_screen_is_fine(incident) -> None:
    """Handlers reach the main screen's widgets while a modal is up (a crash here once ended the app)."""
    from tui.testing import truth_audit

    app = TriageApp([incident.path], agent=ScriptedAgent(["ok"]), audit_fn=truth_audit(incident, delay=0.5))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await settle(pilot, app)
        assert isinstance(app.screen, HelpScreen) and app.result is not None
        await pilot.press("escape", "n")
        assert app.model.score(app.query_one(LogView).cursor) >= app.model.threshold


async def test_follow_mode_shows_appended_lines(tmp_path: Path) -> None:
    log = tmp_path / "live.log"
    log.write_text("".join(f"2026-11-23T00:00:{i:02d}Z web-01 api[1]: INFO hello {i}\n" for i in range(30)))
    app = TriageApp([str(log)], follow=True, run_audit=False, agent=ScriptedAgent(["ok"]))
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(100):
            if app.model.total == 30:
                break
            await pilot.pause(0.05)
        with log.open("a") as fh:
            fh.write("2026-11-23T00:01:00Z web-01 api[1]: ERROR appended line\n")
        for _ in range(60):
            if app.model.total == 31:
                break
            await pilot.pause(0.05)
        assert app.model.total == 31
        log_view = app.query_one(LogView)
        assert log_view.cursor == 30 and "appended line" in app.model.text(30)


async def test_missing_file_is_a_notification_not_a_crash(tmp_path: Path) -> None:
    app = TriageApp([str(tmp_path / "nope.log")], agent=ScriptedAgent(["ok"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, timeout=5)
        assert any("nope.log" in n.message for n in app._notifications)
        assert app.model.total == 0


# ------------------------------------------------------------------------------------------ the model (no UI)


def test_index_counts_lines_with_and_without_final_newline(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"one\ntwo\r\nthree")
    b = tmp_path / "b.log"
    b.write_bytes(b"one\ntwo\n")
    sa, sb = index_source(str(a)), index_source(str(b))
    assert [sa.text(i) for i in range(sa.lines)] == ["one", "two", "three"]
    assert sb.lines == 2 and sb.text(1) == "two"
    sa.close(), sb.close()


def test_gz_sources_are_indexed_like_plain_ones(tmp_path: Path) -> None:
    gz = tmp_path / "x.log.gz"
    gz.write_bytes(gzip.compress(b"alpha\nbeta\n\tgamma\x01\n"))
    s = index_source(str(gz), tmp_path)
    assert s.lines == 3 and s.text(2) == "    gamma\\x01"  # a control character shown as a visible escape
    s.close()


def test_sources_merge_by_time_once_audited(tmp_path: Path) -> None:
    from detectors.pipeline import AuditOptions, audit

    a = tmp_path / "a.log"
    b = tmp_path / "b.log"
    a.write_text("".join(f"2026-11-23T00:00:{2 * i:02d}Z web-01 api[1]: INFO a {i}\n" for i in range(25)))
    b.write_text("".join(f"2026-11-23T00:00:{2 * i + 1:02d}Z db-01 db[2]: INFO b {i}\n" for i in range(25)))
    model = LogModel([index_source(str(a)), index_source(str(b))])
    assert model.text(25) == model.sources[1].text(0)  # file order before the audit
    model.attach_audit(audit([str(a), str(b)], AuditOptions(state_dir=None, window="count:5:5")))
    texts = [model.text(y) for y in range(6)]
    assert [t.split()[-2] for t in texts] == ["a", "b", "a", "b", "a", "b"]
    assert model.find_row(str(b), 1) == 1
    model.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("error", {"include": ("error",)}),
        ("-debug !heartbeat", {"exclude": ("debug", "heartbeat")}),
        ("level:warn host:db-01,web service:api", {"min_level": 4, "hosts": ("db-01", "web"), "services": ("api",)}),
        ('"No space" anomalous', {"phrases": ("No space",), "include": (), "anomalous": True}),
        ('status:503 user_id:42 -route:/health msg:"no space"',
         {"fields": (("status", "503"), ("user_id", "42"), ("msg", "no space")), "not_fields": (("route", "/health"),),
          "include": ()}),
    ],
    ids=["regex", "exclusions", "level-and-hosts", "quoted-and-anomalous", "fields"],
)
def test_query_terms_parse(text: str, expected: dict[str, Any]) -> None:
    query = parse_query(text)
    for key, value in expected.items():
        assert getattr(query, key) == value


def test_a_bare_number_matches_values_not_timestamps() -> None:
    from tui.logindex import compile_bytes

    (pattern,) = parse_query("503").include
    rx = compile_bytes(pattern)
    hits = [b'{"ts":"2026-03-05T03:50:35.123Z","status":503}', b'"GET /api HTTP/1.1" 503 12', b'code=503']
    misses = [b'{"ts":"2026-03-05T03:50:35.503Z","status":200}', b"2026-05-03 12:05:03 ok", b"took 1503 ms",
              b"10.0.503.1 connected"]
    assert all(rx.search(t) for t in hits)
    assert not any(rx.search(t) for t in misses)


def test_field_filters_use_parsed_fields_and_quoted_phrases_are_literal(tmp_path: Path) -> None:
    """`status:503` keeps JSON lines whose status is 503 and access-log lines with a 503 (parsed by the readers);
    `status:5xx` any 5xx; `user:bob` a JSON field; a quoted phrase is literal text, not a regex."""
    from detectors.pipeline import AuditOptions, audit
    from tui.logindex import Query

    app = tmp_path / "app.jsonl"
    app.write_text("".join(
        json.dumps({"ts": f"2026-03-05T03:{m:02d}:00Z", "level": "info", "service": "orders", "msg": "request done",
                    "status": s, "user": u}) + "\n"
        for m, (s, u) in enumerate([(200, "amy"), (503, "bob"), (200, "bob"), (502, "cy"), (200, "amy")] * 6)))
    access = tmp_path / "access.log"
    access.write_text("".join(
        f'10.0.0.{i} - - [05/Mar/2026:03:{i:02d}:10 +0000] "GET /api/orders HTTP/1.1" {s} 12 "-" "curl/8"\n'
        for i, s in enumerate([200, 503, 200, 200] * 6)))
    model = LogModel([index_source(str(app)), index_source(str(access))])
    model.attach_audit(audit([str(app), str(access)], AuditOptions(incidents=False)))

    def shown(text: str) -> list[str]:
        return [model.sources[int(model.row_src[r])].text(int(model.row_line[r]))
                for r in np.flatnonzero(model.filter_mask(parse_query(text)))]

    assert len(shown("status:503")) == 6 + 6 and all("503" in t for t in shown("status:503"))
    assert len(shown("status:5xx")) == 12 + 6
    assert len(shown("user:bob")) == 12 and all('"user": "bob"' in t for t in shown("user:bob"))
    assert len(shown("-status:200 user:amy")) == 0
    assert shown('"request done" user:cy') and not shown('"request.done"')
    assert isinstance(parse_query('"a.b"'), Query)


def test_lines_are_shown_message_first_with_a_compact_header(tmp_path: Path) -> None:
    """A JSON line shows its message, then its other fields; the time, host and level go to columns."""
    log = tmp_path / "app.jsonl"
    log.write_text(json.dumps({"ts": "2026-03-05T03:04:05Z", "level": "error", "service": "orders-api",
                               "host": "web-2", "msg": "upstream timed out", "status": 504}) + "\n")
    model = LogModel([index_source(str(log))])
    when, src, host, level, message, continuation = model.parsed(0)
    assert (when, host, level, continuation) == ("03:04:05", "web-2", "ERROR", False)
    assert message.startswith("upstream timed out") and "status=504" in message and "service=orders-api" in message


def test_query_times_and_errors() -> None:
    ref = 1_795_392_000.0  # 2026-11-23T00:00:00Z
    q = parse_query("after:03:10 before:2026-11-23T04:00:00Z", ref)
    assert q.after == ref + 3 * 3600 + 600 and q.before == ref + 4 * 3600
    with pytest.raises(QueryError, match="not a valid regex"):
        parse_query("(unclosed")
    with pytest.raises(QueryError, match="level:loud"):
        parse_query("level:loud")
    with pytest.raises(QueryError, match="between 00:00 and 23:59"):
        parse_query("after:25:99", ref)
    with pytest.raises(QueryError, match="needs timestamps"):
        parse_query("after:03:10")


def test_citations_are_found_in_agent_text() -> None:
    text = "Disk full [A1, A1.e2] then [app.log:120]; see [sic] and [H2]."
    assert citations(text) == ["A1", "A1.e2", "app.log:120", "H2"]


# ------------------------------------------------------------------------- the real agent, with a scripted model


async def test_real_agent_streams_cites_and_reopens_its_session(incident, audited, tmp_path: Path) -> None:
    """agent.Sleuth behind the pane: the audit is adopted, the answer streams with its citations, and --session
    reopens it. The scripted model's rephrasing ("The disk filled [A1].") names nothing the evidence shows, so the
    vetting keeps the incident engine's deterministic answer, which is what the pane must show."""
    pytest.importorskip("langgraph")
    from agent.settings import Settings
    from tui.agent_adapter import RealAgent

    from fakes import scripted_llm

    settings = Settings(data_dir=tmp_path / "data")
    top = audited.report.anomalies[0]
    first = RealAgent("tui-test", settings, llm=scripted_llm([{"tool": "answer", "args": {}},
                                                               f"The disk filled [{top.id}]."]))
    app = make_app(incident, audited, agent=first)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert app.query_one("#hypotheses").option_count >= 1  # from the adopted audit, no model call
        await pilot.press("n", "a", *"what happened?", "enter")
        await app.background_idle()
        await pilot.pause()
        transcript = app.query_one(AgentPane).transcript_text
        answer = transcript.split("› what happened?", 1)[1].strip()
        assert answer.startswith("I1, from") and "[incident.log:" in answer, answer
        assert "The disk filled" not in answer  # the unvetted rephrasing never reaches the pane
        assert app.query_one(CitationList).option_count >= 1

    second = RealAgent("tui-test", settings, llm=scripted_llm(["unused"]))
    app = make_app(incident, audited, agent=second)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        text = app.query_one(AgentPane).transcript_text
        assert "what happened?" in text and answer[:200] in text
