"""The log readers as a user meets them: formats recognised, files/dirs/stdin/.gz read, bad input reported."""

from __future__ import annotations

import builtins
import calendar
import csv
import gzip
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors import readers
from detectors.events import Event, ReadStats
from detectors.formats import FORMATS, detect_format, normalize_level, parse_timestamp
from detectors.readers import context_lines, expand_sources, read_events, total_bytes


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: float = 0.0) -> float:
    """Epoch seconds of a UTC time, written the way a reader of the test thinks of it."""
    return calendar.timegm((y, mo, d, h, mi, 0)) + s


def read(paths: list[str | Path], **kwargs) -> tuple[list[Event], ReadStats]:
    stats = ReadStats()
    events = list(read_events([str(p) for p in paths], stats=stats, **kwargs))
    return events, stats


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write(path: Path, text: str | bytes, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


# Reference time for year-less formats: the file's mtime (2024-08-01).
MTIME = utc(2024, 8, 1)

# (format, two lines, expected fields of the first event)
CASES = [
    ("bgl",
     "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO "
     "instruction cache parity error corrected\n"
     "KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 2005-06-11-17.32.07.581048 R30-M0-N9-C:J16-U01 RAS KERNEL "
     "FATAL data TLB error interrupt\n",
     dict(ts=1117838570.675872, level="INFO", host="R02-M1-N0-C:J12-U11", service="KERNEL", label="-",
          text="instruction cache parity error corrected")),
    ("hdfs",
     "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 "
     "terminating\n081109 203807 222 WARN dfs.DataNode$DataXceiver: writeBlock blk_-1 received exception\n",
     dict(ts=utc(2008, 11, 9, 20, 36, 15), level="INFO", service="dfs.DataNode$PacketResponder",
          text="PacketResponder 1 for block blk_38865049064139660 terminating")),
    ("thunderbird",
     "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for user root\n"
     "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session opened for user root\n",
     dict(ts=1131566461.0, host="dn228", service="crond(pam_unix)", label="-", text="session closed for user root")),
    ("openstack",
     "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
     "[req-38101a0b-2096-447d-96ea-a692162415ae 113d3a99c3da401fbd62cc2caa5b96d2 - - -] 10.11.10.1 \"GET "
     "/v2/servers/detail HTTP/1.1\" status: 200\n"
     "nova-compute.log.1.2017-05-16_13:55:31 2017-05-16 00:00:04.500 2931 WARNING nova.compute.manager "
     "[req-aa-bb - - - - -] [instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM Resumed\n",
     dict(ts=utc(2017, 5, 16, 0, 0, 0.008), level="INFO", service="nova.osapi_compute.wsgi.server",
          text='10.11.10.1 "GET /v2/servers/detail HTTP/1.1" status: 200')),
    ("openstack_nova",
     "INFO nova.compute.claims [req-a4498d64-47bb-491f-adde-effccaba43f0] [instance: "
     "11760334-ac63-4cc8-9086-578422af8c99] Claim successful on node parisaserver\n"
     " WARNING nova.compute.manager [req-1] [instance: 11760334-ac63-4cc8-9086-578422af8c99] Received event\n",
     dict(ts=None, level="INFO", service="nova.compute.claims",
          text="[instance: 11760334-ac63-4cc8-9086-578422af8c99] Claim successful on node parisaserver")),
    ("jsonl",
     '{"@timestamp": "2024-05-01T10:00:00.250Z", "level": "warning", "message": "disk 91% full", "host": "db1", '
     '"logger": "disk"}\n{"ts": 1714557601, "severity": "ERROR", "msg": "disk full", "hostname": "db1"}\n',
     dict(ts=utc(2024, 5, 1, 10, 0, 0.25), level="WARN", host="db1", service="disk", text="disk 91% full")),
    ("syslog5424",
     "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] "
     "An application event log entry\n<11>1 2003-10-11T23:14:15+01:00 mymachine su - - - 'su root' failed\n",
     dict(ts=utc(2003, 10, 11, 22, 14, 15.003), level="INFO", host="mymachine.example.com", service="evntslog",
          text="An application event log entry")),
    ("syslog3164",
     "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0\n"
     "Jun 14 15:16:02 combo sshd(pam_unix)[19937]: check pass; user unknown\n",
     dict(ts=utc(2024, 6, 14, 15, 16, 1), host="combo", service="sshd(pam_unix)",
          text="authentication failure; logname= uid=0")),
    ("syslog_iso",
     "2017-06-20T05:43:10.500+02:00 web1 sshd[811]: Accepted publickey for root\n"
     "2017-06-20T05:43:11.000+02:00 web1 kernel: eth0 up\n",
     dict(ts=utc(2017, 6, 20, 3, 43, 10.5), host="web1", service="sshd", text="Accepted publickey for root")),
    ("android",
     "03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app wtoken\n"
     "03-17 16:13:38.819  1702  8671 E PowerManagerService: acquire lock=233570404\n",
     dict(ts=utc(2024, 3, 17, 16, 13, 38.811), level="DEBUG", service="WindowManager",
          text="printFreezingDisplayLogsopening app wtoken")),
    ("apache",
     "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6\n"
     "[Sun Dec 04 04:51:08 2005] [notice] jk2_init() Found child 6725 in scoreboard slot 10\n",
     dict(ts=utc(2005, 12, 4, 4, 47, 44), level="ERROR", text="mod_jk child workerEnv in error state 6")),
    ("healthapp",
     "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579\n"
     "20171223-22:32:0:95|Step_LSC|30002312|onExtend:1514038530000 14 0 4\n",
     dict(ts=utc(2017, 12, 23, 22, 15, 29.606), service="Step_LSC", text="onStandStepChanged 3579")),
    ("hpc",
     "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change: Component alt0 is "
     "unavailable\n350766 node-109 unix.hw state_change.unavailable 1084680778 1 Component alt0 is unavailable\n",
     dict(ts=1077804742.0, host="node-246", service="unix.hw",
          text="Component State Change: Component alt0 is unavailable")),
    ("proxifier",
     "[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy proxy.cse.cuhk.edu.hk:5070 HTTPS\n"
     "[10.30 16:51:56] svchost.exe *64 - proxy.cse.cuhk.edu.hk:5070 close, 303 bytes sent\n",
     # October is after the file's mtime (August 2024): the year before.
     dict(ts=utc(2023, 10, 30, 16, 49, 6), service="chrome.exe",
          text="proxy.cse.cuhk.edu.hk:5070 open through proxy proxy.cse.cuhk.edu.hk:5070 HTTPS")),
    ("spark",
     "17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls to: yarn,curi\n"
     "17/06/09 20:10:41 ERROR executor.Executor: Exception in task 0.0\n",
     dict(ts=utc(2017, 6, 9, 20, 10, 40), level="INFO", service="spark.SecurityManager",
          text="Changing view acls to: yarn,curi")),
    ("windows_cbs",
     "2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505\n"
     "2016-09-28 04:30:31, Warning               CSI    00000001@2016/9/27:20:30:31.455 WcpInitialize\n",
     dict(ts=utc(2016, 9, 28, 4, 30, 30), level="INFO", service="CBS", text="Loaded Servicing Stack v6.1.7601.23505")),
    ("zookeeper",
     "2015-07-29 19:04:29,071 - WARN  [SendWorker:188978561024:QuorumCnxManager$SendWorker@688] - Send worker "
     "leaving thread\n2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection"
     "@774] - Notification time out: 3200\n",
     dict(ts=utc(2015, 7, 29, 19, 4, 29.071), level="WARN", service="QuorumCnxManager$SendWorker",
          text="Send worker leaving thread")),
    ("log4j",
     "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster\n"
     "2015-10-18 18:01:48,963 WARN [RMCommunicator Allocator] org.apache.hadoop.ipc.Client: Retrying connect\n",
     dict(ts=utc(2015, 10, 18, 18, 1, 47.978), level="INFO",
          service="org.apache.hadoop.mapreduce.v2.app.MRAppMaster", text="Created MRAppMaster")),
    ("iso8601",
     "2024-01-02T03:04:05.5+02:00 [ERROR] payment failed for order 7\n"
     "2024-01-02 01:04:06Z WARNING retrying\n",
     dict(ts=utc(2024, 1, 2, 1, 4, 5.5), level="ERROR", text="payment failed for order 7")),
    ("epoch",
     "1700000000.25 ERROR worker 3 died\n1700000001250 INFO worker 3 restarted\n",
     dict(ts=1700000000.25, level="ERROR", text="worker 3 died")),
    ("timestamped",
     '10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326\n'
     '10.0.0.2 - - [10/Oct/2000:13:55:40 -0700] "GET /index.html HTTP/1.0" 404 0\n',
     dict(ts=utc(2000, 10, 10, 20, 55, 36), text='10.0.0.1 - - "GET /apache_pb.gif HTTP/1.0" 200 2326')),
    ("journald",  # journalctl -o json (issue 20)
     '{"__REALTIME_TIMESTAMP":"1714557600250000","PRIORITY":"3","_HOSTNAME":"web1","_SYSTEMD_UNIT":"nginx.service",'
     '"SYSLOG_IDENTIFIER":"nginx","MESSAGE":"upstream timed out"}\n'
     '{"__REALTIME_TIMESTAMP":"1714557601000000","PRIORITY":"6","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"cron",'
     '"MESSAGE":[104,105,255]}\n',
     dict(ts=utc(2024, 5, 1, 10, 0, 0.25), level="ERROR", host="web1", service="nginx", text="upstream timed out")),
    ("otlp",  # OpenTelemetry log records, one a line (issue 20)
     '{"timeUnixNano":"1714557600500000000","severityNumber":17,"severityText":"ERROR","body":{"stringValue":'
     '"payment failed"},"traceId":"5b8efff798038103d269b633813fc60c","resource":{"service.name":"checkout",'
     '"host.name":"node-3"}}\n'
     '{"timeUnixNano":"0","observedTimeUnixNano":"1714557601000000000","severityText":"info","body":'
     '{"stringValue":"retry ok"},"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]}\n',
     dict(ts=utc(2024, 5, 1, 10, 0, 0.5), level="ERROR", host="node-3", service="checkout", text="payment failed")),
    ("logfmt",  # Go's slog/logrus text handlers, Heroku, Grafana
     'time=2024-05-01T10:00:00.5Z level=error msg="disk full" host=db1 service=postgres mount=/var/lib/pg\n'
     "time=2024-05-01T10:00:01Z level=info msg=checkpoint host=db1 service=postgres\n",
     dict(ts=utc(2024, 5, 1, 10, 0, 0.5), level="ERROR", host="db1", service="postgres", text="disk full")),
    ("klog",  # kubelet, kube-apiserver, controllers: no year (taken from the file's mtime here)
     "E0314 10:22:35.123456       1 reflector.go:138] failed to list *v1.Pod: connection refused\n"
     "I0314 10:22:36.000001       1 leaderelection.go:250] attempting to acquire leader lease\n",
     dict(level="ERROR", text="failed to list *v1.Pod: connection refused")),
    ("ruby_logger",  # Rails / Sidekiq: severity letter, time, pid, severity word, program name, message
     "E, [2025-03-14T10:22:35.123456 #4711] ERROR -- sidekiq: [jid-9] Redis::CannotConnectError: connection refused\n"
     "I, [2025-03-14T10:22:36.000001 #4711]  INFO -- : [req-1] Completed 200 OK in 12ms\n",
     dict(ts=utc(2025, 3, 14, 10, 22, 35.123456), level="ERROR", service="sidekiq",
          text="[jid-9] Redis::CannotConnectError: connection refused")),
    ("container",  # docker compose logs: the container's name, then its own layout
     "api-1     | 2025-03-14T10:22:35.201Z ERROR could not connect to server: Connection refused\n"
     "web-1     | 2025-03-14T10:22:35.300Z info: GET /cart 502 1952ms\n",
     dict(ts=utc(2025, 3, 14, 10, 22, 35.201), level="ERROR", service="api-1",
          text="could not connect to server: Connection refused")),
    ("cri",  # containerd / CRI-O (kubelet's /var/log/pods): the runtime's time and stream, then the container's line
     '2025-03-14T10:22:35.201000000Z stderr F {"level":"error","ts":1741947755.0,"msg":"payment failed"}\n'
     "2025-03-14T10:22:36.000000000Z stdout F W0314 10:22:36.000001       7 controller.go:1214] no endpoints\n",
     dict(ts=utc(2025, 3, 14, 10, 22, 35.201), level="ERROR", text="payment failed")),
    ("plain",
     "Started by user anonymous\nBuilding remotely on bare-centos-7\n",
     dict(ts=None, level=None, text="Started by user anonymous")),
]


@pytest.mark.parametrize("fmt, content, expected", CASES, ids=[c[0] for c in CASES])
def test_each_format_is_detected_with_its_fields(tmp_path, fmt, content, expected):
    path = write(tmp_path / "app.log", content, mtime=MTIME)
    events, stats = read([path])
    assert stats.formats == {fmt: 1}
    assert [e.line for e in sorted(events, key=lambda e: e.line)] == [1, 2]
    first = min(events, key=lambda e: e.line)
    assert first.fmt == fmt
    assert first.raw == content.split("\n")[0]
    for name, value in expected.items():
        got = getattr(first, name)
        if name == "ts" and value is not None:
            assert got == pytest.approx(value, abs=1e-6), name
        else:
            assert got == value, name
    assert not stats.skips


def test_every_format_has_a_test_case():
    assert {f.name for f in FORMATS} | {"plain"} == {c[0] for c in CASES}


def test_each_format_detects_its_own_example():
    for fmt in FORMATS:
        assert detect_format([fmt.example] * 3).name == fmt.name


def test_levels_are_normalised():
    assert [normalize_level(w) for w in ("warning", "SEVERE", "CRITICAL", "FAILURE", "notice", "Info", 50, 3)] == [
        "WARN", "ERROR", "FATAL", "FATAL", "INFO", "INFO", "ERROR", "ERROR"]
    assert normalize_level("banana") is None


def test_timestamps_in_json_values():
    assert parse_timestamp("2024-05-01T10:00:00Z") == utc(2024, 5, 1, 10)
    assert parse_timestamp("2024-05-01 12:00:00+02:00") == utc(2024, 5, 1, 10)
    assert parse_timestamp(1714557600123) == pytest.approx(utc(2024, 5, 1, 10, 0, 0.123))
    assert parse_timestamp("not a time") is None
    assert parse_timestamp("2024-13-01T00:00:00") is None  # month 13: no timestamp rather than a wrong one


def test_year_less_syslog_takes_the_year_before_when_it_would_be_in_the_future(tmp_path):
    path = write(tmp_path / "syslog", "Dec 31 23:59:59 h cron[1]: tick\nJan  1 00:00:01 h cron[1]: tock\n",
                 mtime=utc(2025, 1, 1, 0, 5))
    events, _ = read([path])
    assert [e.ts for e in events] == [utc(2024, 12, 31, 23, 59, 59), utc(2025, 1, 1, 0, 0, 1)]


def test_bgl_line_without_node_repeat(tmp_path):
    path = write(tmp_path / "bgl.log", "- 1121252981 2005.07.13 - 2005-07-13-04.09.41.585880 RAS KERNEL FATAL "
                                       "Kill job 22087 timed out. Block freed.\n")
    (event,), _ = read([path])
    assert (event.level, event.service, event.text) == ("FATAL", "KERNEL", "Kill job 22087 timed out. Block freed.")


# --- sources ----------------------------------------------------------------------------------------------

ISO_LINES = "".join(f"2024-01-01 00:00:{s:02d} INFO step {s}\n" for s in range(0, 60, 2))


def test_gzip_reads_like_the_plain_file(tmp_path):
    plain = write(tmp_path / "a.log", ISO_LINES)
    packed = write(tmp_path / "b.log.gz", gzip.compress(ISO_LINES.encode()))
    (p_events, _), (g_events, stats) = read([plain]), read([packed])
    assert [(e.line, e.ts, e.raw) for e in g_events] == [(e.line, e.ts, e.raw) for e in p_events]
    assert g_events[0].source == str(packed)
    assert not stats.skips


def test_crlf_and_missing_final_newline(tmp_path):
    path = write(tmp_path / "w.log", b"2024-01-01 00:00:00 INFO a\r\n2024-01-01 00:00:01 INFO b")
    events, stats = read([path])
    assert [e.raw for e in events] == ["2024-01-01 00:00:00 INFO a", "2024-01-01 00:00:01 INFO b"]
    assert stats.lines == 2


def test_directory_is_read_recursively_with_globs(tmp_path):
    write(tmp_path / "logs" / "a.log", ISO_LINES)
    write(tmp_path / "logs" / "sub" / "b.log", ISO_LINES)
    write(tmp_path / "logs" / "sub" / "c.txt", "x\n")
    write(tmp_path / "logs" / ".hidden.log", ISO_LINES)
    root = str(tmp_path / "logs")
    assert expand_sources([root]) == [f"{root}/a.log", f"{root}/sub/b.log", f"{root}/sub/c.txt"]
    assert expand_sources([root], include=["*.log"]) == [f"{root}/a.log", f"{root}/sub/b.log"]
    assert expand_sources([root], include=["*.log"], exclude=["sub/*"]) == [f"{root}/a.log"]
    events, stats = read([root], include=["*.log"])
    assert {e.source for e in events} == {f"{root}/a.log", f"{root}/sub/b.log"}
    assert stats.sources == [f"{root}/a.log", f"{root}/sub/b.log"]


def test_a_directory_mixing_logs_and_other_files(tmp_path):
    write(tmp_path / "d" / "app.log", ISO_LINES)
    write(tmp_path / "d" / "core.dump", bytes(range(256)) * 40)
    write(tmp_path / "d" / "photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + os.urandom(4000))
    events, stats = read([tmp_path / "d"])
    assert len(events) == ISO_LINES.count("\n")
    binary = {s.source: s for s in stats.skips if s.reason == "binary file"}
    assert set(binary) == {str(tmp_path / "d" / "core.dump"), str(tmp_path / "d" / "photo.jpg")}
    assert all(s.line is None and s.source in s.message for s in binary.values())


def test_stdin_is_read_and_can_be_re_read_for_context():
    data = io.BytesIO(ISO_LINES.encode())
    events, stats = read(["-"], stdin=data)
    assert len(events) == 30 and events[0].source == "-" and events[0].where == "-:1"
    assert context_lines("-", 2, before=1, after=1) == [(1, "2024-01-01 00:00:00 INFO step 0"),
                                                         (2, "2024-01-01 00:00:02 INFO step 2"),
                                                         (3, "2024-01-01 00:00:04 INFO step 4")]


def test_gzipped_stdin():
    events, _ = read(["-"], stdin=io.BytesIO(gzip.compress(ISO_LINES.encode())))
    assert len(events) == 30
    assert context_lines("-", 30, before=0, after=5) == [(30, "2024-01-01 00:00:58 INFO step 58")]


def test_context_lines_of_plain_and_gz(tmp_path):
    plain = write(tmp_path / "a.log", ISO_LINES)
    packed = write(tmp_path / "a.log.gz", gzip.compress(ISO_LINES.encode()))
    for path in (plain, packed):
        assert [n for n, _ in context_lines(str(path), 1)] == [1, 2, 3, 4]
        assert context_lines(str(path), 10, 0, 0) == [(10, "2024-01-01 00:00:18 INFO step 18")]
    assert context_lines(str(tmp_path / "gone.log"), 3) == []


def test_two_files_are_merged_by_time(tmp_path):
    odd = write(tmp_path / "odd.log", "".join(f"2024-01-01 00:00:{s:02d} INFO odd {s}\n" for s in (1, 3, 5)))
    even = write(tmp_path / "even.log", "".join(f"2024-01-01 00:00:{s:02d} INFO even {s}\n" for s in (0, 2, 4, 6)))
    events, stats = read([odd, even])
    assert [e.text for e in events] == ["even 0", "odd 1", "even 2", "odd 3", "even 4", "odd 5", "even 6"]
    assert stats.events == 7 and stats.sources == [str(odd), str(even)]


def test_a_source_without_timestamps_keeps_its_order_in_a_merge(tmp_path):
    timed = write(tmp_path / "t.log", ISO_LINES)
    untimed = write(tmp_path / "u.log", "zeta\nalpha\nmid\n")
    events, _ = read([timed, untimed])
    assert [e.text for e in events if e.source == str(untimed)] == ["zeta", "alpha", "mid"]
    assert len(events) == 33


def test_many_files_are_merged_with_few_open(tmp_path, monkeypatch):
    # Small chunks and a low cap force sources to be closed and reopened at their offset mid-merge.
    monkeypatch.setattr(readers, "CHUNK_BYTES", 128)
    monkeypatch.setattr(readers, "MAX_OPEN_FILES", 3)
    paths = []
    for i in range(8):
        body = "".join(f"2024-01-01 00:{m:02d}:{i:02d} INFO file {i} minute {m}\n" for m in range(40))
        packed = i % 2 == 0
        paths.append(write(tmp_path / f"f{i}.log{'.gz' if packed else ''}",
                           gzip.compress(body.encode()) if packed else body))
    events, stats = read(paths)
    assert len(events) == 320 and not stats.skips
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert len(readers._OPEN) == 0


def test_progress_adds_up_to_the_total(tmp_path):
    big = write(tmp_path / "big.log", ISO_LINES * 1000)
    packed = write(tmp_path / "big.log.gz", gzip.compress((ISO_LINES * 1000).encode()))
    calls: list[int] = []
    events, _ = read([big, packed], on_progress=calls.append)
    assert len(events) == 60_000
    assert len(calls) >= 4 and sum(calls) == total_bytes([str(big), str(packed)])


# --- multi-line entries -----------------------------------------------------------------------------------

TRACEBACK = """2024-01-01 00:00:00,100 ERROR [main] app.worker: job failed
Traceback (most recent call last):
  File "worker.py", line 3, in run
    step()

ValueError: bad input
2024-01-01 00:00:01,200 INFO [main] app.worker: next job

2024-01-01 00:00:02,300 ERROR [main] app.Server: request failed
java.lang.IllegalStateException: boom
\tat com.example.Server.handle(Server.java:42)
Caused by: java.io.IOException: closed
\t... 12 more
"""


def test_stack_traces_are_folded_into_their_entry(tmp_path):
    events, stats = read([write(tmp_path / "app.log", TRACEBACK)])
    assert [(e.line, e.level) for e in events] == [(1, "ERROR"), (7, "INFO"), (9, "ERROR")]
    first, _, java = events
    assert first.raw == "\n".join(TRACEBACK.split("\n")[0:6])  # the blank line inside the trace is kept
    assert first.text.startswith("job failed\nTraceback") and first.text.endswith("ValueError: bad input")
    assert java.raw.count("\n") == 4 and java.service == "app.Server"
    assert stats.folded == 9 and stats.lines == 13 and stats.events == 3


def test_plain_logs_fold_only_what_looks_like_a_continuation(tmp_path):
    content = "starting\nTraceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'a'\nstopping\n"
    events, stats = read([write(tmp_path / "out.txt", content)])
    assert [(e.line, e.fmt) for e in events] == [(1, "plain"), (4, "plain"), (5, "plain")]
    assert events[0].raw == "starting\nTraceback (most recent call last):\n  File \"x.py\", line 1"
    assert stats.folded == 2


def test_a_runaway_entry_is_capped(tmp_path):
    content = "2024-01-01 00:00:00 ERROR dump follows\n" + "  frame\n" * 450
    events, stats = read([write(tmp_path / "big.log", content)])
    assert [e.raw.count("\n") for e in events] == [200, 200, 48]
    assert [e.line for e in events] == [1, 202, 403]
    assert all(e.ts == utc(2024, 1, 1) for e in events) and events[1].ts_inferred


def test_missing_timestamps_are_carried_forward(tmp_path):
    content = ('{"msg": "banner"}\n{"time": "2024-01-01T00:00:05Z", "msg": "a"}\n{"msg": "b"}\n'
               '{"time": "2024-01-01T00:00:09Z", "msg": "c"}\n')
    events, stats = read([write(tmp_path / "j.log", content)])
    assert stats.formats == {"jsonl": 1}
    assert [(e.text, e.ts, e.ts_inferred) for e in events] == [
        ("banner", utc(2024, 1, 1, 0, 0, 5), True), ("a", utc(2024, 1, 1, 0, 0, 5), False),
        ("b", utc(2024, 1, 1, 0, 0, 5), True), ("c", utc(2024, 1, 1, 0, 0, 9), False)]


def test_a_long_preamble_before_timestamped_lines_does_not_make_the_source_plain(tmp_path):
    # A CI console log: the job's banner and shell trace (60 lines, no time), then the timestamped build log.
    preamble = ["Started by user anonymous", "Building remotely on node-1 in workspace /home/jenkins/ws"]
    preamble += [f"+ echo 'step {i}'" if i % 2 else f"step {i}" for i in range(58)]
    body = [f"2017-06-24 13:36:{i:02d},884 INFO:dlrn-build:DEBUG: writing part {i}" for i in range(40)]
    body.append("2017-06-24 13:37:00,001 INFO:dlrn-build:ERROR: Bad exit status from /var/tmp/rpm-tmp (%install)")
    events, stats = read([write(tmp_path / "console.fail", "\n".join(preamble + body) + "\n")])
    assert stats.formats == {"iso8601": 1}
    assert not any("no timestamps" in n for n in stats.notes)
    last = events[-1]
    assert last.line == 101 and last.ts == utc(2017, 6, 24, 13, 37, 0) + 0.001
    assert sum(e.raw.count("\n") + 1 for e in events) == 101  # every line kept
    # The preamble's own lines stay entries of their own (not one 60-line entry), stamped from the first time.
    assert len(events) == 101 and events[0].text == "Started by user anonymous"
    assert events[0].ts == utc(2017, 6, 24, 13, 36, 0) + 0.884 and events[0].ts_inferred


# --- bad input --------------------------------------------------------------------------------------------


def test_bad_inputs_each_give_one_skip_and_the_run_goes_on(tmp_path, monkeypatch):
    good = write(tmp_path / "good.log", ISO_LINES)
    binary = write(tmp_path / "blob.bin", b"\x7fELF\x02\x01\x01\x00" + bytes(2000))
    latin1 = write(tmp_path / "latin1.log", "2024-01-01 00:00:00 INFO ok\n2024-01-01 00:00:01 INFO café crème\n"
                                            "2024-01-01 00:00:02 INFO naïve\n".encode("latin-1"))
    empty = write(tmp_path / "empty.log", b"")
    long_line = write(tmp_path / "long.log", b"2024-01-01 00:00:00 INFO " + b"x" * 10_000_000 + b"\n"
                                             b"2024-01-01 00:00:01 INFO after\n")
    whole = gzip.compress(ISO_LINES.encode() * 200)
    truncated = write(tmp_path / "cut.log.gz", whole[: len(whole) * 2 // 3])
    secret = write(tmp_path / "secret.log", ISO_LINES)
    real_open = builtins.open

    def deny(path, *args, **kwargs):
        if str(path) == str(secret):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(readers, "open", deny, raising=False)
    missing = tmp_path / "missing.log"
    paths = [good, binary, latin1, empty, long_line, truncated, missing, secret]
    events, stats = read(paths, max_line_bytes=1000)

    skips = {(s.source, s.reason): s for s in stats.skips}
    assert set(skips) == {(str(binary), "binary file"), (str(latin1), "invalid UTF-8"), (str(empty), "empty file"),
                          (str(long_line), "line too long"), (str(truncated), "truncated gzip"),
                          (str(missing), "not found"), (str(secret), "permission denied")}
    for skip in stats.skips:
        assert skip.source in skip.message and "\n" not in skip.message
    bad_utf8 = skips[(str(latin1), "invalid UTF-8")]
    assert bad_utf8.line == 2 and " 2 line(s)" in bad_utf8.message
    assert skips[(str(long_line), "line too long")].line == 1

    by_source: dict[str, list[Event]] = {}
    for e in events:
        by_source.setdefault(e.source, []).append(e)
    assert len(by_source[str(good)]) == 30
    assert [e.text for e in by_source[str(latin1)]] == ["ok", "caf\ufffd cr\ufffdme", "na\ufffdve"]
    long_events = by_source[str(long_line)]
    assert [len(e.raw.encode()) for e in long_events] == [1000, len("2024-01-01 00:00:01 INFO after")]
    kept = by_source[str(truncated)]
    broke_at = skips[(str(truncated), "truncated gzip")].line
    assert 0 < len(kept) and broke_at in (len(kept), len(kept) + 1)
    assert [e.raw for e in kept[:-1]] == (ISO_LINES * 200).split("\n")[: len(kept) - 1]
    assert set(by_source) == {str(good), str(latin1), str(long_line), str(truncated)}


def test_a_corrupt_gzip_header_is_a_skip(tmp_path):
    events, stats = read([write(tmp_path / "bad.gz", b"\x1f\x8b" + b"not really gzip" * 10)])
    assert events == [] and [s.reason for s in stats.skips] == ["corrupt gzip"]


def test_a_log_after_many_blank_lines(tmp_path):
    events, stats = read([write(tmp_path / "late.log", "\n" * 500 + ISO_LINES)])
    assert len(events) == 30 and events[0].line == 501 and stats.formats == {"iso8601": 1}


def test_blank_only_file_is_empty(tmp_path):
    events, stats = read([write(tmp_path / "blank.log", "\n  \n\r\n")])
    assert events == [] and [s.reason for s in stats.skips] == ["empty file"] and stats.lines == 3


def test_a_glob_that_matches_nothing(tmp_path):
    events, stats = read([str(tmp_path / "*.nothing")])
    assert events == [] and stats.skips[0].reason == "not found" and "pattern" in stats.skips[0].message


# --- property: random bytes never break the reader, and every line is accounted for ----------------------


def _nonblank_lines(data: bytes) -> list[str]:
    """The input's lines as the readers decode them (LF or CRLF; bad UTF-8 as U+FFFD), blank ones left out."""
    if not data:
        return []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    out = [ln.removesuffix(b"\r").decode("utf-8", "replace") for ln in lines]
    return [ln for ln in out if ln and not ln.isspace()]


def _event_lines(events: list[Event]) -> list[str]:
    return [ln for e in sorted(events, key=lambda e: e.line) for ln in e.raw.split("\n") if ln and not ln.isspace()]


LOGLIKE = st.lists(st.sampled_from([
    b"2024-01-01 00:00:00 INFO ok", b"Jun 14 15:16:01 combo sshd[1]: hi", b"  at frame", b"", b" ", b"\r",
    b"Traceback (most recent call last):", b"{\"msg\": \"x\"}", b"caf\xe9", b"\xff\xfe", b"\x00", b"- 1 2 3",
])).map(lambda parts: b"\n".join(parts))
CONTENT = st.one_of(st.binary(max_size=3000), LOGLIKE, st.text(max_size=500).map(str.encode))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=CONTENT, packed=st.booleans(), cut=st.floats(0.0, 1.0))
def test_random_bytes_never_raise_and_are_accounted_for(tmp_path, data, packed, cut):
    body = gzip.compress(data) if packed else data
    truncated = packed and cut < 0.5
    if truncated:
        body = body[: int(len(body) * cut * 2)]
    path = write(tmp_path / ("r.log.gz" if packed else "r.log"), body)
    events, stats = read([path])
    whole = [s for s in stats.skips if s.line is None]
    assert all(s.source == str(path) and s.reason != "internal error" for s in stats.skips)
    if whole:
        assert events == [] and [s.reason for s in whole] in (["binary file"], ["empty file"])
        return
    got, want = _event_lines(events), _nonblank_lines(data)
    assert stats.events == len(events)
    # A cut .gz, or a plain file that merely starts with the gzip magic bytes, is read up to where it breaks.
    if any(s.reason in ("truncated gzip", "corrupt gzip") for s in stats.skips):
        assert got[:-1] == want[: max(len(got) - 1, 0)]  # the lines before the break (the last may be cut)
    else:
        assert got == want


# --- the shared data --------------------------------------------------------------------------------------

LOGHUB_2K = {"Android": "android", "Apache": "apache", "HPC": "hpc", "Hadoop": "log4j", "HealthApp": "healthapp",
             "Linux": "syslog3164", "Mac": "syslog3164", "OpenSSH": "syslog3164", "OpenStack": "openstack",
             "Proxifier": "proxifier", "Spark": "spark", "Windows": "windows_cbs", "Zookeeper": "zookeeper"}


@pytest.mark.data
@pytest.mark.parametrize("system", sorted(LOGHUB_2K))
def test_loghub_2k_systems(shared_data, system):
    log = shared_data / "loghub_2k" / system / f"{system}_2k.log"
    rows = csv_rows(log.with_name(log.name + "_structured.csv"))
    events, stats = read([log])
    events.sort(key=lambda e: e.line)
    assert stats.formats == {LOGHUB_2K[system]: 1}
    assert len(events) == 2000 and stats.folded == 0
    assert all(e.ts is not None and not e.ts_inferred for e in events)
    same_text = sum(r["Content"].strip() == e.text.strip() for r, e in zip(rows, events))
    assert same_text >= 0.99 * len(rows)  # Loghub's own header split (Linux: 8 "syslogd 1.4.1:" lines differ)


@pytest.mark.data
def test_bgl_hdfs_and_openstack(shared_data):
    events, stats = read([shared_data / "loghub_bgl" / "BGL_2k.log"])
    assert stats.formats == {"bgl": 1} and len(events) == 2000
    rows = csv_rows(shared_data / "loghub_bgl" / "BGL_2k.log_structured.csv")
    assert [e.label for e in sorted(events, key=lambda e: e.line)] == [r["Label"] for r in rows]
    assert sum(e.label != "-" for e in events) == 143

    events, stats = read([shared_data / "loghub_hdfs_2k" / "HDFS_2k.log"])
    assert stats.formats == {"hdfs": 1} and len(events) == 2000 and all(e.ts for e in events)

    sample = shared_data / "openstack_parisakalaki" / "openstack-nova-sample.log"
    events, stats = read([sample])
    assert stats.formats == {"openstack_nova": 1}
    # Every line with an instance id is an entry of its own (the labels are per instance).
    assert sum("[instance: " in e.raw.split("\n")[0] for e in events) == 21_231
    assert {e.level for e in events} == {"INFO", "WARN", "ERROR"}


def test_context_of_several_lines_in_one_pass_matches_one_by_one(tmp_path):
    from detectors.readers import context_lines, context_many

    path = tmp_path / "ctx.log"
    path.write_text("".join(f"2024-01-01T00:00:{i % 60:02d}Z host app: line {i}\n" for i in range(1, 301)))
    wanted = [1, 2, 150, 152, 299, 300]
    many = context_many(str(path), wanted, before=3, after=3)
    assert set(many) == set(wanted)
    for n in wanted:
        assert many[n] == [(k, f"2024-01-01T00:00:{k % 60:02d}Z host app: line {k}")
                           for k in range(max(1, n - 3), min(300, n + 3) + 1)]
        assert context_lines(str(path), n, before=3, after=3) == many[n]


def test_logfmt_lines_give_message_level_host_service_and_fields(tmp_path):
    # Go services (slog, logrus, zap's text encoder), Heroku and Grafana write key=value pairs: the message (with
    # its error) drives the template, the other keys are fields, not noise in the text.
    path = write(tmp_path / "api.log",
                 'time=2026-03-05T03:00:00Z level=info msg="request served" host=app-1 service=api method=GET '
                 "path=/api/orders/123 status=200 duration=12ms\n"
                 'time=2026-03-05T03:00:01Z level=error msg="query failed" err="pq: too many clients \\"already\\"" '
                 "host=app-1 service=api status=503\n")
    (ok, bad), stats = read([path])
    assert stats.formats == {"logfmt": 1}
    assert (ok.ts, ok.level, ok.host, ok.service, ok.text) == (utc(2026, 3, 5, 3), "INFO", "app-1", "api",
                                                              "request served")
    assert ok.fields.status == 200 and ok.fields.route == "GET /api/orders/{id}" and ok.fields.latency_ms == 12.0
    assert bad.level == "ERROR" and bad.text == 'query failed: pq: too many clients "already"'
    assert bad.fields.status == 503


def test_a_line_holding_a_few_pairs_is_not_logfmt():
    from detectors.sources.structured import logfmt_object

    assert logfmt_object("user=alice logged in from ip=10.0.0.1 port=22") is None  # words between the pairs
    assert logfmt_object("a=1 b=2 c=3") is None  # no message, level or time key
    assert logfmt_object('level=warn msg="disk 91% full" mount=/var') == {"level": "warn", "msg": "disk 91% full",
                                                                          "mount": "/var"}


def test_haproxy_http_log_gives_status_latency_and_route(tmp_path):
    # HAProxy writes the status after its timers and the request last; its 503s must count as 5xx like nginx's.
    path = write(tmp_path / "haproxy.log",
                 "Mar  5 03:00:01 lb-1 haproxy[2211]: 203.0.113.5:41234 [05/Mar/2026:03:00:01.123] www~ api/app-1 "
                 '0/0/1/2345/2346 503 212 - - sH-- 12/12/0/0/0 0/0 "GET /api/orders/4411 HTTP/1.1"\n'
                 "Mar  5 03:00:02 lb-1 haproxy[2211]: 203.0.113.6:41240 [05/Mar/2026:03:00:02.001] www~ api/app-2 "
                 '0/0/0/12/13 200 1024 - - ---- 12/12/0/0/0 0/0 "POST /api/cart HTTP/1.1"\n', mtime=MTIME)
    (bad, ok), _ = read([path])
    assert (bad.fields.status, bad.fields.latency_ms, bad.fields.route) == (503, 2346.0, "GET /api/orders/{id}")
    assert (ok.fields.status, ok.fields.route) == (200, "POST /api/cart")


def test_application_layouts_after_an_iso_time_give_logger_and_level() -> None:
    from detectors.formats import get_format, parse_timestamp
    iso = get_format("iso8601").make_parser(None)
    # Python's logging default
    got = iso("2025-03-14 10:22:35,123 - payments.gateway - ERROR - charge failed: timeout after 30s")
    assert got is not None and got[1] == "ERROR" and got[3] == "payments.gateway"
    assert got[4] == "charge failed: timeout after 30s"
    # Spring Boot
    got = iso("2025-03-14 10:22:35.123 ERROR 1234 --- [nio-8080-exec-1] c.e.shop.PaymentService  : charge failed")
    assert got is not None and got[1] == "ERROR" and got[3] == "c.e.shop.PaymentService" and got[4] == "charge failed"
    # A message that merely has dashes in it keeps its text
    got = iso("2025-03-14 10:22:35 INFO sync - 3 files - done")
    assert got is not None and got[3] is None and got[4] == "sync - 3 files - done"
    # Day, month, year (Redis, RFC 2822)
    assert parse_timestamp("14 Mar 2025 10:22:33.676") == utc(2025, 3, 14, 10, 22, 33.676)
    got = get_format("timestamped").make_parser(None)("1:M 14 Mar 2025 10:22:33.676 * 100 changes in 300 seconds")
    assert got is not None and got[0] == utc(2025, 3, 14, 10, 22, 33.676)


def test_a_syslog_daemons_own_severity_word_is_its_level(tmp_path):
    """sshd and postfix write their severity into the message ("error: ...", "warning: ..."); RFC 3164 lines
    without a priority have no other level, and an "error:" line read as no level was no error at all."""
    path = write(tmp_path / "auth.log",
                 "Dec 10 07:51:15 LabSZ sshd[24324]: error: Received disconnect from 195.154.37.122: 3: Auth fail\n"
                 "Dec 10 07:51:16 mx postfix/smtpd[811]: warning: hostname x.example does not resolve\n"
                 "Dec 10 07:51:17 LabSZ sshd[24325]: fatal: Read from socket failed: Connection reset by peer\n"
                 "Dec 10 07:51:18 LabSZ sshd[24326]: Failed password for root from 5.36.59.76 port 42393 ssh2\n"
                 "Dec 10 07:51:19 LabSZ cron[1]: errors: none\n", mtime=utc(2024, 12, 11))
    events, _ = read([path])
    assert [e.level for e in events] == ["ERROR", "WARN", "FATAL", None, None]
    assert events[0].text.startswith("error: Received disconnect")  # the message as the daemon wrote it
    assert events[0].service == "sshd"
