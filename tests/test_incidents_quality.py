"""The incident engine's judgement on small, realistic folders: a cause has a path to the symptom, a limiter's
rejections are caused by the load, logs without a user-facing symptom get low confidence, routine jobs are not
"changes", and folders in formats unlike the generator's (HAProxy + PostgreSQL + logfmt, Kubernetes events)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.incidents import triage
from tests.incident_fixtures import haproxy_postgres, kubernetes_events

T0 = datetime(2025, 5, 20, 10, 0, 0, tzinfo=UTC)
ONSET = T0 + timedelta(minutes=100)


def _sys(t: datetime) -> str:
    return t.strftime("%b %e %H:%M:%S")


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _write(folder: Path, name: str, rows: list[tuple[datetime, str]]) -> None:
    rows.sort(key=lambda r: r[0])
    (folder / name).write_text("\n".join(r for _, r in rows) + "\n")


def _requests(rng: random.Random, t: datetime, failing: bool, agent: str = "Mozilla/5.0",
              client: str = "198.18.0.7", path: str | None = None) -> str:
    path = path or rng.choice(["/api/cart/", "/api/items/"]) + str(rng.randint(1, 9999))
    status = 503 if failing else 200
    return (f'{client} - - [{t.strftime("%d/%b/%Y:%H:%M:%S")} +0000] "GET {path} HTTP/1.1" {status} '
            f'{rng.randint(100, 5000)} "-" "{agent}"')


def cache_partition_folder(folder: Path, seed: int = 3, front: bool = False) -> None:
    """A cache host loses its link at ONSET; the API's Redis calls time out (naming only an address) and nginx
    serves 503s. Ninety seconds earlier a disk on an unrelated host starts throwing I/O errors, loudly. With
    `front`, a front service logs its own errors naming the API ("upstream request failed: cart-api: ...")."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    syslog: list[tuple[datetime, str]] = []
    access: list[tuple[datetime, str]] = []
    app: list[tuple[datetime, str]] = []
    end = T0 + timedelta(minutes=150)
    t = T0
    while t < end:
        t += timedelta(seconds=rng.uniform(0.5, 2.0))
        if rng.random() < 0.05:
            syslog.append((t, f"{_sys(t)} cache-1 redis-server[812]: 812:M {t.strftime('%d %b %Y %H:%M:%S')}.100 * "
                              f"{rng.randint(1, 99)} changes in 300 seconds. Saving..."))
        if rng.random() < 0.03:
            syslog.append((t, f"{_sys(t)} store-9 smartd[77]: Device: /dev/sdb [SAT], SMART Usage Attribute: 194 "
                              f"Temperature_Celsius changed from {rng.randint(30, 40)} to {rng.randint(30, 40)}"))
        if ONSET - timedelta(seconds=90) <= t and rng.random() < 0.2:
            syslog.append((t, f"{_sys(t)} store-9 kernel: blk_update_request: I/O error, dev sdb, sector "
                              f"{rng.randint(10 ** 6, 10 ** 8)} op 0x0:(READ)"))
        failing = t >= ONSET + timedelta(seconds=20) and rng.random() < 0.7
        access.append((t, _requests(rng, t, failing)))
        if failing:
            app.append((t, json.dumps({"ts": _iso(t), "level": "error", "service": "cart-api", "host": "api-1",
                                       "msg": "Redis command failed on 10.0.6.94:6379: Command timed out",
                                       "status": 503})))
            if front:
                app.append((t, json.dumps({"ts": _iso(t), "level": "error", "service": "storefront",
                                           "host": "web-1", "msg": "upstream request failed: cart-api: context "
                                           "deadline exceeded", "status": 503})))
                if t >= ONSET + timedelta(seconds=90):  # a second client of the cache, with its exception
                    app.append((t, json.dumps({
                        "ts": _iso(t), "level": "error", "service": "quote-engine", "host": "api-2",
                        "msg": "Redis command failed on 10.0.6.94:6379: io.lettuce.core.RedisCommandTimeoutException: "
                               "Command timed out after 2 second(s)"})))
        else:
            app.append((t, json.dumps({"ts": _iso(t), "level": "info", "service": "cart-api", "host": "api-1",
                                       "msg": "request completed", "status": 200})))
    syslog.append((ONSET, f"{_sys(ONSET)} cache-1 kernel: i40e 0000:18:00.1 eno2: NIC Link is Down"))
    syslog.append((ONSET + timedelta(seconds=1),
                   f"{_sys(ONSET + timedelta(seconds=1))} cache-1 kernel: bond0: (slave eno2): link status "
                   f"definitely down, disabling slave"))
    _write(folder, "syslog", syslog)
    _write(folder, "access.log", access)
    _write(folder, "cart-api.jsonl", app)


def test_a_failure_with_no_path_to_the_symptom_is_not_the_cause(tmp_path: Path) -> None:
    cache_partition_folder(tmp_path)
    t = triage([str(tmp_path)])
    inc = t.incidents[0]
    top = inc.candidates[0]
    assert "Link is Down" in top.text or "link status" in top.text, inc.title
    assert "I/O error" not in inc.title
    assert not any("I/O error" in s.text for s in inc.chain)
    dismissed = [u for u in t.unrelated if "I/O error" in u.text]
    assert dismissed and "no path" in dismissed[0].reason
    # the address the client names is not the host's: the daemon on the host (redis-server) is what links them
    assert any("named by" in r for r in top.reasons), top.reasons


def test_a_clients_error_ranks_below_the_failure_it_reports(tmp_path: Path) -> None:
    # The API's Redis timeouts are named by the front's errors ("upstream request failed: cart-api"), as the
    # cache host is named by them; but the cache host failed first: the client's error reports its failure.
    cache_partition_folder(tmp_path, front=True)
    inc = triage([str(tmp_path)]).incidents[0]
    top = inc.candidates[0]
    assert "Link is Down" in top.text or "link status" in top.text, [(c.score, c.text[:50]) for c in inc.candidates]
    clients = [c for c in inc.candidates if "Redis command failed" in c.text]
    assert len(clients) == 2, [c.text[:50] for c in inc.candidates]
    for client in clients:  # each client reports it, not only the first whose line names the host
        assert client.score < top.score
        assert any(r.startswith("reports the failure of cache-1") for r in client.reasons), client.reasons


def test_a_limiters_rejections_are_caused_by_the_load(tmp_path: Path) -> None:
    rng = random.Random(5)
    access: list[tuple[datetime, str]] = []
    errors: list[tuple[datetime, str]] = []
    end = T0 + timedelta(minutes=150)
    t = T0
    limited = ONSET + timedelta(seconds=50)
    while t < end:
        t += timedelta(seconds=rng.uniform(0.5, 2.0))
        rejected = t >= limited and rng.random() < 0.5
        access.append((t, _requests(rng, t, rejected, client=f"198.18.0.{rng.randint(2, 200)}")))
        if rejected:
            errors.append((t, f'{t.strftime("%Y/%m/%d %H:%M:%S")} [error] 77#77: *{rng.randint(10 ** 5, 10 ** 6)} '
                              f'limiting requests, excess: {rng.uniform(10, 30):.3f} by zone "api", client: '
                              f'198.18.0.{rng.randint(2, 200)}, server: shop.example.com, request: "GET /api/cart '
                              f'HTTP/1.1", host: "shop.example.com"'))
    t = ONSET
    while t < end:
        t += timedelta(seconds=rng.uniform(0.05, 0.3))
        access.append((t, _requests(rng, t, t >= limited and rng.random() < 0.5, agent="bulk-sync/2.1",
                                    client="203.0.113.50", path=f"/api/items?page={rng.randint(1, 5000)}")))
    _write(tmp_path, "access.log", access)
    _write(tmp_path, "error.log", errors)
    inc = triage([str(tmp_path)]).incidents[0]
    top = inc.candidates[0]
    assert "bulk-sync" in top.text, (inc.title, [c.text[:80] for c in inc.candidates])
    assert any("load that tripped the limiter" in r for r in top.reasons)
    limiter = next(c for c in inc.candidates if "limiting requests" in c.text)
    assert any("effect of the load" in r for r in limiter.reasons)
    assert abs(inc.onset_ts - ONSET.timestamp()) <= 60


def test_no_user_facing_symptom_means_low_confidence_and_no_symptom_step(tmp_path: Path) -> None:
    """A batch host's log: a job starts failing. Nothing answers requests, so nothing says users were hurt."""
    rng = random.Random(7)
    rows: list[tuple[datetime, str]] = []
    t = T0
    while t < T0 + timedelta(minutes=150):
        t += timedelta(seconds=rng.uniform(5, 20))
        rows.append((t, f"{_sys(t)} batch-1 etl[411]: processed batch {rng.randint(1, 10 ** 6)} in "
                        f"{rng.randint(100, 900)} ms"))
        if t >= ONSET and rng.random() < 0.6:
            rows.append((t, f"{_sys(t)} batch-1 etl[411]: ERROR batch upload failed: s3 PutObject: "
                            f"connection reset by peer"))
    _write(tmp_path, "messages", rows)
    t = triage([str(tmp_path)])
    assert t.incidents, "a clear onset of failures is still reported"
    inc = t.incidents[0]
    assert inc.confidence == "low"
    assert "no user-facing symptom" in inc.confidence_reason
    assert inc.impact.user_facing is False
    assert all(s.role != "symptom" for s in inc.chain)
    assert "broke" not in inc.title


def test_routine_jobs_are_not_changes_but_a_rollout_is(tmp_path: Path) -> None:
    rng = random.Random(11)
    syslog: list[tuple[datetime, str]] = []
    access: list[tuple[datetime, str]] = []
    app: list[tuple[datetime, str]] = []
    t = T0
    while t < T0 + timedelta(minutes=150):
        t += timedelta(seconds=rng.uniform(0.5, 2.0))
        failing = t >= ONSET and rng.random() < 0.6
        access.append((t, _requests(rng, t, failing)))
        level, msg = ("error", "pricing call failed: java.lang.NoSuchMethodError: PriceRule.apply") if failing \
            else ("info", "request completed")
        app.append((t, json.dumps({"ts": _iso(t), "level": level, "service": "pricing", "host": "app-1",
                                   "msg": msg, "status": 500 if failing else 200})))
    for minute in range(0, 150, 10):  # sysstat every 10 minutes on every host, all day
        for h in ("app-1", "app-2", "db-1"):
            tt = T0 + timedelta(minutes=minute)
            syslog.append((tt, f"{_sys(tt)} {h} CRON[{rng.randint(1000, 9999)}]: (root) CMD (command -v debian-sa1 "
                               f"> /dev/null && debian-sa1 1 1)"))
    for i, h in enumerate(("app-1", "app-2", "app-3", "app-4", "app-5", "app-6")):  # a rollout, host by host
        tt = ONSET - timedelta(minutes=9) + timedelta(seconds=80 * i)
        syslog.append((tt, f"{_sys(tt)} {h} deployd[300]: deploying pricing 7.2.0 (build 88e1c2f)"))
    _write(tmp_path, "syslog", syslog)
    _write(tmp_path, "access.log", access)
    _write(tmp_path, "pricing.jsonl", app)
    inc = triage([str(tmp_path)]).incidents[0]
    texts = [c.text for c in inc.changed_before]
    assert not any("debian-sa1" in x for x in texts), texts
    assert any("deploying pricing 7.2.0" in x for x in texts), texts
    assert not any("routine" in c.kind for c in inc.changed_before)


def test_haproxy_postgres_logfmt_folder(tmp_path: Path) -> None:
    truth = haproxy_postgres(tmp_path)
    t = triage([str(tmp_path)])
    inc = t.incidents[0]
    assert any(truth["cause"] in s.text for s in inc.chain)
    # HAProxy's HTTP log (status after the timers) and the apps' logfmt lines are read as such: the 503s are the
    # user-facing symptom, and the title is the message with its error, not the raw key=value line.
    assert inc.impact.user_facing and inc.impact.status_5xx > 0
    assert "time=" not in inc.title and "level=" not in inc.title
    assert truth["cause"] in inc.title or any(truth["cause"] in c.text for c in inc.candidates[:2])
    assert abs(inc.onset_ts - datetime.fromisoformat(truth["onset"]).timestamp()) <= 300
    naming = [inc.title] + [c.text for c in inc.candidates[:1]]
    assert not any(truth["herring"] in x for x in naming)
    assert any(truth["deploy"] in c.text for c in inc.changed_before + inc.candidates)


def test_kubernetes_events_folder(tmp_path: Path) -> None:
    truth = kubernetes_events(tmp_path)
    t = triage([str(tmp_path)])
    inc = t.incidents[0]
    top = inc.candidates[0]
    assert "deployment/cart" in top.text or "cart-7b8d9" in top.text, (inc.title, top.text)
    assert truth["herring"] not in inc.title and truth["herring"] not in top.text
    assert abs(inc.onset_ts - datetime.fromisoformat(truth["onset"]).timestamp()) <= 300
    assert any(s.role == "symptom" and "503" in s.text for s in inc.chain)


def test_a_name_is_named_by_its_distinctive_word_only() -> None:
    """redis-server is named by "Redis ..."; report-builder is not named by a message saying "report errors"."""
    from detectors.incidents.engine import _head

    assert _head("redis-server") == "redis"
    assert _head("redis1.ams3") == "redis"
    assert _head("report-builder") is None
    assert _head("ip-10-5-89-173") is None
    assert _head("prod-etl-1") is None
    # An ordinary word left once "prod" is dropped names nothing: Redis's MISCONF message says it is "configured to
    # report errors", and nginx's 502 page says "Bad Gateway".
    assert _head("prod-report-1") is None
    assert _head("gateway-2") is None
    assert _head("search-backup-3") is None


def test_a_failed_certificate_renewal_hours_before_the_expiry_is_among_the_changes(tmp_path: Path) -> None:
    # Certificates bite when they expire: the renewal that failed two hours earlier is what changed, though it is
    # far outside the hour before the onset where deploys and config pushes are looked for.
    rng = random.Random(11)
    syslog: list[tuple[datetime, str]] = []
    access: list[tuple[datetime, str]] = []
    app: list[tuple[datetime, str]] = []
    renew = ONSET - timedelta(minutes=95)
    syslog.append((renew, f"{_sys(renew)} api-1 cert-renew[4410]: renewal of pricing.internal failed: ACME challenge "
                          f"timed out; current certificate expires {_iso(ONSET)}"))
    t = T0
    while t < T0 + timedelta(minutes=150):
        t += timedelta(seconds=rng.uniform(0.5, 2.0))
        failing = t >= ONSET and rng.random() < 0.7
        access.append((t, _requests(rng, t, failing)))
        if failing:
            app.append((t, json.dumps({"ts": _iso(t), "level": "error", "service": "shop-api", "host": "web-1",
                                       "msg": "tls handshake with pricing failed: x509: certificate has expired",
                                       "status": 503})))
        if rng.random() < 0.02:
            syslog.append((t, f"{_sys(t)} api-1 systemd[1]: Started Session {rng.randint(1, 999)} of user ops."))
    _write(tmp_path, "syslog", syslog)
    _write(tmp_path, "access.log", access)
    _write(tmp_path, "shop-api.jsonl", app)
    inc = triage([str(tmp_path)]).incidents[0]
    renewals = [c for c in inc.changed_before if "renewal of pricing.internal failed" in c.text]
    assert renewals and renewals[0].kind == "certificate" and renewals[0].before_s > 3600


def _ci_run(path: Path, body: list[str]) -> str:
    t = datetime(2024, 3, 5, 10, 0, 0, tzinfo=UTC)
    out = []
    for i, line in enumerate(body):
        out.append(f"{(t + timedelta(seconds=2 * i)).strftime('%Y-%m-%d %H:%M:%S.%f')} | {line}")
    path.write_text("\n".join(out) + "\n")
    return str(path)


def test_against_a_good_run_the_lines_before_a_step_failure_are_its_cause(tmp_path: Path) -> None:
    # A CI job: the compiler's error is new against the good run and comes right before the wrapper that only
    # reports the failed step ("make: *** ... Error 1", "exited with code 2"); the cause is the compiler's line.
    from detectors.pipeline import AuditOptions, audit

    common = [f"go: downloading example.com/mod{i} v1.{i}.0" for i in range(40)] + ["go build ./..."]
    good = _ci_run(tmp_path / "build.good", common + ["ok  example.com/app 0.41s", "Job finished: SUCCESS"])
    failed = _ci_run(tmp_path / "build.fail", common + [
        "internal/store/cache.go:88:14: undefined: redis.NewRingClient",
        "internal/store/cache.go:91:2: cannot use opts (variable of type Options) as RingOptions value",
        "make: *** [Makefile:12: build] Error 1",
        "ERROR: process exited with code 2",
        "Job finished: FAILURE"])
    res = audit([failed], AuditOptions(baseline=(good,), state_dir=None))
    assert res.report.detector == "diff" and res.triage is not None and res.triage.incidents
    top = res.triage.incidents[0].candidates[0]
    assert "undefined: redis.NewRingClient" in (top.text or ""), [(c.text, c.reasons) for c in
                                                                  res.triage.incidents[0].candidates]
    wrapper = next(c for c in res.triage.incidents[0].candidates if "make: ***" in (c.text or ""))
    assert any("weighed down" in r for r in wrapper.reasons)


def test_words_that_dismiss_an_error_do_not_read_as_a_failure() -> None:
    from detectors.incidents import semantics
    assert semantics.badness("Please ignore the error above about btrfs.", 0, 0, False) < 0.3
    assert semantics.badness("this warning can be safely ignored", 0, 0, False) < 0.3
    assert semantics.badness("ERROR: failed to mount /dev/sdb1", 0, 0, False) >= 0.55
    assert semantics.is_wrapper("ERROR: InvocationError: '/tmp/.tox/pep8/bin/flake8'")
    assert semantics.is_wrapper("make[2]: *** [Makefile:12: build] Error 1")
    assert not semantics.is_wrapper("connect to db-1:5432 failed: connection refused")


def test_a_release_is_software_not_a_counter_or_a_lock() -> None:
    from detectors.incidents.semantics import change_kind
    assert change_kind("getResources() for application_1: ask=4 release= 0 newContainers=0") is None
    assert change_kind("DataNode released block blk_1 and 4 slots") is None
    assert change_kind("release of api 2.4.1 started on app-1") == "deploy"
    assert change_kind("releasing orders v3.14.0 to production") == "deploy"


def test_a_new_message_that_says_all_is_well_is_not_a_step(tmp_path: Path) -> None:
    # A disk check deployed mid-morning starts logging "ok" on every host, in volume, minutes before a database
    # fails: new and strong, but its words say all is well. The chain begins at the first failure.
    t0 = datetime(2025, 5, 2, 8, 0, tzinfo=UTC)
    lines = []
    for i in range(0, 4 * 3600, 4):
        t = t0 + timedelta(seconds=i)
        lines.append(f"{t.strftime('%Y-%m-%dT%H:%M:%S')}Z web-{i % 3} api[11]: INFO GET /cart 200 {20 + i % 30}ms")
        if i >= 2 * 3600 and i % 20 == 0:
            lines.append(f"{t.strftime('%Y-%m-%dT%H:%M:%S')}Z web-{i % 3} node-agent[9]: INFO disk usage / "
                         f"{40 + i % 7}% ok")
        if i >= 2 * 3600 + 600:
            lines.append(f"{t.strftime('%Y-%m-%dT%H:%M:%S')}Z db-1 postgres[5]: ERROR could not write to file "
                         f"\"pg_wal/xlogtemp.{i % 97}\": No space left on device")
        if i >= 2 * 3600 + 660:
            lines.append(f"{t.strftime('%Y-%m-%dT%H:%M:%S')}Z web-{i % 3} api[11]: ERROR POST /cart 500 {900 + i % 50}ms "
                         f"(pq: could not write to db-1)")
    (tmp_path / "all.log").write_text("\n".join(lines) + "\n")
    res = triage([str(tmp_path / "all.log")])
    assert res.incidents
    steps = [s.text for s in res.incidents[0].chain]
    assert not any("% ok" in s for s in steps), steps
    assert "No space left on device" in res.incidents[0].candidates[0].text


def test_only_the_block_right_before_a_step_failure_explains_it(tmp_path: Path) -> None:
    # The failed run also differs earlier (a coverage report the good run did not write), before steps both runs had:
    # that line is not part of the failing step's reason; the compiler's error right before make's line is.
    from detectors.pipeline import AuditOptions, audit

    common = [f"go: downloading example.com/mod{i} v1.{i}.0" for i in range(40)]
    tail = ["go vet ./...", "vet: ok", "go build ./..."]
    good = _ci_run(tmp_path / "build.good", common + ["Ran 3 tests in 1.2s", "OK"] + tail
                   + ["ok  example.com/app 0.41s", "Job finished: SUCCESS"])
    failed = _ci_run(tmp_path / "build.fail", common + ["Ran 3 tests in 1.2s", "coverage report written to cov.out",
                                                         "OK"] + tail + [
        "internal/store/cache.go:88:14: undefined: redis.NewRingClient",
        "make: *** [Makefile:12: build] Error 1",
        "Job finished: FAILURE"])
    res = audit([failed], AuditOptions(baseline=(good,), state_dir=None))
    assert res.triage is not None and res.triage.incidents
    top = res.triage.incidents[0].candidates[0]
    assert "undefined: redis.NewRingClient" in (top.text or ""), [c.text for c in res.triage.incidents[0].candidates]


def test_of_two_lines_that_score_alike_the_earlier_ranks_first(tmp_path: Path) -> None:
    # The kernel's OOM kill and systemd's note of it, in the same second on the same host, read alike to the
    # engine; the one that came first in the file is the top candidate.
    rng = random.Random(8)
    syslog: list[tuple[datetime, str]] = []
    access: list[tuple[datetime, str]] = []
    t = T0
    while t < T0 + timedelta(minutes=150):
        t += timedelta(seconds=rng.uniform(0.5, 2.0))
        access.append((t, _requests(rng, t, t >= ONSET + timedelta(seconds=5) and rng.random() < 0.7)))
        if rng.random() < 0.02:
            syslog.append((t, f"{_sys(t)} java-1 CRON[{rng.randint(1000, 9999)}]: (root) CMD (run-parts /etc/cron.hourly)"))
    syslog.append((ONSET, f"{_sys(ONSET)} java-1 kernel: Out of memory: Killed process 9796 (java) total-vm:7812325kB"))
    syslog.append((ONSET, f"{_sys(ONSET)} java-1 systemd[1]: customer-core.service: Failed with result 'oom-kill'."))
    _write(tmp_path, "syslog", syslog)
    _write(tmp_path, "access.log", access)
    inc = triage([str(tmp_path)]).incidents[0]
    cands = [c for c in inc.candidates if c.kind == "log"]
    kernel = next(c for c in cands if "Out of memory" in c.text)
    systemd = next(c for c in cands if "oom-kill" in c.text)
    assert kernel.score >= systemd.score - 1e-6, [(c.score, c.text[:40]) for c in cands]
    assert cands.index(kernel) < cands.index(systemd), [(c.score, c.text[:40]) for c in cands]


def test_a_scanners_404s_are_not_the_incident(tmp_path: Path) -> None:
    # A vulnerability scanner probes for files from one address (hundreds of 404s in minutes); ten minutes later
    # the payment provider fails and checkouts get 502s: fewer lines, but that is what the users get.
    rng = random.Random(4)
    access: list[tuple[datetime, str]] = []
    app: list[tuple[datetime, str]] = []
    probes = ["/.env", "/wp-login.php", "/.git/config", "/phpmyadmin/index.php", "/backup.zip", "/admin/.env"]
    t = T0
    while t < T0 + timedelta(minutes=150):
        t += timedelta(seconds=rng.uniform(0.5, 2.0))
        failing = rng.random() < (0.03 if t >= ONSET else 0.003)  # a stray 502 now and then before
        access.append((t, _requests(rng, t, False, path="/api/checkout") if not failing else
                       _requests(rng, t, True, path="/api/checkout").replace(" 503 ", " 502 ")))
        if failing:
            app.append((t, json.dumps({"ts": _iso(t), "level": "error", "service": "checkout", "host": "api-1",
                                       "msg": "payment authorization failed: POST https://gw.psp.example/v1/"
                                              "charges: 503 Service Unavailable"})))
    scan = ONSET - timedelta(minutes=10)
    for i in range(700):
        ts = scan + timedelta(seconds=i * 0.6)
        access.append((ts, f'5.207.53.149 - - [{ts.strftime("%d/%b/%Y:%H:%M:%S")} +0000] "GET {probes[i % 6]} '
                           f'HTTP/1.1" 404 162 "-" "Mozilla/5.0 zgrab/0.x"'))
    _write(tmp_path, "access.log", access)
    _write(tmp_path, "checkout.jsonl", app)
    inc = triage([str(tmp_path)]).incidents[0]
    assert "payment authorization failed" in inc.title, inc.title
    assert abs((inc.onset - ONSET).total_seconds()) <= 300
    assert not any("zgrab" in s.text for s in inc.chain)
