"""What a new on-call engineer ran into using sleuth on public logs it was not built on (Loghub, OpenStack, logreduce's
CI cases), each fixed generally: the checks use the real readers, engine, agent graph and renderers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import ormsgpack
import pytest

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


def _syslog_days(path: Path) -> Path:
    """Four days of one host's syslog (no year, as RFC 3164 writes it); each evening at 20:53 a cron line, and on
    Jun 30 only a burst of Kerberos failures at that same clock time."""
    lines = []
    for day in (28, 29, 30):
        for minute in range(0, 60, 3):
            lines.append(f"Jun {day} 20:{minute:02d}:01 combo CRON[{day}{minute}]: (root) CMD (run-parts /etc/cron.hourly)")
        lines.append(f"Jun {day} 20:53:02 combo crond[77]: nightly report mailed to ops")
        if day == 30:
            lines += [f"Jun 30 20:53:{4 + i:02d} combo klogind[1927{i}]: Kerberos authentication failed" for i in range(6)]
    lines.append("Jul  1 09:16:01 combo logrotate: ALERT exited abnormally with [1]")
    lines.sort(key=lambda ln: (ln[:6].replace("Jul  1", "Jul 01"), ln[7:15]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("question", ["what happened on combo around Jun 30 20:53?",
                                      "what happened around 30 June at 8:53 pm?",
                                      "anything on June 30th, 20:53?"])
def test_a_question_naming_a_syslog_date_looks_at_that_day(question: str, tmp_path: Path) -> None:
    """'around Jun 30 20:53' was read as 20:53 on the logs' first day (the date was dropped), and the answer said
    'Nothing was logged on combo between 20:48:00 and 20:58:00' on Loghub's Linux_2k.log, 46 lines logged then."""
    from agent import Sleuth

    path = _syslog_days(tmp_path / "messages")
    s = Sleuth(Settings(llm="none", data_dir=tmp_path / "data"))
    s.audit([str(path)])
    text = s.ask(question).text
    assert "Kerberos authentication failed" in text, text
    assert "-06-30 20:48:00" in text, text  # the logs span days: the span names its date


def test_counting_lines_a_second_apart_gives_no_rate(tmp_path: Path) -> None:
    """'how many errors?' on a CI console whose two ERROR lines came 0.2 ms apart said 'That is about 1.2e+02 per
    minute over 0 s' (zuul-console-pep8)."""
    from agent import Sleuth

    path = _ci_console(tmp_path / "console.log")
    s = Sleuth(Settings(llm="none", data_dir=tmp_path / "data"))
    s.audit([str(path)])
    text = s.ask("how many errors?").text
    assert "2 lines at ERROR or worse" in text, text
    assert "e+" not in text and "per minute over 0 s" not in text, text


def _ci_console(path: Path) -> Path:
    lines = [f"2017-11-12 14:26:{10 + i // 2:02d}.{i:06d} | py35 installed: package-{i}==1.{i}" for i in range(40)]
    lines += ["2017-11-12 14:27:38.214034 | app/models.py:76:1: E305 expected 2 blank lines after class or function "
              "definition, found 1",
              "2017-11-12 14:27:38.252631 | ERROR: InvocationError: '/src/.tox/pep8/bin/flake8 app'",
              "2017-11-12 14:27:38.252818 | ___________________________________ summary ____",
              "2017-11-12 14:27:38.252843 | py35: commands succeeded",
              "2017-11-12 14:27:38.252861 | ERROR: pep8: commands failed",
              "2017-11-12 14:27:39.243340 | [Zuul] Job complete, result: FAILURE"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_what_broke_first_never_hides_the_error_lines(tmp_path: Path) -> None:
    """On a failed CI job whose last lines are ERRORs the engine may find no rate change; 'what broke first?' then
    answered 'No incident and no anomaly ...' (high confidence) and named none of the ERROR lines. (The engine now
    reads the job's failed run as its incident: the answer names the run's first failure, flake8's finding.)"""
    from agent import Sleuth

    path = _ci_console(tmp_path / "console.log")
    s = Sleuth(Settings(llm="none", data_dir=tmp_path / "data"))
    s.audit([str(path)])
    answer = s.ask("what broke first?")
    assert ("E305" in answer.text and "console.log:41" in answer.text) or (
        "InvocationError" in answer.text and "console.log:42" in answer.text), answer.text
    assert answer.citations["dropped"] == []


def test_a_window_in_one_file_names_the_file_once(tmp_path: Path) -> None:
    """The report's window read '/work/shared/data/loghub_2k/Apache/Apache_2k.log:771../work/shared/data/loghub_2k/
    Apache/Apache_2k.log:790': the same long path twice in one cell."""
    from detectors.pipeline import audit
    from detectors.render import render_html, render_markdown

    path = tmp_path / "a folder" / "app.log"
    path.parent.mkdir()
    lines = [f"2026-03-01 10:{i // 60:02d}:{i % 60:02d} INFO worker: job {i} done in {i % 7} ms" for i in range(400)]
    lines[250] = "2026-03-01 10:04:10 ERROR worker: disk /dev/sdb1 failed: Input/output error"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = audit([str(path)]).report
    assert report.anomalies and report.anomalies[0].window.count(str(path)) == 2  # the key itself is unchanged
    md, page = render_markdown(report), render_html(report)
    assert f"window `{path}:" in md and f"..{path}:" not in md, md
    assert f"..{path}:" not in page


def test_a_rotated_log_is_one_source_in_time(tmp_path: Path) -> None:
    """A folder as /var/log leaves it: syslog.1 (yesterday), syslog (today) and an app log of today. The engine
    said syslog.1 'does not overlap the other sources; its clock, year or time zone may be off' and dropped its
    lines from the rate series, so yesterday gave no baseline. Found on Loghub's OpenSSH log cut into
    auth.log.2.gz / auth.log.1 / auth.log."""
    import gzip

    from detectors.incidents import timebase
    from detectors.pipeline import audit

    folder = tmp_path / "log"
    folder.mkdir()
    old = [f"2026-03-01T{h:02d}:{m:02d}:00Z host1 cron[1]: job {h}{m} finished" for h in range(12, 24) for m in (0, 30)]
    new = [f"2026-03-02T{h:02d}:{m:02d}:00Z host1 cron[1]: job {h}{m} finished" for h in range(0, 12) for m in (0, 30)]
    with gzip.open(folder / "syslog.2.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(x.replace("2026-03-01T1", "2026-02-28T1").replace("2026-03-01T2", "2026-02-28T2")
                           for x in old) + "\n")
    (folder / "syslog.1").write_text("\n".join(old) + "\n", encoding="utf-8")
    (folder / "syslog").write_text("\n".join(new) + "\n", encoding="utf-8")
    (folder / "app.log").write_text("\n".join(f"2026-03-02T{h:02d}:{m:02d}:10Z host1 app[2]: served {h * m} requests"
                                              for h in range(0, 12) for m in range(0, 60, 10)) + "\n", encoding="utf-8")
    result = audit([str(folder)])
    tb = timebase.build(result.events)
    assert not [n for n in tb.notes if "does not overlap" in n or "clock looks" in n], tb.notes
    sources = result.events.sources
    for name in ("syslog.2.gz", "syslog.1"):
        s = next(i for i, src in enumerate(sources) if src.endswith(name))
        assert tb.usable[result.events.source == s].all(), name
    assert timebase.rotation_families([f"/v/{n}" for n in ("auth.log", "auth.log.1", "auth.log.2.gz", "api-1.log",
                                                          "api-2.log", "messages-20241201", "messages")]) == \
        {0: [0, 1, 2], 3: [3], 4: [4], 5: [5, 6]}


def test_two_logs_concatenated_into_one_file_keep_their_lines(tmp_path: Path) -> None:
    """`cat Zookeeper_2k.log Apache_2k.log > all.log` (or a service whose layout changed at an upgrade): the file's
    layout is detected on its head, and the 1,999 Apache lines, without that header, were folded 200 at a time
    into the last ZooKeeper entry (3,999 lines read as 2,009 events); Apache's errors were gone."""
    from detectors.readers import ReadStats, read_events

    zk = [f"2015-07-29 17:{m:02d}:{s:02d},{(m * s) % 1000:03d} - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:Follower@{m}] "
          f"- Got zxid 0x{m:x}{s:02x} expected 0x1" for m in range(40, 50) for s in range(0, 60, 5)]
    apache = [f"[Sun Dec 04 04:{m:02d}:{s:02d} 2005] [notice] jk2_init() Found child {m * 60 + s} in scoreboard slot 6"
              for m in range(10, 20) for s in range(0, 60, 5)]
    apache[50] = "[Sun Dec 04 04:14:10 2005] [error] mod_jk child workerEnv in error state 6"
    trace = ["2015-07-29 17:50:01,001 - ERROR [main:Leader@80] - Unexpected exception",
             "java.net.SocketException: Connection reset", "\tat java.net.SocketInputStream.read(SocketInputStream.java:196)"]
    path = tmp_path / "all.log"
    path.write_text("\n".join(zk + trace + apache) + "\n", encoding="utf-8")
    stats = ReadStats()
    events = sorted(read_events([str(path)], stats=stats), key=lambda e: e.line)
    assert len(events) == len(zk) + 1 + len(apache)
    assert stats.folded == 2  # the ZooKeeper stack trace, as before
    err = events[len(zk) + 1 + 50]
    assert err.level == "ERROR" and err.text == "mod_jk child workerEnv in error state 6" and err.ts is not None
    assert err.line == len(zk) + len(trace) + 51


def test_the_year_note_names_the_year_the_lines_got(tmp_path: Path) -> None:
    """Loghub's OpenSSH lines ('Dec 10 06:55:46 LabSZ sshd[24200]: ...') in a file modified on 2026-12-07: the lines
    were dated 2025 (a date more than two days after the reference goes to the year before), and the note said
    'took 2026 from the file's modification time'."""
    import calendar
    import os
    import time

    from detectors.readers import ReadStats, read_events

    path = tmp_path / "auth.log"
    path.write_text("".join(f"Dec 10 06:{m:02d}:46 LabSZ sshd[242{m:02d}]: Connection closed by 173.234.31.186 "
                            "[preauth]\n" for m in range(30)), encoding="utf-8")
    mtime = calendar.timegm((2026, 12, 7, 12, 0, 0))
    os.utime(path, (mtime, mtime))
    stats = ReadStats()
    events = list(read_events([str(path)], stats=stats))
    assert {time.gmtime(e.ts).tm_year for e in events if e.ts is not None} == {2025}
    note = next(n for n in stats.notes if "carry no year" in n)
    assert "2025" in note and "2026-12-07" in note, note


def test_is_it_related_without_an_incident_shows_the_line(tmp_path: Path) -> None:
    """'is the sphinx traceback related?' on logreduce's mock-01 console.fail (no incident found there) answered
    the same 'No incident was found ...' paragraph as every other question, without the line asked about."""
    from agent import Sleuth

    path = tmp_path / "build.log"
    lines = [f"2026-05-02 08:00:{i:02d},000 INFO builder: step {i} ok" for i in range(50)]
    lines[31] = "2026-05-02 08:00:31,000 WARNING builder: cache warmup took 14 s"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = Sleuth(Settings(llm="none", data_dir=tmp_path / "data"))
    s.audit([str(path)])
    incidents = s.workspace.result.report.incidents
    assert incidents is not None and not incidents["incidents"]
    answer = s.ask("is the cache warmup related?")
    assert "no incident" in answer.text and "build.log:32" in answer.text, answer.text
    assert answer.citations["dropped"] == []


def test_a_cut_line_is_reported_without_advice_the_cli_cannot_follow(tmp_path: Path) -> None:
    """A 2 MB line was reported as 'truncated to 1000000 bytes; raise max_line_bytes to keep them whole': no
    command-line option sets that. The note now says what happened to the line."""
    from detectors.pipeline import audit

    path = tmp_path / "app.log"
    lines = [f"2026-01-01 00:00:{i:02d} INFO svc: payload {i}" for i in range(40)]
    lines[20] = "2026-01-01 00:00:20 INFO svc: payload " + "x" * 1_200_000
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = audit([str(path)])
    note = next(s.message for s in result.stats.skips if s.reason == "line too long")
    assert f"{path}:21" in note and "max_line_bytes" not in note and "the rest dropped" in note, note


def test_triage_takes_llm_none_like_audit_and_chat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'sleuth triage FILE --llm none' stopped with 'No such option: --llm', though audit and chat take it (a new
    user learns it there, and the dashboard's agent pane is the same agent)."""
    from typer.testing import CliRunner

    import tui.app
    from cli.main import app

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SLEUTH_DATA_DIR", str(tmp_path / "state"))
    seen: dict[str, Any] = {}
    monkeypatch.setattr(tui.app, "run_triage", lambda paths, metrics, follow, session, **kw: seen.update(kw))
    log = tmp_path / "app.log"
    log.write_text("2026-01-01 00:00:00 INFO svc: up\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["triage", str(log), "--llm", "none"])
    assert result.exit_code == 0, result.output
    assert seen["settings"].llm == "none"


def test_the_dashboard_dates_lines_of_a_log_that_spans_days(tmp_path: Path) -> None:
    """On Loghub's Linux_2k.log (six weeks of one host's syslog) the dashboard's time column read '15:16:02' then
    '02:04:59': no day, so which night a burst came in could not be told. Lines of a log over several days now show
    'MM-DD HH:MM:SS'; a log within one day keeps the short time."""
    from detectors.pipeline import AuditOptions, audit
    from tui.logindex import LogModel, index_source
    from tui.widgets.logview import LogView

    days = tmp_path / "days.log"
    days.write_text("".join(f"2026-06-{14 + i // 10:02d}T{(i * 7) % 24:02d}:16:01Z combo sshd[1]: INFO session {i}\n"
                            for i in range(40)), encoding="utf-8")
    model = LogModel([index_source(str(days))])
    model.attach_audit(audit([str(days)], AuditOptions(incidents=False)))
    assert model.parsed(0)[0] == "06-14 00:16:01" and model.parsed(39)[0].startswith("06-17 ")
    assert LogView(model).header_widths(120)[0] == 14
    one = tmp_path / "one.log"
    one.write_text("".join(f"2026-06-14T10:{i:02d}:00Z combo sshd[1]: INFO session {i}\n" for i in range(40)),
                   encoding="utf-8")
    short = LogModel([index_source(str(one))])
    short.attach_audit(audit([str(one)], AuditOptions(incidents=False)))
    assert short.parsed(0)[0] == "10:00:00" and LogView(short).header_widths(120)[0] == 8
    model.close()
    short.close()


def test_the_incident_panel_dates_a_chain_that_spans_days() -> None:
    """Loghub's HPC_2k.log: the dashboard's incident panel listed chain steps 13 days apart as '10:37:54',
    '16:43:31', '14:49:53' (and 'onset 20:53:04' on the six weeks of Linux_2k.log): the days were missing."""
    from tui.widgets.incident import IncidentPanel

    onset = 1751316784.0  # 2025-06-30 20:53:04 UTC
    step = {"role": "cause", "text": "not responding", "where": "HPC_2k.log:382", "ts": onset}
    panel = IncidentPanel()
    panel.show_incidents([{"id": "I1", "confidence": "low", "title": "t", "onset_ts": onset,
                           "chain": [step, {**step, "ts": onset + 3 * 86_400, "where": "HPC_2k.log:17"}]}])
    assert str(panel.border_title).endswith("onset 06-30 20:53:04")
    panel.show_incidents([{"id": "I1", "confidence": "low", "title": "t", "onset_ts": onset, "chain": [step]}])
    assert str(panel.border_title).endswith("onset 20:53:04")  # one day, and logs of one day: as before
    panel.show_incidents([{"id": "I1", "confidence": "low", "title": "t", "onset_ts": onset, "chain": [step]}],
                         dated=True)  # the logs cover several days
    assert str(panel.border_title).endswith("onset 06-30 20:53:04")


@pytest.mark.parametrize("bom", [b"\xff\xfe", b""], ids=["with-bom", "no-bom"])
def test_a_utf16_log_is_named_as_such_with_the_command_to_convert_it(tmp_path: Path, bom: bytes) -> None:
    """A log saved by Windows PowerShell ('Get-WinEvent ... > events.log' writes UTF-16LE) was skipped as 'looks
    binary (NUL bytes ...)': true to the bytes, no help to the user. It is now named UTF-16, with the iconv line."""
    from detectors.readers import ReadStats, read_events

    path = tmp_path / "events.log"
    text = "".join(f"2026-01-05 10:00:{i:02d} Information Service Control Manager: service {i} entered the running "
                   "state\r\n" for i in range(40))
    path.write_bytes(bom + text.encode("utf-16-le"))
    stats = ReadStats()
    assert list(read_events([str(path)], stats=stats)) == []
    (skip,) = stats.skips
    assert skip.reason == "UTF-16 text" and "iconv -f UTF-16 -t UTF-8" in skip.message and str(path) in skip.message
    binary = tmp_path / "core.log"
    binary.write_bytes(bytes(range(256)) * 8)
    stats = ReadStats()
    list(read_events([str(binary)], stats=stats))
    assert [s.reason for s in stats.skips] == ["binary file"]


@pytest.mark.parametrize("question", ["how many lines between Jun 30 20:50 and Jun 30 21:00?",
                                      "how many events between Jun 30 20:50 and Jun 30 21:00?"])
def test_how_many_lines_in_a_span_counts_every_line(question: str, tmp_path: Path) -> None:
    """'how many lines between Jun 30 20:50 and Jun 30 21:00?' on Linux_2k.log counted only 'I1's symptom' (15 of
    the 46 lines logged then); 'how many events on combo?' looked for the word 'events' ('No line ... matches')."""
    from agent import Sleuth

    path = _syslog_days(tmp_path / "messages")
    s = Sleuth(Settings(llm="none", data_dir=tmp_path / "data"))
    s.audit([str(path)])
    logged = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("Jun 30 20:5")]
    text = s.ask(question).text
    assert text.startswith(f"{len(logged)} lines in all between"), text


def test_an_incident_is_explained_when_no_window_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'sleuth audit Linux_2k.log --baseline Linux_2k.log --llm none': the diff detector flags no line (the run is
    its own baseline), the engine still finds I1, and the report had no Explanation (it was asked only when
    anomalies were shown)."""
    import json

    from typer.testing import CliRunner

    from cli.main import app
    from lab.synth import generate_logs

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SLEUTH_DATA_DIR", str(tmp_path / "state"))
    path = tmp_path / "incident.log"
    generate_logs(path, lines=3000, seed=2)
    result = CliRunner().invoke(app, ["audit", str(path), "--baseline", str(path), "--llm", "none", "--format", "json",
                                      "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["anomalies"] == [] and report["incidents"]["incidents"]
    assert report["explanation"] and "I1" in report["explanation"]["text"], report["explanation"]


def test_chat_compares_a_failed_run_with_a_good_one(tmp_path: Path) -> None:
    """'sleuth audit console.fail --baseline console.good' found the incident of logreduce's zuul-console-pep8 case
    (titled with flake8's E305), but 'sleuth chat' had no --baseline: chatting about the same failed run answered
    'No incident and no anomaly ...'. chat_loop (and `sleuth chat --baseline`) now compares with the good run."""
    from agent.cli_support import chat_loop

    good, fail = tmp_path / "console.good", tmp_path / "console.fail"
    head = [f"2017-11-12 14:26:{10 + i // 2:02d}.{i:06d} | py35 installed: package-{i}==1.{i}" for i in range(40)]
    good.write_text("\n".join([*head, "2017-11-12 14:27:38.252843 | py35: commands succeeded",
                               "2017-11-12 14:27:38.252861 | pep8: commands succeeded",
                               "2017-11-12 14:27:39.243340 | [Zuul] Job complete, result: SUCCESS"]) + "\n")
    _ci_console(fail)
    said: list[str] = []
    settings = Settings(llm="none", data_dir=tmp_path / "data")
    chat_loop(settings, paths=[str(fail)], baseline=[str(good)], lines=["what broke first?"], echo=said.append,
              write=said.append)
    text = "".join(said)
    assert "No incident" not in text and "I1" in text, text  # alone, the failed run shows no incident here
    assert "E305 expected 2 blank lines" in text and "[console.fail:41]" in text, text
