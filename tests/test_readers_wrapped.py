"""Lines one writer wrapped around another's: a container runtime's CRI file, syslog / journald around kubelet's klog
or containerd's logfmt, network gear's `%FAC-SEV-MNEMONIC` through a syslog collector; and the small header
variants that came with them (ZooKeeper's `[myid:N]`, an ISO time with its offset after a space, JSON records
whose time key is `createdAt` or `lastTimestamp`)."""

from __future__ import annotations

import calendar
import os
from pathlib import Path

from detectors.events import Event, ReadStats
from detectors.formats import parse_timestamp
from detectors.readers import read_events

MTIME = calendar.timegm((2025, 8, 1, 0, 0, 0))


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: float = 0.0) -> float:
    return calendar.timegm((y, mo, d, h, mi, 0)) + s


def read(tmp_path: Path, name: str, text: str) -> tuple[list[Event], ReadStats]:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    os.utime(p, (MTIME, MTIME))
    stats = ReadStats()
    events = sorted(read_events([str(p)], stats=stats), key=lambda e: e.line)
    return events, stats


def test_cri_file_reads_each_containers_own_layout(tmp_path: Path) -> None:
    text = (
        '2025-07-02T08:00:01.500000000Z stdout F {"level":"warn","msg":"cache miss storm","ts":1751443201.4}\n'
        "2025-07-02T08:00:02.000000000Z stderr F E0702 08:00:02.000001       9 sync.go:88] lost lease on shard 4\n"
        '2025-07-02T08:00:03.250000000Z stdout F 10.1.1.1 - - [02/Jul/2025:08:00:03 +0000] "GET /api/x HTTP/1.1" '
        '503 12 "-" "curl/8"\n'
        "2025-07-02T08:00:04.000000000Z stdout P a long line cut in two by the runtime, \n"
        "2025-07-02T08:00:04.000000000Z stdout F its second half\n"
        "2025-07-02T08:00:05.000000000Z stderr F\n"
    )
    events, stats = read(tmp_path, "pods/shop_api-1_uid/api/0.log", text)
    assert stats.formats == {"cri": 1}
    assert len(events) == 6
    js, kl, acc, part1, part2, empty = events
    assert (js.ts, js.level, js.text) == (utc(2025, 7, 2, 8, 0, 1.5), "WARN", "cache miss storm")
    assert (kl.level, kl.text) == ("ERROR", "lost lease on shard 4")
    assert kl.ts == utc(2025, 7, 2, 8, 0, 2.0)
    assert acc.fields is not None and acc.fields.status == 503 and acc.fields.route == "GET /api/x"
    assert "stdout" not in acc.text and not acc.text.startswith("F ")
    assert part2.text == "its second half"
    assert empty.text == ""


def test_syslog_around_klog_and_logfmt_takes_the_inner_level(tmp_path: Path) -> None:
    text = (
        "Jul  2 08:00:01 worker-7 kubelet[811]: W0702 08:00:01.123456     811 eviction_manager.go:300] "
        '"Eviction manager: attempting to reclaim" resourceName="memory"\n'
        'Jul  2 08:00:02 worker-7 containerd[402]: time="2025-07-02T08:00:02.000000000Z" level=error '
        'msg="StopContainer failed" error="context deadline exceeded"\n'
        "Jul  2 08:00:03 worker-7 kubelet[811]: I0702 08:00:03.000001     811 kubelet.go:2400] SyncLoop ADD\n"
        "Jul  2 08:00:04 worker-7 sshd[999]: Accepted publickey for ops from 10.0.0.2 port 5000 ssh2\n"
    )
    events, _ = read(tmp_path, "journal.txt", text)
    evict, ctrd, sync, ssh = events
    assert (evict.level, evict.host, evict.service) == ("WARN", "worker-7", "kubelet")
    assert evict.text.startswith('"Eviction manager: attempting to reclaim"')
    assert ctrd.level == "ERROR"
    assert ctrd.text == "StopContainer failed: context deadline exceeded"
    assert (sync.level, sync.text) == ("INFO", "SyncLoop ADD")
    assert ssh.level is None and ssh.text.startswith("Accepted publickey")


def test_network_gear_severity_and_sequence_numbers(tmp_path: Path) -> None:
    text = (
        # rsyslog on a collector, the device's sequence number and clock before the mnemonic
        "2025-07-02T08:00:01.020000+00:00 core-a 4411: Jul  2 08:00:01.007 UTC: %LINK-3-UPDOWN: Interface "
        "TenGigabitEthernet2/0/1, changed state to down\n"
        "2025-07-02T08:00:02.020000+00:00 core-a 4412: *Jul  2 08:00:02: %SYS-5-CONFIG_I: Configured from console "
        "by admin on vty0\n"
        "2025-07-02T08:00:03.020000+00:00 core-b 97: %PLATFORM-4-ELEMENT_WARNING: R0/0: smand: 1/RP/0: Used Memory "
        "value 91% exceeds warning level 90%\n"
        "2025-07-02T08:00:04.000000+00:00 core-b sshd[5]: Connection closed by 10.0.0.9 port 50000\n"
    )
    events, _ = read(tmp_path, "net.log", text)
    down, conf, warn, ssh = events
    assert (down.level, down.host, down.service) == ("ERROR", "core-a", None)
    assert down.text == "%LINK-3-UPDOWN: Interface TenGigabitEthernet2/0/1, changed state to down"
    assert (conf.level, conf.service) == ("INFO", None) and conf.text.startswith("%SYS-5-CONFIG_I:")
    assert warn.level == "WARN" and warn.text.startswith("%PLATFORM-4-ELEMENT_WARNING:")
    assert ssh.service == "sshd"
    # BSD syslog straight from a device: the mnemonic stands where a program would
    events, _ = read(tmp_path, "bsd.log", "Jul  2 08:00:01 10.9.9.1 %BGP-5-ADJCHANGE: neighbor 10.0.0.1 Down\n"
                                          "Jul  2 08:00:02 10.9.9.1 %LINK-3-UPDOWN: Interface Gi1/0/1, changed "
                                          "state to up\n")
    assert [e.level for e in events] == ["INFO", "ERROR"]
    assert events[0].service is None and events[0].text == "%BGP-5-ADJCHANGE: neighbor 10.0.0.1 Down"


def test_zookeeper_with_server_id(tmp_path: Path) -> None:
    text = ("2025-07-02 08:00:01,250 [myid:2] - WARN  [SyncThread:2:o.a.z.s.SyncRequestProcessor@170] - Too busy "
            "to snap, skipping\n"
            "2025-07-02 08:00:02,000 [myid:2] - INFO  [SessionTracker:o.a.z.s.ZooKeeperServer@600] - Expiring session "
            "0x100, timeout of 6000ms exceeded\n")
    events, stats = read(tmp_path, "zookeeper.log", text)
    assert stats.formats == {"zookeeper": 1}
    assert (events[0].ts, events[0].level, events[0].service) == (utc(2025, 7, 2, 8, 0, 1.25), "WARN",
                                                                   "o.a.z.s.SyncRequestProcessor")
    assert events[1].text.startswith("Expiring session")


def test_iso_time_with_its_offset_after_a_space(tmp_path: Path) -> None:
    # gunicorn's error log and access log in one stream
    text = ("[2025-07-02 10:00:01 +0200] [7] [ERROR] Worker timeout (pid:12)\n"
            '10.0.0.1 - - [02/Jul/2025:08:00:02 +0000] "POST /pay HTTP/1.1" 502 0 "-" "curl/8"\n'
            "[2025-07-02 10:00:03 +0200] [7] [INFO] Booting worker with pid: 13\n")
    events, _ = read(tmp_path, "gunicorn.log", text)
    err, acc, boot = events
    assert err.ts == utc(2025, 7, 2, 8, 0, 1) and err.level == "ERROR"
    assert not err.text.startswith("+0200")
    assert acc.ts == utc(2025, 7, 2, 8, 0, 2)
    assert boot.ts == utc(2025, 7, 2, 8, 0, 3)
    assert parse_timestamp("2025-07-02 10:00:01 -0530") == utc(2025, 7, 2, 15, 30, 1)
    # a number after the time that is no offset stays in the message
    assert parse_timestamp("2025-07-02 10:00:01 -9999") == utc(2025, 7, 2, 10, 0, 1)


def test_json_records_timed_by_a_key_named_like_a_time(tmp_path: Path) -> None:
    text = ('{"id": 1, "type": "flag-updated", "createdAt": "2025-07-02T08:00:01.500Z", "uptime": 12345}\n'
            '{"reason": "BackOff", "message": "Back-off restarting failed container", "eventTime": null, '
            '"firstTimestamp": "2025-07-02T07:00:00Z", "lastTimestamp": "2025-07-02T08:00:02Z", "count": 9}\n'
            '{"id": 3, "updated_at": 1751443203, "uptime": 7}\n')
    events, stats = read(tmp_path, "audit.jsonl", text)
    assert not stats.notes
    assert [e.ts for e in events] == [utc(2025, 7, 2, 8, 0, 1.5), utc(2025, 7, 2, 8, 0, 2), 1751443203.0]
    # a duration named like a time is no time of day
    events, stats = read(tmp_path, "x.jsonl", '{"msg": "done", "response_time": 0.25}\n{"msg": "x", "uptime": 99}\n')
    assert all(e.ts is None for e in events)


def test_a_kubernetes_events_type_is_its_level(tmp_path: Path) -> None:
    text = ('{"reason": "BackOff", "message": "Back-off restarting failed container", "type": "Warning", '
            '"lastTimestamp": "2025-07-02T08:00:02Z"}\n'
            '{"reason": "Pulled", "message": "Container image already present", "type": "Normal", '
            '"lastTimestamp": "2025-07-02T08:00:03Z"}\n'
            '{"type": "container", "status": "die", "time": 1751443204}\n')
    events, _ = read(tmp_path, "events.jsonl", text)
    assert [e.level for e in events] == ["WARN", None, None]
