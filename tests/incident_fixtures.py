"""Hand-written incident folders unlike `sleuth generate`'s: other formats, other layouts, other red herrings.

Each builder writes a small folder (two hours, a few thousand lines) into `root` and returns what an on-call
engineer would conclude from it: the cause's phrase, the red herring's phrase, the onset. The incidents are told
the way real logs tell them; nothing here is shaped after the engine's rules.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2025, 3, 3, 13, 0, 0, tzinfo=UTC)


def _sys(t: datetime) -> str:
    return t.strftime("%b %e %H:%M:%S")


def haproxy_postgres(root: Path, seed: int = 1) -> dict[str, str]:
    """HAProxy (syslog) in front of two app servers (logfmt) on one PostgreSQL (its own log format).

    At 14:10 a release of the orders app starts on app-1 and app-2; from 14:12 its new code leaks connections,
    postgres refuses new ones ("sorry, too many clients already"), the apps fail, HAProxy returns 503s.
    Red herring: a mail worker on mail-1 starts timing out against its SMTP relay at 14:09, loudly, and keeps
    going (it logs to the same logfmt file).
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    onset = T0 + timedelta(minutes=72)
    deploy = T0 + timedelta(minutes=70)
    herring = T0 + timedelta(minutes=69)
    end = T0 + timedelta(minutes=120)
    lb, app, pg = [], [], []
    t = T0
    routes = ["/api/orders/{}", "/api/cart", "/api/products/{}", "/api/orders"]
    while t < end:
        t += timedelta(seconds=rng.uniform(0.5, 2.5))
        srv = rng.choice(["app-1", "app-2"])
        path = rng.choice(routes).format(rng.randint(1000, 9999))
        failing = t >= onset + timedelta(seconds=40) and rng.random() < 0.6
        status, tr = (503, rng.randint(2000, 5000)) if failing else (200, rng.randint(5, 60))
        be = "api/<NOSRV>" if failing and rng.random() < 0.3 else f"api/{srv}"
        lb.append(f"{_sys(t)} lb-1 haproxy[2211]: 203.0.113.{rng.randint(2, 250)}:{rng.randint(30000, 60000)} "
                  f"[{t.strftime('%d/%b/%Y:%H:%M:%S')}.{rng.randint(100, 999)}] www~ {be} 0/0/1/{tr}/{tr + 1} "
                  f"{status} {rng.randint(200, 4000)} - - {'sH--' if failing else '----'} 12/12/0/0/0 0/0 "
                  f"\"GET {path} HTTP/1.1\"")
        ts = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randint(0, 999):03d}Z"
        if failing:
            app.append(f'time={ts} level=error host={srv} service=orders msg="request failed" path={path} '
                       f'err="pq: sorry, too many clients already" status=500')
        else:
            app.append(f'time={ts} level=info host={srv} service=orders msg="request done" path={path} status=200 '
                       f'duration_ms={rng.randint(3, 50)}')
        if t >= herring and rng.random() < 0.5:
            app.append(f'time={ts} level=error host=mail-1 service=mailer msg="send failed" '
                       f'err="dial tcp 10.0.9.25:587: i/o timeout" queue=outbound attempt={rng.randint(1, 5)}')
        if rng.random() < 0.01:
            app.append(f'time={ts} level=warn host={srv} service=orders msg="slow request" path={path} '
                       f'duration_ms={rng.randint(800, 1500)}')
    # App release on both servers, as the deploy tool logs it into the app log.
    for i, srv in enumerate(("app-1", "app-2")):
        ts = (deploy + timedelta(seconds=20 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        app.append(f'time={ts} level=info host={srv} service=orders msg="starting orders version 3.14.0 '
                   f'(commit 9f2c1ab)" pid={4000 + i}')
    # PostgreSQL: checkpoints every 5 min, autovacuum now and then, then the refusals.
    t = T0
    pid = 5000
    while t < end:
        t += timedelta(minutes=5)
        stamp = t.strftime("%Y-%m-%d %H:%M:%S.") + f"{rng.randint(0, 999):03d} UTC"
        pg.append(f"{stamp} [812] LOG:  checkpoint starting: time")
        pg.append(f"{stamp} [812] LOG:  checkpoint complete: wrote {rng.randint(20, 400)} buffers "
                  f"({rng.uniform(0.1, 2):.1f}%); 0 WAL file(s) added, 0 removed, 1 recycled; write={rng.uniform(1, 30):.3f} s")
        if rng.random() < 0.4:
            pg.append(f"{stamp} [{rng.randint(6000, 7000)}] LOG:  automatic vacuum of table \"shop.public.orders\": "
                      f"index scans: 1")
    t = onset
    while t < end:
        t += timedelta(seconds=rng.uniform(0.3, 1.5))
        pid += 1
        stamp = t.strftime("%Y-%m-%d %H:%M:%S.") + f"{rng.randint(0, 999):03d} UTC"
        pg.append(f"{stamp} [{pid}] orders@shop FATAL:  sorry, too many clients already")
    t = onset - timedelta(seconds=30)
    stamp = t.strftime("%Y-%m-%d %H:%M:%S.") + "120 UTC"
    pg.append(f"{stamp} [{pid + 1}] orders@shop WARNING:  there are {97} connections of 100 in use by role orders")

    def key(line: str) -> str:
        return line.split(" ")[0][5:] if line.startswith("time=") else line
    app.sort(key=key)
    pg.sort()
    (root / "haproxy.log").write_text("\n".join(lb) + "\n")
    (root / "orders.log").write_text("\n".join(app) + "\n")
    (root / "postgresql-2025-03-03.log").write_text("\n".join(pg) + "\n")
    return {"cause": "too many clients", "deploy": "orders version 3.14.0", "herring": "10.0.9.25:587",
            "onset": onset.isoformat()}


def kubernetes_events(root: Path, seed: int = 2) -> dict[str, str]:
    """`kubectl get events -o wide`-style events of a cluster and an ingress-nginx access log.

    At 09:40 a ConfigMap update rolls the cart deployment; the new pods crash (CrashLoopBackOff) and the ingress
    answers 503 on /cart. Red herring: a report CronJob in another namespace cannot be scheduled from 09:37
    (insufficient memory) and keeps warning.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    t0 = datetime(2025, 6, 10, 8, 30, tzinfo=UTC)
    change = t0 + timedelta(minutes=70)
    herring = t0 + timedelta(minutes=67)
    end = t0 + timedelta(minutes=120)
    ev, acc = [], []

    def e(t: datetime, typ: str, reason: str, obj: str, msg: str) -> None:
        ev.append(f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')}  {typ:<8} {reason:<18} {obj:<40} {msg}")
    t = t0
    while t < end:
        t += timedelta(minutes=rng.uniform(3, 8))
        node = f"node-{rng.randint(1, 5)}"
        e(t, "Normal", "Pulled", f"pod/web-{rng.randint(1000, 9999)}", 'Container image "registry.local/web:1.8.2" '
          "already present on machine")
        if rng.random() < 0.3:
            e(t, "Normal", "Scheduled", f"pod/web-{rng.randint(1000, 9999)}",
              f"Successfully assigned shop/web-{rng.randint(1000, 9999)} to {node}")
    e(change, "Normal", "ScalingReplicaSet", "deployment/cart", "Scaled up replica set cart-7b8d9 to 1")
    e(change + timedelta(seconds=2), "Normal", "Pulled", "pod/cart-7b8d9-k2x4q",
      'Container image "registry.local/cart:4.2.0" already present on machine')
    t = change + timedelta(seconds=20)
    while t < end:
        t += timedelta(seconds=rng.uniform(20, 40))
        pod = f"pod/cart-7b8d9-{rng.choice(['k2x4q', 'p9z7m', 'w3c8d'])}"
        e(t, "Warning", "BackOff", pod, "Back-off restarting failed container cart in pod")
        if rng.random() < 0.5:
            e(t, "Warning", "Unhealthy", pod, "Readiness probe failed: HTTP probe failed with statuscode: 500")
    t = herring
    while t < end:
        t += timedelta(seconds=rng.uniform(15, 45))
        e(t, "Warning", "FailedScheduling", f"pod/nightly-report-{rng.randint(100, 999)}",
          "0/5 nodes are available: 5 Insufficient memory. preemption: 0/5 nodes are available")
    t = t0
    onset = change + timedelta(seconds=50)
    while t < end:
        t += timedelta(seconds=rng.uniform(0.3, 1.5))
        path = rng.choice(["/cart", "/cart/items", "/", f"/products/{rng.randint(1, 500)}"])
        bad = t >= onset and path.startswith("/cart") and rng.random() < 0.8
        st = 503 if bad else 200
        acc.append(f"10.42.{rng.randint(0, 9)}.{rng.randint(2, 250)} - - [{t.strftime('%d/%b/%Y:%H:%M:%S')} +0000] "
                   f"\"GET {path} HTTP/1.1\" {st} {rng.randint(100, 9000)} \"-\" \"Mozilla/5.0\" 312 "
                   f"{rng.uniform(0.001, 0.05) if not bad else 0.0:.3f} [shop-cart-80] [] "
                   f"{'-' if bad else '10.42.3.17:8080'} 0 0.000 {st}")
    ev.sort()
    (root / "events.log").write_text("\n".join(ev) + "\n")
    (root / "ingress-nginx.log").write_text("\n".join(acc) + "\n")
    return {"cause": "cart", "herring": "Insufficient memory", "onset": onset.isoformat()}
