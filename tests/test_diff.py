"""The diff detector through the real audit path: failed run vs good run, line by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.base import DetectorError
from detectors.diff import line_key, word_form
from detectors.pipeline import AuditOptions, audit

GOOD = [
    "01: Server created",
    "02: Bootloader loaded in 0.52 s",
    "03: Kernel booted",
    "04: Init called",
    "05: Network up on eth0 10.0.0.7",
    "06: Shell started",
    "07: Tests executed: 120 passed",
    "08: Job finished, result: SUCCESS",
]


def _write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_line_key_keeps_words_drops_numbers_dates_and_random_tokens() -> None:
    key = line_key("2017-06-24 13:36:02,950 DEBUG: Bad exit status from /var/tmp/rpm-tmp.rhaVaW (%install) pid 4242")
    assert key == "debug bad exit status from var tmp rpm-tmp install pid"
    assert line_key("Jun 20 05:43:49 host-7 chronyd[637]: Selected source 212.129.9.36") == "chronyd selected source"
    assert line_key("-----  12345 ----") == ""


def test_a_17_line_failed_run_gets_its_new_lines_as_blocks(tmp_path: Path) -> None:
    good = _write(tmp_path / "run.good", GOOD * 2)
    failed = GOOD[:3] + ["03: Kernel panic - not syncing: VFS: unable to mount root fs",
                         "04: Call trace: do_mount_root mount_block_root"] + GOOD[3:] * 2
    failed = failed[:17]
    fail = _write(tmp_path / "run.fail", failed)
    result = audit([fail], AuditOptions(baseline=(good,), state_dir=None))
    report = result.report
    assert report.detector == "diff"  # chosen automatically because a baseline was given
    assert len(report.anomalies) == 1  # the two consecutive new lines are one finding
    a = report.anomalies[0]
    assert a.window == f"{fail}:4-5"
    assert a.line in (4, 5) and "Kernel panic" in " ".join(c.text for c in a.context)
    near = [e for e in a.evidence if e.kind == "nearest_baseline"]
    assert near and all("closest in the good run" in e.summary for e in near)
    assert near[0].where is not None and near[0].where.startswith(good)
    assert report.totals.anomalous_windows == 2
    assert "cosine distance" in report.threshold_rule


def test_a_changed_word_is_found_and_known_lines_stay_quiet(tmp_path: Path) -> None:
    good = _write(tmp_path / "job.good", GOOD)
    failed = [line.replace("SUCCESS", "FAILURE") for line in GOOD]
    failed[1] = "02: Bootloader loaded in 0.97 s"  # a number changed: not new
    fail = _write(tmp_path / "job.fail", failed)
    report = audit([fail], AuditOptions(detector="diff", baseline=(good,), state_dir=None)).report
    assert [a.line for a in report.anomalies] == [8]
    assert "result: SUCCESS" in report.anomalies[0].evidence[1].summary  # the closest good line, read back


def test_an_identical_run_reports_nothing(tmp_path: Path) -> None:
    good = _write(tmp_path / "a.good", GOOD)
    fail = _write(tmp_path / "a.fail", GOOD)
    result = audit([fail], AuditOptions(baseline=(good,), state_dir=None))
    assert result.report.anomalies == [] and result.report.totals.anomalous_windows == 0


def test_a_baseline_of_another_system_is_refused_not_flagged_everywhere(tmp_path: Path) -> None:
    good = _write(tmp_path / "web.good", [f"GET /index.html 200 {i} bytes served to client" for i in range(30)])
    fail = _write(tmp_path / "db.fail", [f"checkpoint complete: wrote {i} buffers, WAL segment recycled"
                                         for i in range(5)] + ["replication slot lag exceeds limit"] * 3)
    with pytest.raises(DetectorError, match="nothing in common"):
        audit([fail], AuditOptions(baseline=(good,), state_dir=None))


def test_a_baseline_in_another_format_is_refused(tmp_path: Path) -> None:
    bgl = ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL "
           "INFO instruction cache parity error corrected")
    good = _write(tmp_path / "bgl.good", [bgl] * 20)
    fail = _write(tmp_path / "app.fail", [f"Jun 20 05:43:{i:02d} host sshd[12]: Accepted publickey for user{i}"
                                          for i in range(20)])
    with pytest.raises(DetectorError, match="another log format"):
        audit([fail], AuditOptions(detector="classical", baseline=(good,), state_dir=None))


def test_diff_without_a_baseline_says_what_to_give(tmp_path: Path) -> None:
    fail = _write(tmp_path / "x.log", GOOD)
    with pytest.raises(DetectorError, match="--baseline"):
        audit([fail], AuditOptions(detector="diff", state_dir=None))


def test_diff_threshold_is_an_option(tmp_path: Path) -> None:
    good = _write(tmp_path / "t.good", GOOD)
    fail = _write(tmp_path / "t.fail", [line.replace("SUCCESS", "FAILURE") for line in GOOD])
    strict = audit([fail], AuditOptions(baseline=(good,), state_dir=None, detector_options={"threshold": 0.9}))
    assert strict.report.anomalies == []
    with pytest.raises(DetectorError, match="threshold"):
        audit([fail], AuditOptions(baseline=(good,), state_dir=None, detector_options={"threshold": 1.5}))


def test_word_form_folds_tense_and_number_only() -> None:
    assert {word_form(w) for w in ("started", "starting", "start", "starts")} == {"start"}
    assert {word_form(w) for w in ("activated", "activating", "activate")} == {"activat"}
    assert word_form("stopped") == word_form("stopping") == "stop"
    assert word_form("errors") == "error" and word_form("entries") == word_form("entry")
    # Not inflections: left alone, and still different words.
    assert [word_form(w) for w in ("status", "process", "string", "red", "need", "was")] == \
        ["status", "process", "string", "red", "need", "was"]
    assert word_form("failed") != word_form("succeeded") and word_form("failure") != word_form("success")


SERVICES = [
    "Jun 20 05:43:14 host systemd[1]: Starting Journal Service...",
    "Jun 20 05:43:14 host systemd[1]: Started Journal Service.",
    "Jun 20 05:43:15 host systemd[1]: Activated swap /.swap.",
    "Jun 20 05:43:15 host systemd[1]: Mounted Kernel Configuration File System.",
    "Jun 20 05:43:16 host fsck[210]: checked 1 file system, 1 warning",
    "Jun 20 05:43:17 host systemd[1]: Reached target Local File Systems.",
    "Jun 20 05:43:18 host sshd[400]: Server listening on 0.0.0.0 port 22.",
]


def test_a_change_of_tense_or_number_is_not_a_new_line_but_a_new_error_is(tmp_path: Path) -> None:
    """'Activating swap' where the good run said 'Activated swap', '2 file systems, 3 warnings' for '1 file system, 1
    warning': the same events in another tense or number. Only the EXT4 error block is new."""
    good = _write(tmp_path / "boot.good", SERVICES)
    failed = list(SERVICES)
    failed[2] = "Jun 20 06:01:15 host systemd[1]: Activating swap /.swap..."
    failed[4] = "Jun 20 06:01:16 host fsck[211]: checked 2 file systems, 3 warnings"
    failed[5:5] = ["Jun 20 06:01:17 host kernel: EXT4-fs error (device sda1): ext4_find_entry: reading directory "
                   "lblock 0", "Jun 20 06:01:17 host kernel: Aborting journal on device sda1-8."]
    fail = _write(tmp_path / "boot.fail", failed)
    report = audit([fail], AuditOptions(baseline=(good,), state_dir=None)).report
    assert report.detector == "diff"
    assert [a.window for a in report.anomalies] == [f"{fail}:6-7"]


def test_another_host_user_or_value_is_not_a_new_line(tmp_path: Path) -> None:
    """Two runs of one server on other days: other clients' host names, other users, other `key=value` values and
    another e-mail address are the same events with other values. Only the disk error is new."""
    def day(hosts: list[str], users: list[str], state: str, mail: str) -> list[str]:
        lines = []
        for i, (host, user) in enumerate(zip(hosts, users, strict=True)):
            lines += [f"Jul 17 0{i}:30:35 combo ftpd[2419{i}]: connection from 207.30.238.{i} ({host}) at Sun Jul 17",
                      f"Jul 17 0{i}:30:36 combo sshd[2420{i}]: Failed password for {user} from 10.0.0.{i} port 4{i}22 "
                      f"ssh2",
                      f"Jul 17 0{i}:30:37 combo sshd[2420{i}]: session opened user={user} rhost={host} tty=ssh",
                      f"Jul 17 0{i}:30:38 combo proxy[77]: {host}:443 close, 1{i}0 bytes sent, 2{i} bytes received"]
        return lines + [f"Jul 17 09:00:00 combo backup[9]: job nightly finished state={state}",
                        f"Jul 17 09:00:01 combo mailer[9]: report sent to {mail}"]

    good = _write(tmp_path / "mon.good", day(["host8.topspot.net", "api.github.com", "mail.example.org"],
                                             ["root", "admin", "test"], "OK", "ops@example.org"))
    failed = day(["82-68-222-194.dsl.in-addr.zen.co.uk", "block.dropbox.com", "qbwup.imtt.qq.com"],
                 ["oracle", "guest", "mysql"], "FAILED", "dougal@redhat.com")
    failed.insert(6, "Jul 17 01:30:39 combo kernel: EXT4-fs error (device sda1): ext4_find_entry: reading directory")
    fail = _write(tmp_path / "tue.fail", failed)
    report = audit([fail], AuditOptions(baseline=(good,), state_dir=None)).report
    assert report.detector == "diff"
    assert [a.window for a in report.anomalies] == [f"{fail}:7"]  # the disk error, nothing else


def test_line_key_masks_host_names_and_values_but_keeps_a_failed_value() -> None:
    assert line_key("WeChat.exe - short.weixin.qq.com:80 open through proxy proxy.cse.cuhk.edu.hk:5070") == \
        line_key("WeChat.exe - qq.com:80 open through proxy my-proxy.corp.example:8080") == \
        "wechat exe host open through proxy host"
    assert line_key("session opened user=guest rhost=a.b.example.org") == "session opened user value rhost host"
    assert line_key("job finished state=FAILED") == "job finished state failed"  # a value that reads as a failure
    assert line_key("Selected source 212.129.9.36 (ntp 3.11.1)") == "selected source ntp"  # addresses stay dropped
    assert line_key("in com.android.server.wm.WindowStateAnimator") == "in com android server wm windowstateanimator"
