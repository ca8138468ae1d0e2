"""Engine rules found on a second set of hand-written held-out folders (Kubernetes node pressure, a Kafka broker's GC
pause, an uplink optic flapping, a feature-flag rollout): each test builds a small synthetic folder of its own."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.incidents import triage

T0 = datetime(2026, 3, 9, 8, 0, 0, tzinfo=UTC)


def _clf(t: datetime) -> str:
    return t.strftime("%d/%b/%Y:%H:%M:%S +0000")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def test_a_backends_slow_steps_rank_below_a_front_doors_errors(tmp_path: Path) -> None:
    """A front door's 502s (a payment gateway failing) at 09:00; earlier, from 08:20 to 08:40, a back end whose own log
    says its replica syncs took 20 s instead of 12 ms: no request of a user waited on them. The incident that leads
    is the 502s (before: the slow syncs, a latency shift weighed as if users had waited on it)."""
    rng = random.Random(3)
    onset = T0 + timedelta(minutes=60)
    slow, fast = T0 + timedelta(minutes=20), T0 + timedelta(minutes=40)
    end = T0 + timedelta(minutes=120)
    access, app, broker = [], [], []
    t = T0
    while t < end:
        t += timedelta(seconds=rng.uniform(0.5, 2.0))
        path = rng.choice(["/api/pay", "/api/cart", "/api/items/17"])
        failing = path == "/api/pay" and onset <= t < onset + timedelta(minutes=12) and rng.random() < 0.08
        access.append(f'10.0.0.{rng.randint(2, 250)} - - [{_clf(t)}] "POST {path} HTTP/1.1" {502 if failing else 200} '
                      f'{rng.randint(100, 900)} "-" "Mozilla/5.0"')
        if failing:
            app.append(f'time={_iso(t)} level=error msg="payment gateway call failed" err="upstream answered 500" '
                       f'gateway=acme-pay')
        elif rng.random() < 0.3:
            app.append(f'time={_iso(t)} level=info msg="payment authorised" amount={rng.randint(5, 500)}')
    t = T0
    while t < end:
        t += timedelta(seconds=rng.uniform(4, 8))
        took = rng.uniform(15000, 30000) if slow <= t < fast else rng.uniform(8, 16)
        broker.append(f"{t.strftime('%Y-%m-%d %H:%M:%S')},{rng.randint(100, 999)} INFO replica sync of "
                      f"segment {rng.randint(1, 99)} done, took {took:.0f}ms")
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "access.log").write_text("\n".join(access) + "\n")
    (tmp_path / "payments.log").write_text("\n".join(app) + "\n")
    (tmp_path / "broker.log").write_text("\n".join(broker) + "\n")
    tri = triage([str(tmp_path)])
    assert tri.incidents
    top = tri.incidents[0]
    assert "payment gateway call failed" in top.title or "502" in top.title, [i.title for i in tri.incidents]
    assert top.onset is not None and abs((top.onset - onset).total_seconds()) <= 120


def test_a_standby_is_no_backup_job_and_a_vrrp_state_change_is_a_failover() -> None:
    from detectors.incidents.semantics import change_kind

    # HAProxy's server state lines count "backup servers"; keepalived enters BACKUP state: no backup job ran
    assert change_kind("haproxy: Server web/w2 is DOWN, reason: Layer7 wrong status. 1 active and 0 backup servers "
                       "left. 3 sessions active") != "scheduled-job"
    assert change_kind("Keepalived_vrrp[77]: (VI_3) Entering BACKUP STATE") == "failover"
    assert change_kind("Keepalived_vrrp[77]: VRRP_Instance(VI_3) Transition to MASTER STATE") == "failover"
    assert change_kind("Keepalived_vrrp[77]: (VI_3) Entering MASTER STATE") == "failover"
    # a backup run still is one
    assert change_kind("CRON[311]: (root) CMD (/opt/bin/backup-db.sh --full)") == "scheduled-job"
    assert change_kind("nightly backup of /srv started") == "scheduled-job"


def test_a_failure_that_comes_and_goes_with_the_symptom_is_on_its_path(tmp_path: Path) -> None:
    """A load balancer's 503s come in bursts, each right after a switch port drops (the switch's line names no host
    of the load balancer or its servers); a poller's SNMP failures on the same switches go on all along from just
    before the first burst. The port is on the incident's path; the poller is not."""
    rng = random.Random(5)
    onset = T0 + timedelta(minutes=70)
    stop = onset + timedelta(minutes=40)
    end = T0 + timedelta(minutes=150)
    drops = []
    t = onset
    while t < stop:
        drops.append((t, t + timedelta(seconds=rng.uniform(20, 40))))
        t += timedelta(seconds=rng.uniform(150, 260))
    lb, sw = [], []
    t = T0
    while t < end:
        t += timedelta(seconds=rng.uniform(0.3, 1.2))
        cut = any(a <= t < b for a, b in drops)
        st = 503 if cut and rng.random() < 0.6 else 200
        lb.append(f"{t.strftime('%b %e %H:%M:%S')} edge-1 haproxy[311]: 192.0.2.{rng.randint(2, 250)}:"
                  f"{rng.randint(30000, 60000)} [{t.strftime('%d/%b/%Y:%H:%M:%S')}.{rng.randint(100, 999)}] web "
                  f"web/app-{rng.randint(1, 3)} 0/0/1/{rng.randint(3, 40)}/{rng.randint(5, 50)} {st} "
                  f"{rng.randint(200, 900)} - - ---- 5/5/0/0/0 0/0 \"GET /api/x/{rng.randint(1, 99)} HTTP/1.1\"")
    for a, _b in drops:
        lb.append(f"{(a + timedelta(seconds=5)).strftime('%b %e %H:%M:%S')} edge-1 haproxy[311]: Server web/app-2 "
                  f"is DOWN, reason: Layer4 timeout, check duration: 2001ms. 2 active and 0 backup servers left.")
    seq = 100
    t = T0
    while t < end:  # background: access ports that come and go
        t += timedelta(seconds=rng.uniform(200, 400))
        seq += 1
        sw.append((t, f"dist-{rng.randint(1, 2)} {seq}: %LINEPROTO-5-UPDOWN: Line protocol on Interface "
                      f"Gi1/0/{rng.randint(1, 48)}, changed state to {rng.choice(['up', 'down'])}"))
    for a, _b in drops:
        seq += 1
        sw.append((a - timedelta(seconds=0.5), f"dist-1 {seq}: %PORT_SECURITY-2-PSECURE_VIOLATION: Security "
                                               f"violation occurred, caused by MAC 0011.2233.4455 on port "
                                               f"TenGigabitEthernet1/1/2"))
    t = onset - timedelta(minutes=1)
    while t < end:  # the poller: all along from just before the first burst
        t += timedelta(seconds=rng.uniform(3, 8))
        seq += 1
        sw.append((t, f"dist-{rng.randint(1, 2)} {seq}: %SNMP-3-AUTHFAIL: Authentication failure for SNMP req "
                      f"from host 10.9.0.44"))
    sw.sort()
    (tmp_path / "edge-1.syslog").write_text("\n".join(lb) + "\n")
    (tmp_path / "switches.log").write_text(
        "\n".join(f"{ts.strftime('%Y-%m-%dT%H:%M:%S.%f')}+00:00 {msg}" for ts, msg in sw) + "\n")
    tri = triage([str(tmp_path)])
    assert tri.incidents
    chain = [s.text for s in tri.incidents[0].chain]
    assert any("PSECURE_VIOLATION" in s for s in chain), chain
    assert not any("AUTHFAIL" in s for s in chain), chain


def test_a_failure_with_stray_earlier_lines_joins_the_chain_when_it_keeps_pace(tmp_path: Path) -> None:
    """A code path switched on for a few requests fails now and then for an hour (one in twenty); switched on for
    half of them at 09:30, it fails in step with the front door's 500s. The failure is a step of the incident (before:
    dropped as a key that 'flapped before', the title was an access line)."""
    rng = random.Random(9)
    small, big = T0 + timedelta(minutes=20), T0 + timedelta(minutes=90)
    end = T0 + timedelta(minutes=150)
    app, access = [], []
    t = T0
    while t < end:
        t += timedelta(seconds=rng.uniform(0.5, 1.5))
        share = 0.5 if t >= big else 0.03 if t >= small else 0.0
        rid = f"{rng.getrandbits(48):012x}"
        if rng.random() < share:
            app.append(f'time={_iso(t)} level=ERROR msg="panic recovered" err="runtime error: index out of range [3] '
                       f'with length 3" request_id={rid}')
            st = 500
        else:
            app.append(f'time={_iso(t)} level=INFO msg="quote computed" request_id={rid} dur=12ms')
            st = 200
        access.append(f'[{_iso(t)}] "POST /v1/quote HTTP/1.1" {st} - 120 {rng.randint(80, 400)} 14 12 "10.0.0.9" '
                      f'"client/1.0" "{rid}" "quote:8080" "127.0.0.1:8080"')
    (tmp_path / "quote.log").write_text("\n".join(app) + "\n")
    (tmp_path / "envoy.log").write_text("\n".join(access) + "\n")
    tri = triage([str(tmp_path)])
    assert tri.incidents
    inc = max(tri.incidents, key=lambda i: i.strength)
    assert any("panic recovered" in s.text for s in inc.chain), [(s.role, s.text[:60]) for s in inc.chain]
    assert inc.onset is not None and abs((inc.onset - big).total_seconds()) <= 300


def test_bench_triage_on_existing_folders_writes_into_a_new_out_folder(tmp_path: Path) -> None:
    import json

    from lab.incidents.bench import bench_triage
    from lab.incidents.gen import ANSWER, generate_incident

    folder = tmp_path / "data" / "one"
    answer = generate_incident(folder, kind="disk_full", seed=1, lines=1500)
    (folder / ANSWER).write_text(json.dumps(answer))
    out = tmp_path / "results" / "run1"  # does not exist yet
    res = bench_triage(data=tmp_path / "data", out=out, methods=["level:first"], scale=())
    assert res["folders"] == 1
    assert json.loads((out / "bench_triage.json").read_text())["folders"] == 1
