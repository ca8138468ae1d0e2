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
    t = triage([str(tmp_path)])
    assert t.incidents
    top = t.incidents[0]
    assert "payment gateway call failed" in top.title or "502" in top.title, [i.title for i in t.incidents]
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
