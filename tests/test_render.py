"""The report renderers: Markdown, JSON and HTML carry the findings and stay safe with hostile log text."""

from __future__ import annotations

import io
import json
import re

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from detectors.base import Evidence
from detectors.render import print_report, render_html, render_json, render_markdown
from detectors.report import Anomaly, ContextLine, Report, SkipEntry, Totals

HOSTILE = "user `admin` ran | grep x | <script>alert(1)</script> && echo ``done``"


def _report(explanation: dict | None = None) -> Report:
    """Two anomalies with evidence and context, skips and an explanation: every section of a report."""
    a1 = Anomaly(
        id="A1",
        rank=1,
        detector="drain-rarity",
        where="app.log:120",
        source="app.log",
        line=120,
        ts=1795396231.3,
        time="2026-11-23T01:10:31Z",
        template_id=12,
        template='could not extend file "<*>": No space left on device',
        text='db-01 db[9358]: ERROR could not extend file "base/16384/24590": No space left on device',
        score=4.25,
        threshold=1.5,
        severity="high",
        window="lines 110-130",
        evidence=[
            Evidence("unseen_template", "template #12 never seen while fitting", "app.log:120", 12, 0.7, id="A1.e1"),
            Evidence("rare_template", "ERROR burst: 6 errors in 20 lines", "app.log:118", None, 0.3, id="A1.e2"),
        ],
        context=[ContextLine(n, f"line {n} ok") for n in range(110, 120)]
        + [ContextLine(120, "the focus line", focus=True)]
        + [ContextLine(n, f"line {n} ok") for n in range(121, 131)],
        level="ERROR",
        host="db-01",
    )
    a2 = Anomaly(
        id="A2",
        rank=2,
        detector="drain-rarity",
        where="app.log:340",
        source="app.log",
        line=340,
        ts=None,
        time=None,
        template_id=None,
        template=HOSTILE,
        text=HOSTILE,
        score=1.9,
        threshold=1.5,
        severity="low",
        window="lines 330-350",
        evidence=[Evidence("line", f"the line says: {HOSTILE}", "app.log:340", id="A2.e1")],
        context=[ContextLine(339, "before"), ContextLine(340, HOSTILE, focus=True), ContextLine(341, "after")],
    )
    return Report(
        created="2026-11-23T02:00:00Z",
        sources=["app.log"],
        detector="drain-rarity",
        windowing="sliding windows of 20 lines, step 10",
        fit="the audited data itself (unsupervised)",
        threshold_rule="median + 6 MAD of the window scores",
        totals=Totals(sources=1, lines=20_000, events=19_950, folded=50, skipped=3, templates=41, new_templates=41,
                      windows=1999, anomalous_windows=7, anomalies_shown=2, seconds=1.23),
        anomalies=[a1, a2],
        skipped=[
            SkipEntry("app.log", 77, "invalid UTF-8", "app.log:77 is not UTF-8; decoded with replacement characters"),
            SkipEntry("blob.bin", None, "binary file", "blob.bin looks binary; pass a text log"),
        ],
        skipped_by_reason={"invalid UTF-8": 2, "binary file": 1},
        formats={"iso": 1},
        explanation=explanation
        if explanation is not None
        else {
            "text": "The disk on db-01 filled up (A1.e1), then writes failed.\n\n"
            "<script>alert(1)</script> came from the model.",
            "hypotheses": [
                {"title": "Disk full on db-01", "confidence": 0.8, "evidence": ["A1.e1", "A1.e2"]},
                {"title": "A bad deploy", "confidence": 0.1, "evidence": []},
            ],
            "citations": {"resolved": 3, "dropped": ["A9.e1"]},
        },
    )  # fmt: skip


def _tables(markdown: str) -> list[list[list[str]]]:
    """Each table in `markdown` as rows of cell texts, parsed the way rich's Markdown parses it."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    tables: list[list[list[str]]] = []
    row: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            row = []
        elif tok.type in ("th_open", "td_open"):
            row.append(tokens[i + 1].content if tokens[i + 1].type == "inline" else "")
        elif tok.type == "tr_close":
            tables[-1].append(row)
    return tables


def test_markdown_has_ids_locations_scores_and_skip_reasons() -> None:
    md = render_markdown(_report())
    for expected in ("A1", "A2", "A1.e1", "A1.e2", "app.log:120", "app.log:340", "4.250", "1.500", "1.900"):
        assert expected in md
    assert "invalid UTF-8" in md and "binary file" in md
    assert "is not UTF-8; decoded with replacement characters" in md
    assert "2 anomalies shown (worst severity: high)" in md
    assert md.index("## Explanation") < md.index("## Anomalies") < md.index("## Totals") < md.index("## Skipped")
    assert md.index("### A1") < md.index("### A2")


def test_markdown_table_survives_backticks_and_pipes() -> None:
    md = render_markdown(_report())
    anomalies = _tables(md)[0]
    assert [len(r) for r in anomalies] == [8, 8, 8], "a | in a log line added or removed a cell"
    assert anomalies[2][1] == "A2"
    assert "|" in anomalies[2][7] and "`" in anomalies[2][7], "the escaped template should still read as it was"


def test_markdown_fences_hold_the_raw_line() -> None:
    tokens = MarkdownIt("commonmark").parse(render_markdown(_report()))
    fences = [t.content for t in tokens if t.type == "fence"]
    assert any(f.strip() == HOSTILE for f in fences), "the line must appear verbatim in its fence"
    assert any(f"> 340 | {HOSTILE}" in f for f in fences), "the focus context line must be marked"


def test_markdown_never_passes_raw_html_through() -> None:
    html_out = MarkdownIt("commonmark").enable("table").render(render_markdown(_report()))
    assert "<script>" not in html_out


def test_markdown_context_is_capped_around_the_focus_line() -> None:
    md = render_markdown(_report(), max_context=3)
    assert ">  120 | the focus line" in md or "> 120 | the focus line" in md
    assert "119 | line 119 ok" in md and "121 | line 121 ok" in md
    assert "line 118 ok" not in md and "line 122 ok" not in md
    assert "line 118 ok" in render_markdown(_report())  # the default of 7 shows more
    assert "Context (" not in render_markdown(_report(), max_context=0)


@pytest.mark.parametrize(
    "explanation",
    [{"text": "only text"}, {"hypotheses": ["a bare string"]}, {"citations": [1, 2]}, {}],
    ids=["text-only", "string-hypothesis", "citation-list", "empty"],
)
def test_partial_explanations_render(explanation: dict) -> None:
    report = _report(explanation)
    assert "A1" in render_markdown(report) and "A1" in render_html(report)


def test_empty_report_renders() -> None:
    report = Report(created="2026-11-23T02:00:00Z", sources=[], detector="d", windowing="", fit="", threshold_rule="",
                    totals=Totals())  # fmt: skip
    assert "No anomalies above the threshold" in render_markdown(report)
    assert "Nothing was skipped" in render_html(report)


def test_html_is_one_self_contained_document() -> None:
    page = render_html(_report())
    lower = page.lower()
    assert lower.startswith("<!doctype html>") and lower.count("<html") == 1 and lower.rstrip().endswith("</html>")
    for external in ("<script", "<link", " src=", "@import", "url(", "<iframe", "<img"):
        assert external not in lower, f"{external!r} would load or run something"
    assert "<style>" in page and "<details" in page
    assert 'id="A1"' in page and 'href="#A1"' in page and 'id="A1.e1"' in page
    assert "sev-high" in page and "sev-low" in page


def test_html_escapes_log_and_model_text() -> None:
    page = render_html(_report())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page.lower()
    explanation = page[page.index('id="explanation"') : page.index('id="anomalies"')]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; came from the model" in explanation
    assert '<a href="#A1.e1">A1.e1</a>' in explanation  # known ids in the model's text become links
    assert "A9.e1" in explanation  # a dropped citation is reported, not linked


def test_json_round_trips() -> None:
    report = _report()
    text = render_json(report)
    assert text == render_json(report)
    assert Report.from_json(text).to_dict() == json.loads(text) == report.to_dict()


def test_print_report_is_plain_markdown_when_piped() -> None:
    buf = io.StringIO()
    print_report(_report(), Console(file=buf, force_terminal=False, width=80))
    assert buf.getvalue() == render_markdown(_report())


def test_print_report_renders_on_a_terminal() -> None:
    buf = io.StringIO()
    print_report(_report(), Console(file=buf, force_terminal=True, width=120, color_system=None))
    out = buf.getvalue()
    assert "A1" in out and "app.log:120" in out
    assert not re.search(r"^## ", out, re.M), "headings should be rendered, not printed as Markdown"


def test_terminal_escape_sequences_are_neutralised() -> None:
    report = _report()
    report.anomalies[1].text = "red \x1b[31malert\x1b[0m and a bell \x07, \u202eevil.exe"
    report.anomalies[1].context[1].text = report.anomalies[1].text + " " + "x" * 1_000_000
    for out in (render_markdown(report), render_html(report)):
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "\\x1b[31malert" in out and "\\u202eevil" in out  # shown as visible escapes
        assert "… [+" in out and len(out) < 100_000  # the megabyte context line is clipped with a marker


def test_changes_after_the_onset_are_not_said_to_come_before_it() -> None:
    """The engine keeps changes up to a few minutes after the onset (a failover after the first errors): the
    report says how long after, in seconds when it is seconds, under a heading that says 'or at the onset'."""
    from detectors.incidents.render import html_lines, markdown_lines

    tri = {"incidents": [{"id": "I1", "title": "t", "onset": "2025-01-01T00:00:00Z", "confidence": "high",
                          "chain": [], "candidates": [],
                          "changed_before": [
                              {"kind": "failover", "text": "promoted self to leader", "where": "pg-2.log:616",
                               "before_s": -33.0},
                              {"kind": "deploy", "text": "deployed api 1.2", "where": "deploy.log:3", "before_s": 600.0}]}],
           "unrelated": [], "notes": []}
    md = "\n".join(markdown_lines(tri))
    assert "Changed just before or at the onset" in md and "33 s after the onset" in md and "10 min before" in md
    page = "\n".join(html_lines(tri))
    assert "33 s after the onset" in page and "10 min before" in page
