"""A CI job's, build's or playbook's log read alone: the run ended in failure, and its last error block is the
incident (the verdict its symptom, the block's first failure its cause); against a good run, a failure the good run
had too is not an incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detectors.incidents import semantics
from detectors.incidents.engine import triage
from detectors.pipeline import AuditOptions, audit


def _job(path: Path, body: list[str], stamped: bool = True) -> str:
    t = datetime(2024, 3, 5, 10, 0, 0, tzinfo=UTC)
    out = [f"{(t + timedelta(seconds=i)).strftime('%Y-%m-%d %H:%M:%S.%f')} | {line}" if stamped else line
           for i, line in enumerate(body)]
    path.write_text("\n".join(out) + "\n")
    return str(path)


_SETUP = [f"Collecting package{i}==1.{i}.0" for i in range(30)] + ["Successfully installed 30 packages",
                                                                  "+ python -m pytest -q tests"]


def _top(tr: object) -> tuple[str, str]:
    inc = tr.incidents[0]  # type: ignore[attr-defined]
    cause = next(c for c in inc.candidates if c.kind == "log")
    return cause.text, inc.title


def test_a_failed_pytest_job_read_alone_names_the_failed_assertion(tmp_path: Path) -> None:
    """Before: no incident (one run has no before: every line is 'new' once, nothing is a rate change)."""
    log = _job(tmp_path / "job.log", _SETUP + [
        "============================= FAILURES =============================",
        "_________________________ test_checkout _________________________",
        "    def test_checkout():",
        ">       assert total(cart) == 42",
        "E       AssertionError: assert 41 == 42",
        "tests/test_cart.py:17: AssertionError",
        "=========================== short test summary info ===========================",
        "FAILED tests/test_cart.py::test_checkout - AssertionError: assert 41 == 42",
        "========================= 1 failed, 12 passed in 3.21s =========================",
        "Cleaning up project directory and file based variables",
        "ERROR: Job failed: exit code 1"])
    tr = triage([log])
    assert tr.incidents, "a failed run read alone is an incident"
    cause, title = _top(tr)
    assert "AssertionError: assert 41 == 42" in cause and "E " in cause
    assert "the run failed" in title and "Job failed: exit code 1" in title
    chain = tr.incidents[0].chain
    assert chain[-1].role == "symptom" and "Job failed" in (chain[-1].text or chain[-1].template)


def test_only_a_wrapper_says_the_step_failed_so_the_output_before_it_is_the_cause(tmp_path: Path) -> None:
    """Nothing but the runner's verdicts reads as a failure ('make: *** ... Error 2'): the step's output just before
    them says why, whatever its words."""
    log = _job(tmp_path / "build.log", _SETUP[:20] + ["+ make all", "cc -O2 -c main.c", "ld: main.o: undefined symbol foo_init",
                                                      "make: *** [Makefile:8: all] Error 2",
                                                      "Build step 'Execute shell' marked build as failure",
                                                      "Finished: FAILURE"], stamped=False)
    tr = triage([log])
    assert tr.incidents
    cause, title = _top(tr)
    assert "undefined symbol foo_init" in cause, title
    assert "Finished: FAILURE" in title


def test_a_linter_finding_is_the_failure_of_the_lint_step(tmp_path: Path) -> None:
    log = _job(tmp_path / "console.log", _SETUP[:30] + [
        "pep8 runtests: commands[0] | flake8 app",
        "app/models.py:76:1: E305 expected 2 blank lines after class or function definition, found 1",
        "app/views.py:12:80: E501 line too long (88 > 79 characters)",
        "ERROR: InvocationError: '/w/.tox/pep8/bin/flake8 app'",
        "___________________________________ summary ____________________________________",
        "  py311: commands succeeded",
        "ERROR:   pep8: commands failed",
        "[Zuul] Task exit code: 1",
        "[Zuul] Job complete, result: FAILURE"])
    tr = triage([log])
    assert tr.incidents
    cause, title = _top(tr)
    assert "E305 expected 2 blank lines" in cause, title
    assert any("InvocationError" in (s.text or s.template) for s in tr.incidents[0].chain)


def test_a_run_that_passed_or_was_told_to_ignore_an_error_is_no_failed_run(tmp_path: Path) -> None:
    passed = _job(tmp_path / "ok.log", _SETUP + ["ERROR: Job failed: exit code 1", "retrying the job (attempt 2)",
                                                "========================= 13 passed in 3.02s =========================",
                                                "[Zuul] Job complete, result: SUCCESS"])
    assert not triage([passed]).incidents
    ignored = _job(tmp_path / "mock.log", _SETUP + ["Executing command: ['btrfs', 'subv', 'list', '/var/lib/mock']",
                                                   "Child return code was: 1",
                                                   "Please ignore the error above about btrfs.",
                                                   "Finish: clean chroot"])
    assert not triage([ignored]).incidents


def test_verdicts() -> None:
    for said in ("[Zuul] Job complete, result: FAILURE", "localhost : ok=1 changed=0 unreachable=0 failed=1",
                 "Child return code was: 1", "error: Bad exit status from /var/tmp/rpm-tmp.x (%install)",
                 "===== 1 failed, 3 passed in 2.10s =====", "FAILED (failures=1)", "Finished: FAILURE",
                 "Error: Process completed with exit code 1.", "cmd failed. See logs at: /x", "07: Tests FAILED",
                 "RUN END RESULT_FAILURE: [untrusted : opendev.org/acme/shop/playbooks/tox.yaml@master]",
                 "ubuntu-jammy | ok: 3 changed: 1 unreachable: 0 failed: 1 skipped: 0 rescued: 0 ignored: 0",
                 "##[error]Bash exited with code '1'.", 'The command "npm test" exited with 1.', "Finished: UNSTABLE"):
        assert semantics.run_verdict(said) == "failed", said
    for said in ("Finished: SUCCESS", "[Zuul] Job complete, result: SUCCESS", "build successful"):
        assert semantics.run_verdict(said) == "passed", said
    for said in ("web-1 : ok=3 changed=0 unreachable=0 failed=0", "Child return code was: 0", "[Zuul] Task exit code: 0",
                 "localhost | ok: 40 changed: 12 unreachable: 0 failed: 0 skipped: 3 rescued: 0 ignored: 1",
                 "POST-RUN END RESULT_NORMAL: [trusted : x]", "connect() failed: 111: Connection refused",
                 'The command "npm test" exited with 0.', "worker exited with 5 jobs left in its queue",
                 "dracut module 'busybox' will not be installed, because command 'busybox' could not be found!"):
        assert semantics.run_verdict(said) is None, said
    assert semantics.DIAGNOSTIC.search("internal/store/cache.go:88:14: undefined: redis.NewRingClient")
    assert semantics.DIAGNOSTIC.search("foo.py:3: error: Incompatible types in assignment")
    assert not semantics.DIAGNOSTIC.search("2024-01-01 12:00:00 INFO main.go:12: listening on :8080")


def test_against_a_good_run_a_failure_it_had_too_is_no_incident(tmp_path: Path) -> None:
    """logreduce's syslog-01 shape: both boots log dracut's 'module busybox ... could not be found' and a burst of
    errors; the failed boot differs elsewhere. Before: I1 was titled by the failure both runs had."""
    def boot(path: Path, last: str) -> str:
        body = [f"Jun 20 05:43:{i % 60:02d} host-1 systemd[1]: Started Unit number {i}." for i in range(200)]
        body += [f"Jun 20 05:44:{i % 60:02d} host-1 dracut[512]: dracut module 'busybox' will not be installed, "
                 f"because command 'busybox' could not be found!" for i in range(5)]
        body += [f"Jun 20 05:44:{10 + i:02d} host-1 cloud-init[800]: Failed at attempted import of 'rhel' due to: "
                 f"No module named rhel" for i in range(6)]
        body += [f"Jun 20 05:45:{i:02d} host-1 systemd[1]: Started Unit number {i}." for i in range(40)] + [last]
        path.write_text("\n".join(body) + "\n")
        return str(path)

    good = boot(tmp_path / "syslog.good", "Jun 20 05:46:00 host-1 chronyd[637]: Selected source 10.0.0.1")
    fail = boot(tmp_path / "syslog.fail", "Jun 20 05:46:00 host-1 chronyd[637]: System clock wrong by 1.4 seconds")
    res = audit([fail], AuditOptions(baseline=(good,), state_dir=None))
    assert res.triage is not None
    titles = [inc.title for inc in res.triage.incidents]
    assert not any("busybox" in t or "rhel" in t for t in titles), titles
    assert any("logged there too" in n for n in res.triage.notes), res.triage.notes
    alone = triage([fail])  # without a baseline the same failures are still the log's news
    assert alone.incidents


@pytest.mark.data
def test_the_logreduce_failed_runs_read_alone_are_incidents_and_their_good_runs_are_not(shared_data: Path) -> None:
    """The failed CI logs of logreduce's cases, each read alone (no --baseline): an incident whose symptom is the
    run's failure; the good runs' logs: none. (Only the verdicts are checked here, not the annotated lines.)"""
    base = shared_data / "logreduce_ci"
    for case, stem in (("ansible-01", "output"), ("basic-01", "log"), ("mock-01", "console"),
                       ("zuul-console-pep8", "console")):
        tr = triage([str(base / case / f"{stem}.fail")])
        assert tr.incidents and "the run failed" in tr.incidents[0].title, (case, [i.title for i in tr.incidents])
        good = triage([str(base / case / f"{stem}.good")])
        assert not any("the run failed" in i.title for i in good.incidents), case


def test_what_happened_says_the_run_failed_not_that_no_request_failed(tmp_path: Path) -> None:
    """'what happened?' (--llm none) on a failed job's log said 'I1 ... is no outage that shows in these logs (no
    failing or slow requests): the strongest change the incident engine found'; it now says the run ended in failure,
    names its first failure and the verdict."""
    from agent import Settings, Sleuth

    log = _job(tmp_path / "job.log", _SETUP + ["E       AssertionError: assert 41 == 42",
                                              "FAILED tests/test_cart.py::test_checkout - AssertionError",
                                              "========================= 1 failed, 12 passed in 3.21s ==========",
                                              "ERROR: Job failed: exit code 1"])
    s = Sleuth(Settings(llm="none", data_dir=tmp_path / "data"))
    s.audit([log])
    answer = s.ask("what happened?")
    assert "a run that ended in failure" in answer.text and "no outage" not in answer.text, answer.text
    assert "assert 41 == 42" in answer.text and "job.log:33" in answer.text, answer.text
    assert "The verdict" in answer.text and "Job failed: exit code 1" in answer.text, answer.text


def test_a_failure_with_a_json_payload_is_titled_by_what_failed(tmp_path: Path) -> None:
    """ansible's 'fatal: [host]: FAILED! => {...}' carries what failed in its JSON ("msg", "cmd", "rc"); the title
    was cut in the middle of the object ('... {"changed": true ... "stdout": "MemTotal: ...') and showed neither."""
    payload = ('{"changed": true, "cmd": "systemctl restart appd", "delta": "0:00:00.031", "end": "2024-03-05 '
               '10:00:40.1", "failed": true, "msg": "non-zero return code", "rc": 5, "start": "2024-03-05 10:00:40.0", '
               '"stderr": "Failed to restart appd.service: Unit appd.service not found.", "stdout": "", '
               '"stdout_lines": []}')
    log = _job(tmp_path / "deploy.log", ["PLAY [web] ****", "TASK [Gathering Facts] ****", "ok: [web-1]",
                                        "TASK [restart app] ****", f"fatal: [web-1]: FAILED! => {payload}",
                                        "PLAY RECAP ****", "web-1 : ok=1 changed=0 unreachable=0 failed=1"],
               stamped=False)
    title = triage([log]).incidents[0].title
    assert title.startswith("\u201cfatal: [web-1]: FAILED! => msg: non-zero return"), title
    assert "not found" in title and "rc: 5" in title and "stdout" not in title, title


def test_against_a_good_run_a_failed_runs_new_cause_is_high_confidence(tmp_path: Path) -> None:
    """Alone, the failed run's cause is taken by position (medium); when the good run given as baseline never logged
    it, position and comparison agree (high). Before, both read 'low: no user-facing symptom'."""
    common = _SETUP[:30] + ["pep8 runtests: commands[0] | flake8 app"]
    good = _job(tmp_path / "console.good", common + ["  pep8: commands succeeded", "[Zuul] Job complete, result: SUCCESS"])
    fail = _job(tmp_path / "console.fail", common + [
        "app/models.py:76:1: E305 expected 2 blank lines after class or function definition, found 1",
        "ERROR: InvocationError: '/w/.tox/pep8/bin/flake8 app'", "ERROR:   pep8: commands failed",
        "[Zuul] Job complete, result: FAILURE"])
    alone = triage([fail]).incidents[0]
    assert alone.confidence == "medium" and "by position" in alone.confidence_reason
    res = audit([fail], AuditOptions(baseline=(good,), state_dir=None))
    assert res.triage is not None and res.triage.incidents
    inc = res.triage.incidents[0]
    assert "E305" in inc.candidates[0].text and inc.confidence == "high", (inc.confidence, inc.confidence_reason)
    assert "baseline never logged it" in inc.confidence_reason


def test_a_failed_run_comes_before_a_retried_error_earlier_in_the_job(tmp_path: Path) -> None:
    """A job that retried a download (four 'Connection reset' ERRORs, then success) and failed its tests at the end:
    the retries or the test failure made a low-confidence incident of their own ('errors in job.log'), and the run's
    failure was not read as one. Now the failed run is I1 (its verdict the symptom); a quiet incident that holds a
    line of its last block is told by it, not twice."""
    body = _SETUP[:20] + [f"ERROR: Connection reset by peer while downloading requests-2.31.0 (attempt {i})"
                          for i in range(1, 5)]
    body += ["Successfully installed requests-2.31.0"] + _SETUP[:30] + [
        "=================================== FAILURES ===================================",
        "E       AssertionError: assert 0 == 10", "tests/test_refund.py:22: AssertionError",
        "FAILED tests/test_refund.py::test_refund - AssertionError: assert 0 == 10", "1 failed, 12 passed in 1.02s",
        "ERROR: Job failed: exit code 1"]
    tr = triage([_job(tmp_path / "job.log", body)])
    assert tr.incidents and "the run failed" in tr.incidents[0].title, [i.title for i in tr.incidents]
    assert "assert 0 == 10" in tr.incidents[0].title
    assert [i.id for i in tr.incidents] == [f"I{n}" for n in range(1, len(tr.incidents) + 1)]
    assert sum("assert 0 == 10" in i.title for i in tr.incidents) == 1


def test_a_zuul_run_that_failed_before_its_post_run_playbooks(tmp_path: Path) -> None:
    """Zuul v3's job output: the run playbook fails ('RUN END RESULT_FAILURE'), then the post-run playbooks upload
    the logs for 80 more lines and end 'POST-RUN END RESULT_NORMAL'. The verdict lay beyond the last 60 lines read
    for one (and 'failed: 1' in a recap written with colons was not one): no incident."""
    body = ["PRE-RUN START: [trusted : base/pre.yaml@master]"] + [f"ubuntu | ok: Runtime: 0:00:0{i % 10}.1"
                                                                 for i in range(40)]
    body += ["RUN START: [untrusted : acme/shop/playbooks/tox.yaml@master]", "TASK [tox : Run tox testenv]",
             "ubuntu | {0} shop.tests.test_cart.CartTest.test_tax [0.01s] ... FAILED",
             "ubuntu | AssertionError: 42 != 41", "ubuntu |   py311: FAIL code 1 (31.20 seconds)", "PLAY RECAP",
             "ubuntu | ok: 3 changed: 1 unreachable: 0 failed: 1 skipped: 0 rescued: 0 ignored: 0",
             "RUN END RESULT_FAILURE: [untrusted : acme/shop/playbooks/tox.yaml@master]",
             "POST-RUN START: [trusted : base/post-logs.yaml@master]"]
    body += [line for i in range(40) for line in (f"TASK [upload-logs : step {i}]", f"localhost | ok: Runtime: 0:00:0{i % 10}.2")]
    body += ["PLAY RECAP", "localhost | ok: 40 changed: 12 unreachable: 0 failed: 0 skipped: 3 rescued: 0 ignored: 0",
             "POST-RUN END RESULT_NORMAL: [trusted : base/post-logs.yaml@master]"]
    tr = triage([_job(tmp_path / "job-output.txt", body)])
    assert tr.incidents, "a failed run before its post-run playbooks is an incident"
    cause, title = _top(tr)
    assert ("test_tax" in cause or "42 != 41" in cause) and "RESULT_FAILURE" in title, title


def test_colour_codes_are_not_part_of_the_failure(tmp_path: Path) -> None:
    """CI runners, pytest and npm colour their output; the title read '“[1m [31mE  AssertionError: assert 41 == 42
    [0m” ... — the run failed: “[31;1mERROR: Job failed: exit code 1 [0;m”'."""
    esc = "\x1b"
    log = _job(tmp_path / "job.log", _SETUP + [
        f"{esc}[1m{esc}[31mE       AssertionError: assert 41 == 42{esc}[0m",
        f"{esc}[31mFAILED{esc}[0m tests/test_cart.py::{esc}[1mtest_checkout{esc}[0m - AssertionError",
        f"{esc}[31m===== {esc}[1m1 failed{esc}[0m, {esc}[32m12 passed{esc}[0m{esc}[31m in 3.21s{esc}[0m{esc}[31m ====={esc}[0m",
        f"{esc}[31;1mERROR: Job failed: exit code 1{esc}[0;m"], stamped=False)
    title = triage([log]).incidents[0].title
    assert title == ("\u201cE       AssertionError: assert 41 == 42\u201d on job.log \u2014 the run failed: "
                     "\u201cERROR: Job failed: exit code 1\u201d"), title
