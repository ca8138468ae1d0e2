"""The incident kinds and the red herrings: each one a plan of tagged records, request failures and metric shapes.

A plan's steps form the answer key's chain (cause first, user-facing symptom last). Every record a step owns is
tagged with the step's tag and contains one of the step's phrases (tests check it), so the key's line numbers and
phrases agree by construction.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.incidents.world import USERS, Rec, Svc, World, iso_z

MIN = 60.0


@dataclass(slots=True)
class Step:
    """One step of the chain: the lines tagged `tag` in file key `file`, each containing one of `phrases`."""

    tag: str
    role: str  # cause | propagation | symptom
    what: str
    phrases: tuple[str, ...]
    file: str
    change: bool = False  # a change event (deploy, config push, scheduled job) rather than a failure
    early: bool = False  # a warning sign well before the onset (a filling disk): part of the cause, not the onset


@dataclass(slots=True)
class Request:
    ts: float
    method: str
    route: str  # the route template
    path: str
    ip: str
    ua: str
    trace_id: str
    status: int = 200
    latency_ms: float = 20.0


@dataclass(slots=True)
class Effect:
    """Requests to `routes` fail with probability ramping from 0 at `start` to `p_max` after `ramp` s, until `end`."""

    routes: tuple[str, ...]
    start: float
    end: float
    p_max: float
    statuses: tuple[int, ...]
    on_fail: Callable[[Request, random.Random], list[Rec]]
    ramp: float = 120.0
    latency_ms: float = 0.0
    tag: str = "symptom"
    app_tag: str = "app_5xx"

    def p(self, ts: float) -> float:
        if ts < self.start or ts >= self.end:
            return 0.0
        return self.p_max * min(1.0, (ts - self.start) / self.ramp + 0.15)


@dataclass
class Plan:
    kind: str
    summary: str
    steps: list[Step]
    records: list[Rec]
    effects: list[Effect]
    metrics: dict[str, Callable[[float, float], float]] = field(default_factory=dict)  # name -> f(ts, base)
    symptom: str = ""
    extra_streams: list = field(default_factory=list)  # generators of Rec in time order (floods)


def times(rng: random.Random, t0: float, t1: float, mean_gap: float) -> list[float]:
    """Poisson arrivals in [t0, t1)."""
    out, t = [], t0
    while True:
        t += rng.expovariate(1.0 / mean_gap)
        if t >= t1:
            return out
        out.append(t)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def symptom_steps(statuses: tuple[int, ...]) -> list[Step]:
    """The user-facing end of every chain: the API's 5xx responses and the edge's 5xx access lines."""
    return [Step("app_5xx", "symptom", "the API answers 5xx", tuple(f'"status":{s}' for s in statuses), "app"),
            Step("symptom", "symptom", "users get 5xx at the edge", tuple(f'" {s} ' for s in statuses), "access")]


def _app_error(w: World, req: Request, rng: random.Random, msg: str, err: str, tag: str = "app") -> Rec:
    return w.log(w.app, req.ts - 0.002, "error", msg, tag=tag, error=err, route=req.route, method=req.method,
                 status=req.status, trace_id=req.trace_id)


# --- the kinds -------------------------------------------------------------------------------------------------


def bad_deploy(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    B = w.backend
    ver = f"{rng.randint(2, 7)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    sha = _hex(rng, 7)
    recs: list[Rec] = []
    tc = t0 - rng.uniform(70, 200)
    for i, h in enumerate(B.hosts):
        ts = tc + i * rng.uniform(15, 40)
        recs.append(w.syslog(ts, h, "deployd", f"deploying {B.name} {ver} (build {sha}) requested by ci-pipeline",
                             tag="change"))
        recs.append(w.syslog(ts + 1.5, h, "systemd", f"Stopping {B.name}.service - {B.name}...", pid=1))
        recs.append(w.syslog(ts + 6.2, h, "systemd", f"Started {B.name}.service - {B.name}.", pid=1))
        recs.append(w.log(B, ts + 19.0, "info", f"Started Application in 12.{rng.randint(100, 999)} seconds "
                          f"(version {ver})", host=h))
    method = rng.choice(("Money.of(long)", "StockLevel.available()", "TaxRule.rateFor(java.lang.String)"))
    pkg = B.package
    exc = ("java.lang.NoSuchMethodError", f"'{pkg}.model.{method}'")
    n = [0]

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        n[0] += 1
        out = []
        if r.random() < 0.7:
            out.append(w.log(B, req.ts - 0.01, "error", "Servlet.service() for servlet [dispatcherServlet] threw "
                             "exception: NoSuchMethodError", exc=exc if n[0] % 5 == 1 else None, tag="b_err",
                             logger="org.apache.catalina.core.ContainerBase", trace_id=req.trace_id))
        out.append(_app_error(w, req, r, "upstream call failed", f"{B.name} returned 500 Internal Server Error"))
        return out

    steps = [Step("change", "cause", f"deploy of {B.name} {ver}", (f"deploying {B.name} {ver}",), "syslog", True),
             Step("b_err", "cause", f"{B.name} {ver} throws NoSuchMethodError", ("NoSuchMethodError",), B.file),
             Step("app", "propagation", f"{w.app.name} gets 500 from {B.name}", (f"{B.name} returned 500",), "app"),
             *symptom_steps((502,))]
    eff = Effect(w.backend_routes, t0, t1, rng.uniform(0.6, 0.9), (502,), on_fail, latency_ms=30)
    return Plan("bad_deploy", f"{B.name} {ver} deployed with an incompatible dependency: NoSuchMethodError on every "
                f"call, 502s on {', '.join(w.backend_routes)}", steps, recs, [eff],
                {"backend_error_rate": lambda ts, base: base + (0.6 if t0 <= ts < t1 else 0.0)},
                symptom=f"502 on {', '.join(w.backend_routes)}")


def db_pool_exhaustion(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    B, db = w.backend, w.host("db")
    recs: list[Rec] = []
    n = rng.randint(20, 90)
    for ts in [t0, *times(rng, t0 + 5, t1, rng.uniform(8, 20))]:
        n += 1
        ms = rng.uniform(28000, 61000)
        recs.append(w.syslog(ts, db, "postgres", f"[{n}-1] LOG:  duration: {ms:.3f} ms  statement: SELECT oi.sku, "
                             f"sum(oi.qty) FROM order_items oi JOIN orders o ON o.id = oi.order_id WHERE "
                             f"o.created_at > $1 GROUP BY oi.sku", tag="cause"))
    msg = "HikariPool-1 - Connection is not available, request timed out after 30000ms."
    k = [0]

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        k[0] += 1
        out = []
        if r.random() < 0.6:
            out.append(w.log(B, req.ts - 0.05, "error", f"Request processing failed: {msg}", tag="b_pool",
                             exc=("java.sql.SQLTransientConnectionException", msg) if k[0] % 6 == 1 else None,
                             logger=f"{B.package}.web.ErrorHandler", trace_id=req.trace_id))
        out.append(_app_error(w, req, r, "upstream request failed", f"{B.name}: context deadline exceeded"))
        if r.random() < 0.5:
            out.append(w.nginx_error(req.ts, "error", "upstream timed out (110: Connection timed out) while reading "
                                     f"response header from upstream, client: {req.ip}, server: {w.domain}, "
                                     f'request: "{req.method} {req.path} HTTP/1.1", upstream: '
                                     f'"http://{w.app.ip}:8080{req.path}", host: "{w.domain}"', tag="edge_err"))
        return out

    steps = [Step("cause", "cause", "a new slow query holds the database's connections", ("FROM order_items oi JOIN orders",),
                  "syslog"),
             Step("b_pool", "propagation", f"{B.name}'s connection pool is exhausted", ("Connection is not available",),
                  B.file),
             Step("app", "propagation", f"{w.app.name} times out calling {B.name}", ("context deadline exceeded",), "app"),
             Step("edge_err", "propagation", "nginx times out on the upstream", ("upstream timed out",), "nginx_error"),
             *symptom_steps((504,))]
    eff = Effect(w.backend_routes, t0 + 30, t1, rng.uniform(0.5, 0.85), (504,), on_fail, latency_ms=30000)
    return Plan("db_pool_exhaustion", "a slow report query on order_items holds connections until "
                f"{B.name}'s Hikari pool is exhausted; 504s", steps, recs, [eff],
                {"db_connections_active": lambda ts, base: 100.0 if t0 + 20 <= ts < t1 else base,
                 "db_slow_queries_per_min": lambda ts, base: base + (4.0 if t0 <= ts < t1 else 0.0)},
                symptom=f"504 on {', '.join(w.backend_routes)}")


def disk_full(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    B, db = w.backend, w.host("db")
    recs: list[Rec] = []
    pct = 86
    for ts in times(rng, t0 - 50 * MIN, t0 - 60, 6 * MIN):
        recs.append(w.syslog(ts, db, "disk-monitor", f"WARNING: filesystem /var/lib/postgresql is {pct}% full",
                             tag="precursor"))
        pct = min(99, pct + rng.randint(1, 3))
    n = rng.randint(1000, 9000)
    for i, ts in enumerate([t0, *times(rng, t0 + 3, t1, rng.uniform(6, 15))]):
        if i % 7 == 3:
            text = f'PANIC:  could not write to file "pg_wal/xlogtemp.{n + i}": No space left on device'
        else:
            text = f'ERROR:  could not extend file "base/16401/{24576 + i}": No space left on device'
        recs.append(w.syslog(ts, db, "postgres", f"[{i + 3}-1] {text}", tag="cause"))
        recs.append(w.syslog(ts + 0.001, db, "postgres", f"[{i + 3}-2] HINT:  Check free disk space."))

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        out = []
        if r.random() < 0.6:
            em = f'ERROR: could not extend file "base/16401/{r.randint(24576, 24999)}": No space left on device'
            out.append(w.log(B, req.ts - 0.02, "error", f"Could not commit JPA transaction: {em}", tag="b_err",
                             exc=("org.postgresql.util.PSQLException", em) if r.random() < 0.2 else None,
                             logger=f"{B.package}.service.OrderService", trace_id=req.trace_id))
        out.append(_app_error(w, req, r, "upstream call failed", f"{B.name} returned 500 Internal Server Error"))
        return out

    steps = [Step("precursor", "cause", f"the database disk on {db} fills up", ("filesystem /var/lib/postgresql is",),
                  "syslog", early=True),
             Step("cause", "cause", f"the database disk on {db} is full", ("No space left on device",), "syslog"),
             Step("b_err", "propagation", f"{B.name} cannot write", ("could not extend file",), B.file),
             Step("app", "propagation", f"{w.app.name} gets 500 from {B.name}", (f"{B.name} returned 500",), "app"),
             *symptom_steps((500,))]
    eff = Effect(w.backend_routes, t0 + 5, t1, rng.uniform(0.5, 0.8), (500,), on_fail)
    span = max(t0 - w.start, 1.0)
    return Plan("disk_full", f"/var/lib/postgresql on {db} fills up; writes fail with No space left on device; 500s",
                steps, recs, [eff],
                {"disk_used_pct_db": lambda ts, base: 100.0 if ts >= t0 else 70 + 29.5 * max(0.0, (ts - w.start) / span) ** 3},
                symptom=f"500 on {', '.join(w.backend_routes)}")


def cert_expiry(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    B, bh = w.backend, w.host("backend")
    t0 = float(int(t0 // 3600) * 3600 + rng.choice((0, 1800)))  # certificates expire on a round time
    t1 = max(t1, t0 + 20 * MIN)
    not_after = iso_z(t0, ms=False)
    recs: list[Rec] = []
    for ts in times(rng, w.start + 5 * MIN, w.start + 40 * MIN, 12 * MIN)[:2] or [w.start + 9 * MIN]:
        recs.append(w.syslog(ts, bh, "cert-renew", f"renewal of {B.name}.internal failed: ACME challenge timed out; "
                             f"current certificate expires {not_after}", tag="change"))
    err = f"x509: certificate has expired or is not yet valid: current time {{now}} is after {not_after}"

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        now = iso_z(req.ts, ms=False)
        return [_app_error(w, req, r, f"tls handshake with {B.name} failed", err.format(now=now), tag="cause")]

    steps = [Step("change", "cause", "certificate renewal failed hours earlier", (f"renewal of {B.name}.internal failed",),
                  "syslog", True),
             Step("cause", "cause", f"{B.name}'s TLS certificate expired", ("certificate has expired",), "app")]
    recs_w: list[Rec] = []
    for ts in times(rng, t0 + 10, t1, rng.uniform(20, 60)):
        recs_w.append(w.log(w.worker, ts, "error", f"Task sync_stock[{_hex(rng, 8)}] raised unexpected: SSLError",
                            exc=("requests.exceptions.SSLError", f"HTTPSConnectionPool(host='{B.name}.internal', "
                                 "port=8443): Max retries exceeded (Caused by SSLError(SSLCertVerificationError(1, "
                                 "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has "
                                 "expired (_ssl.c:1006)')))"), tag="w_err", logger="celery.app.trace"))
    if recs_w:
        steps.append(Step("w_err", "propagation", f"{w.worker.name} cannot reach {B.name} either",
                          ("SSLError",), w.worker.file))
    steps += symptom_steps((502,))
    eff = Effect(w.backend_routes, t0, t1, 0.97, (502,), on_fail, ramp=1.0)
    return Plan("cert_expiry", f"{B.name}'s TLS certificate expired at {not_after} (its renewal had failed); every "
                f"call to it fails the handshake; 502s", steps, recs + recs_w, [eff],
                symptom=f"502 on {', '.join(w.backend_routes)}")


def dns_failure(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    B, ns = w.backend, w.host("dns")
    recs: list[Rec] = []
    m1, m2 = _hex(rng, 32), _hex(rng, 32)
    recs.append(w.syslog(t0 - rng.uniform(40, 150), ns, "puppet-agent",
                         "(/Stage[main]/Dns::Forwarders/File[/etc/unbound/unbound.conf.d/forward.conf]/content) "
                         f"content changed '{{md5}}{m1}' to '{{md5}}{m2}'", tag="change"))
    pid = w.pid(ns, "unbound")
    for ts in [t0, *times(rng, t0 + 2, t1, rng.uniform(3, 9))]:
        recs.append(w.syslog(ts, ns, "unbound", f"[{pid}:0] error: SERVFAIL <{B.name}.internal. A IN>: all the "
                             "configured stub or forward servers failed, at zone internal.", tag="cause"))
    dns_ip = w.ips[ns]

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        return [_app_error(w, req, r, "upstream call failed",
                           f"dial tcp: lookup {B.name}.internal on {dns_ip}:53: server misbehaving")]

    for ts in times(rng, t0 + 20, t1, rng.uniform(25, 60)):
        recs.append(w.log(w.worker, ts, "error", f"Task sync_stock[{_hex(rng, 8)}] raised unexpected: gaierror",
                          exc=("socket.gaierror", "[Errno -3] Temporary failure in name resolution"), tag="w_err",
                          logger="celery.app.trace"))
    steps = [Step("change", "cause", "resolver forwarders changed by puppet", ("forward.conf]/content) content changed",),
                  "syslog", True),
             Step("cause", "cause", f"the resolver on {ns} fails every lookup in zone internal", ("SERVFAIL",), "syslog"),
             Step("app", "propagation", f"{w.app.name} cannot resolve {B.name}.internal", ("server misbehaving",), "app"),
             Step("w_err", "propagation", f"{w.worker.name} cannot resolve either",
                  ("gaierror",), w.worker.file),
             *symptom_steps((502,))]
    eff = Effect(w.backend_routes, t0 + 3, t1, rng.uniform(0.7, 0.95), (502,), on_fail, ramp=30)
    return Plan("dns_failure", f"a forwarder change on {ns} breaks resolution of zone internal; {w.app.name} cannot "
                f"resolve {B.name}.internal; 502s", steps, recs, [eff], symptom=f"502 on {', '.join(w.backend_routes)}")


def memory_leak_oom(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    B, bh = w.backend, w.host("backend")
    recs: list[Rec] = []
    span = max(t0 - w.start, 1.0)
    for ts in times(rng, w.start, t0 - 30, 9 * MIN):
        frac = (ts - w.start) / span
        used = int(900 + 2900 * frac)
        pause = int(15 + 900 * frac ** 3)
        recs.append(w.log(B, ts, "warn" if pause > 200 else "info", f"GC pause (G1 Evacuation Pause) {pause}ms, "
                          f"heap {used}M->{used - 40}M(4096M)", host=bh, logger="gc"))
    oom = ("Servlet.service() for servlet [dispatcherServlet] threw exception [Handler dispatch failed: "
           "java.lang.OutOfMemoryError: Java heap space] with root cause")
    recs.append(w.log(B, t0, "error", oom, exc=("java.lang.OutOfMemoryError", "Java heap space"), host=bh, tag="b_oom",
                      logger="org.apache.catalina.core.ContainerBase"))
    kill = t0 + rng.uniform(20, 60)
    jpid = w.pid(bh, "java")
    recs.append(w.syslog(kill, bh, "kernel", f"Out of memory: Killed process {jpid} (java) total-vm:{rng.randint(7, 9)}"
                         f"{rng.randint(100000, 999999)}kB, anon-rss:4{rng.randint(100000, 199999)}kB, file-rss:0kB, "
                         "shmem-rss:0kB, UID:998 pgtables:9120kB oom_score_adj:0", pid=False, tag="oom"))
    recs.append(w.syslog(kill + 0.3, bh, "systemd", f"{B.name}.service: Main process exited, code=killed, "
                         "status=9/KILL", pid=1, tag="killed"))
    recs.append(w.syslog(kill + 0.31, bh, "systemd", f"{B.name}.service: Failed with result 'oom-kill'.", pid=1,
                         tag="killed"))
    for ts in times(rng, kill + 60, t1, rng.uniform(4, 8) * MIN):  # restarted, leaks again quickly
        recs.append(w.syslog(ts, bh, "systemd", f"{B.name}.service: Scheduled restart job, restart counter is at "
                             f"{rng.randint(1, 5)}.", pid=1))
        recs.append(w.log(B, ts + 40, "error", oom, exc=("java.lang.OutOfMemoryError", "Java heap space"), host=bh,
                          tag="b_oom", logger="org.apache.catalina.core.ContainerBase"))
        recs.append(w.syslog(ts + 75, bh, "systemd", f"{B.name}.service: Main process exited, code=killed, "
                             "status=9/KILL", pid=1, tag="killed"))
    bip = B.ip

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        return [_app_error(w, req, r, "upstream call failed", f"dial tcp {bip}:8443: connect: connection refused")]

    steps = [Step("b_oom", "cause", f"{B.name} runs out of heap", ("OutOfMemoryError",), B.file),
             Step("oom", "cause", f"the kernel OOM-kills {B.name} on {bh}", ("Out of memory: Killed process",), "syslog"),
             Step("killed", "propagation", f"{B.name}.service dies", (f"{B.name}.service",), "syslog"),
             Step("app", "propagation", f"{w.app.name} cannot connect to {B.name}", ("connect: connection refused",), "app"),
             *symptom_steps((502, 503))]
    eff = Effect(w.backend_routes, kill, t1, rng.uniform(0.4, 0.6), (502, 503), on_fail, ramp=10)
    return Plan("memory_leak_oom", f"{B.name} leaks heap for hours (GC pauses grow), throws OutOfMemoryError and is "
                f"OOM-killed on {bh}; 502/503s", steps, recs, [eff],
                {"backend_heap_used_mb": lambda ts, base: (900 + 3150 * min(1.0, (ts - w.start) / span)) if ts < kill
                 else 600 + 400 * ((ts - kill) % 300) / 300},
                symptom=f"502/503 on {', '.join(w.backend_routes)}")


def config_push(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    A, B = w.app, w.backend
    recs: list[Rec] = []
    path = f"/etc/{A.name}/config.yaml"
    m1, m2 = _hex(rng, 32), _hex(rng, 32)
    tc = t0 - rng.uniform(30, 120)
    cls = "".join(p.capitalize() for p in A.name.split("-"))
    for i, h in enumerate(A.hosts):
        ts = tc + i * rng.uniform(5, 25)
        recs.append(w.syslog(ts, h, "puppet-agent", f"(/Stage[main]/{cls}::Config/File[{path}]/content) content "
                             f"changed '{{md5}}{m1}' to '{{md5}}{m2}'", tag="change"))
        recs.append(w.log(A, ts + 2, "info", f"configuration reloaded from {path}", host=h, tag="reload",
                          backend_url=f"http://{B.name}.internal:8081"))

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        return [_app_error(w, req, r, "upstream connect error", f"dial tcp {B.ip}:8081: connect: connection refused")]

    steps = [Step("change", "cause", f"puppet pushes a new {path}", (f"File[{path}]/content) content changed",),
                  "syslog", True),
             Step("reload", "cause", f"{A.name} reloads it with a wrong backend port", ("configuration reloaded",),
                  "app", True),
             Step("app", "propagation", f"{A.name} cannot connect to {B.name}", ("connect: connection refused",), "app"),
             *symptom_steps((503,))]
    eff = Effect(w.backend_routes, tc + 3, t1, 0.95, (503,), on_fail, ramp=30)
    return Plan("config_push", f"a configuration push changes {A.name}'s backend URL to a closed port; connection "
                "refused; 503s", steps, recs, [eff], symptom=f"503 on {', '.join(w.backend_routes)}")


def upstream_outage(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    A = w.app
    psp = rng.choice(("api.paygate-example.com", "api.stripe-mock.net", "pay.adyen-test.io", "gw.psp-example.org"))
    routes = (w.routes[2][1], w.routes[4][1])  # the POST routes: orders and their confirmation pay
    recs: list[Rec] = []
    for ts in times(rng, t0 + 90, t1, rng.uniform(120, 300)):
        recs.append(w.log(A, ts, "warn", f"circuit breaker payments opened after {rng.randint(10, 30)} consecutive "
                          "failures", tag="breaker"))

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        return [_app_error(w, req, r, "payment authorization failed",
                           f"POST https://{psp}/v1/charges: 503 Service Unavailable", tag="cause")]

    for ts in times(rng, t0 + 30, t1, rng.uniform(30, 90)):
        recs.append(w.log(w.worker, ts, "warn", f"Retrying task refund[{_hex(rng, 8)}] in 30s: HTTPError",
                          exc=("requests.exceptions.HTTPError", f"503 Server Error: Service Unavailable for url: "
                               f"https://{psp}/v1/refunds"), tag="w_err", logger="celery.app.trace"))
    steps = [Step("cause", "cause", f"the payment provider {psp} answers 503", (psp,), "app"),
             Step("breaker", "propagation", "the payments circuit breaker opens", ("circuit breaker payments opened",),
                  "app"),
             Step("w_err", "propagation", f"{w.worker.name}'s refunds fail too", ("Retrying task refund",),
                  w.worker.file),
             *symptom_steps((502,))]
    eff = Effect(routes, t0, t1, rng.uniform(0.6, 0.9), (502,), on_fail, ramp=60)
    return Plan("upstream_outage", f"the external payment provider {psp} is down (503); payments fail with 502",
                steps, recs, [eff], symptom=f"502 on {', '.join(routes)}")


def cron_lock_contention(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    B, db = w.backend, w.host("db")
    job = rng.choice(("reindex_orders", "vacuum_full_orders", "rebuild_order_stats"))
    recs: list[Rec] = []
    tc = float(int((t0 - 60) // 900) * 900)  # cron fires on a quarter hour
    t0 = tc + rng.uniform(20, 60)
    jpid = rng.randint(20000, 30000)
    recs.append(w.syslog(tc, db, "CRON", f"(postgres) CMD (/usr/local/bin/{job}.sh >> /var/log/{job}.log 2>&1)",
                         pid=rng.randint(1000, 9999), tag="change"))
    for i, ts in enumerate([t0, *times(rng, t0 + 2, t1, rng.uniform(4, 12))]):
        p = rng.randint(30000, 32000)
        recs.append(w.syslog(ts, db, "postgres", f"[{i + 5}-1] LOG:  process {p} still waiting for RowExclusiveLock "
                             f"on relation 16412 of database 16401 after 1000.{rng.randint(100, 999)} ms", tag="cause"))
        recs.append(w.syslog(ts + 0.001, db, "postgres", f"[{i + 5}-2] DETAIL:  Process holding the lock: {jpid}. "
                             f"Wait queue: {p}."))

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        out = []
        if r.random() < 0.6:
            em = "ERROR: canceling statement due to lock timeout"
            out.append(w.log(B, req.ts - 0.02, "error", f"Could not commit JPA transaction: {em}", tag="b_err",
                             exc=("org.postgresql.util.PSQLException", em) if r.random() < 0.2 else None,
                             logger=f"{B.package}.service.OrderService", trace_id=req.trace_id))
        out.append(_app_error(w, req, r, "upstream call failed", f"{B.name} returned 503 Service Unavailable"))
        return out

    steps = [Step("change", "cause", f"cron starts {job}.sh on {db}", (f"{job}.sh",), "syslog", True),
             Step("cause", "cause", f"{job} holds a lock on orders; writers wait", ("still waiting for RowExclusiveLock",),
                  "syslog"),
             Step("b_err", "propagation", f"{B.name} statements hit the lock timeout", ("due to lock timeout",), B.file),
             Step("app", "propagation", f"{w.app.name} gets 503 from {B.name}", (f"{B.name} returned 503",), "app"),
             *symptom_steps((503,))]
    eff = Effect(w.backend_routes, t0 + 5, t1, rng.uniform(0.5, 0.8), (503,), on_fail)
    return Plan("cron_lock_contention", f"a nightly cron job ({job}.sh) locks the orders table; {B.name} writes time out; "
                "503s", steps, recs, [eff], symptom=f"503 on {', '.join(w.backend_routes)}")


def network_partition(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    B, ch = w.backend, w.host("cache")
    nic = rng.choice(("eno2", "ens5f1", "eth1"))
    drv = rng.choice(("ixgbe 0000:03:00.1", "bnxt_en 0000:3b:00.1", "i40e 0000:18:00.1"))
    recs = [w.syslog(t0, ch, "kernel", f"{drv} {nic}: NIC Link is Down", pid=False, tag="cause"),
            w.syslog(t0 + 0.2, ch, "kernel", f"bond0: (slave {nic}): link status definitely down, disabling slave",
                     pid=False, tag="cause"),
            w.syslog(t1, ch, "kernel", f"{drv} {nic}: NIC Link is Up 10 Gbps, Flow Control: RX/TX", pid=False)]
    for ts in times(rng, t0 + 20, t1, rng.uniform(60, 180)):
        recs.append(w.syslog(ts, ch, "kernel", f"{drv} {nic}: NIC Link is Down", pid=False, tag="cause"))
    cache_ip = w.ips[ch]

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        out = []
        if r.random() < 0.6:
            em = "Command timed out after 2 second(s)"
            out.append(w.log(B, req.ts - 0.05, "error", f"Redis command failed on {cache_ip}:6379: {em}", tag="b_err",
                             exc=("io.lettuce.core.RedisCommandTimeoutException", em) if r.random() < 0.15 else None,
                             logger=f"{B.package}.cache.StockCache", trace_id=req.trace_id))
        out.append(_app_error(w, req, r, "upstream request failed", f"{B.name}: context deadline exceeded"))
        if r.random() < 0.5:
            out.append(w.nginx_error(req.ts, "error", "upstream timed out (110: Connection timed out) while reading "
                                     f"response header from upstream, client: {req.ip}, server: {w.domain}, "
                                     f'request: "{req.method} {req.path} HTTP/1.1", host: "{w.domain}"',
                                     tag="edge_err"))
        return out

    steps = [Step("cause", "cause", f"the cache host {ch} loses its network link", ("NIC Link is Down",
                                                                                      "link status definitely down"),
                  "syslog"),
             Step("b_err", "propagation", f"{B.name}'s Redis calls time out", ("Redis command failed",), B.file),
             Step("app", "propagation", f"{w.app.name} times out calling {B.name}", ("context deadline exceeded",), "app"),
             Step("edge_err", "propagation", "nginx times out on the upstream", ("upstream timed out",), "nginx_error"),
             *symptom_steps((504,))]
    eff = Effect(w.backend_routes, t0 + 4, t1, rng.uniform(0.5, 0.8), (504,), on_fail, latency_ms=5000)
    return Plan("network_partition", f"the cache host {ch} drops off the network (link down); {B.name}'s Redis calls "
                "time out; 504s", steps, recs, [eff], symptom=f"504 on {', '.join(w.backend_routes)}")


def rate_limit(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    ip = f"198.51.100.{rng.randint(2, 250)}"
    ua = f"partner-sync/{rng.randint(1, 4)}.{rng.randint(0, 9)} (+https://partner.example)"
    route = w.routes[0][1]
    zone = rng.choice(("api_limit", "per_server", "global_api"))
    gap = rng.uniform(0.3, 0.7)

    def flood():
        r = random.Random(int(t0))
        t = t0
        while t < t1:
            t += r.expovariate(1.0 / gap)
            limited = t > t0 + 45
            yield w.access(t, ip, "GET", f"{route}?page={r.randint(1, 4000)}", 503 if limited and r.random() < 0.7
                           else 200, 197, ua, r.uniform(0.001, 0.05), tag="cause")

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        return [w.nginx_error(req.ts, "error", f'limiting requests, excess: {r.uniform(10, 40):.3f} by zone "{zone}", '
                              f'client: {req.ip}, server: {w.domain}, request: "{req.method} {req.path} HTTP/1.1", '
                              f'host: "{w.domain}"', tag="edge_err")]

    api_routes = tuple(r[1] for r in w.routes if r[2] == "app")
    steps = [Step("cause", "cause", f"a partner client ({ua.split(' ')[0]}) floods {route}", ("partner-sync/",), "access"),
             Step("edge_err", "propagation", f"nginx rate limiting (zone {zone}) rejects requests", ("limiting requests",),
                  "nginx_error"),
             Step("symptom", "symptom", "everyone gets 503 at the edge", ('" 503 ',), "access")]
    eff = Effect(api_routes, t0 + 45, t1, rng.uniform(0.4, 0.6), (503,), on_fail, ramp=30, app_tag="")
    return Plan("rate_limit", f"a partner's sync client floods {route}; nginx's shared limit zone {zone} rejects "
                "everyone's requests with 503", steps, [], [eff],
                {"edge_requests_per_min": lambda ts, base: base + (60 / gap if t0 <= ts < t1 else 0.0)},
                symptom="503 on every API route", extra_streams=[flood()])


def cache_oom(w: World, rng: random.Random, t0: float, t1: float) -> Plan:
    A, W, ch = w.app, w.worker, w.host("cache")
    recs: list[Rec] = []
    for ts in [t0, *times(rng, t0 + 5, t1, rng.uniform(20, 60))]:
        recs.append(w.syslog(ts, ch, "redis-server", "Can't save in background: fork: Cannot allocate memory",
                             tag="cause"))
    misconf = ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
               "Commands that may modify the data set are disabled, because this instance is configured to report "
               "errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option).")

    def on_fail(req: Request, r: random.Random) -> list[Rec]:
        return [_app_error(w, req, r, "enqueue failed", misconf)]

    for ts in times(rng, t0 + 20, t1, rng.uniform(30, 90)):
        recs.append(w.log(W, ts, "error", f"consumer: Cannot connect to redis://{ch}:6379/0: {misconf[:60]}...",
                          tag="w_err", logger="celery.worker.consumer.consumer"))
    steps = [Step("cause", "cause", f"redis on {ch} cannot fork to save (out of memory)", ("fork: Cannot allocate memory",),
                  "syslog"),
             Step("app", "propagation", f"{A.name} cannot enqueue: redis refuses writes", ("MISCONF Redis",), "app"),
             Step("w_err", "propagation", f"{W.name} loses its broker", ("consumer: Cannot connect to redis",), W.file),
             *symptom_steps((503,))]
    eff = Effect(w.worker_routes, t0 + 8, t1, rng.uniform(0.7, 0.95), (503,), on_fail, ramp=30)
    span = max(t0 - w.start, 1.0)
    return Plan("cache_oom", f"redis on {ch} runs out of memory to fork its snapshot and stops accepting writes "
                f"(MISCONF); {A.name} cannot enqueue work; 503s", steps, recs, [eff],
                {"redis_used_memory_mb": lambda ts, base: 3000 + 1050 * min(1.0, (ts - w.start) / span) + base * 0.01},
                symptom=f"503 on {', '.join(w.worker_routes)}")


KINDS: dict[str, Callable[[World, random.Random, float, float], Plan]] = {
    "bad_deploy": bad_deploy,
    "db_pool_exhaustion": db_pool_exhaustion,
    "disk_full": disk_full,
    "cert_expiry": cert_expiry,
    "dns_failure": dns_failure,
    "memory_leak_oom": memory_leak_oom,
    "config_push": config_push,
    "upstream_outage": upstream_outage,
    "cron_lock_contention": cron_lock_contention,
    "network_partition": network_partition,
    "rate_limit": rate_limit,
    "cache_oom": cache_oom,
}


# --- red herrings ------------------------------------------------------------------------------------------------


@dataclass
class Herring:
    kind: str
    what: str
    phrases: tuple[str, ...]
    file: str
    host: str
    service: str
    records: list[Rec]
    extra_streams: list = field(default_factory=list)


def rh_ssh_bruteforce(w: World, rng: random.Random, t0: float, t1: float) -> Herring:
    h = w.host("bastion")
    ip = f"{rng.choice((45, 61, 103, 185, 218))}.{rng.randint(1, 250)}.{rng.randint(1, 250)}.{rng.randint(1, 250)}"
    recs = []
    for ts in times(rng, t0, t1, rng.uniform(0.6, 1.5)):
        u, port = rng.choice(USERS), rng.randint(30000, 65000)
        pid = rng.randint(10000, 30000)
        if rng.random() < 0.8:
            recs.append(w.syslog(ts, h, "sshd", f"Failed password for invalid user {u} from {ip} port {port} ssh2",
                                 pid=pid, tag="rh"))
        else:
            recs.append(w.syslog(ts, h, "sshd", f"error: maximum authentication attempts exceeded for invalid user {u} "
                                 f"from {ip} port {port} ssh2 [preauth]", pid=pid, tag="rh"))
    return Herring("ssh_bruteforce", f"ssh brute force from {ip} on {h}", ("Failed password for invalid user",
                   "maximum authentication attempts exceeded"), "syslog", h, "sshd", recs)


def rh_disk_io(w: World, rng: random.Random, t0: float, t1: float) -> Herring:
    h = w.host("backup")
    recs = []
    for ts in times(rng, t0, t1, rng.uniform(1.5, 4)):
        s = rng.randint(10**6, 10**9)
        x = rng.random()
        if x < 0.5:
            text, prog = f"blk_update_request: I/O error, dev sdc, sector {s} op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", "kernel"
        elif x < 0.9:
            text, prog = f"Buffer I/O error on dev sdc1, logical block {s // 8}, async page read", "kernel"
        else:
            text, prog = f"Device: /dev/sdc [SAT], {rng.randint(8, 200)} Currently unreadable (pending) sectors", "smartd"
        recs.append(w.syslog(ts, h, prog, text, pid=prog != "kernel", tag="rh"))
    return Herring("disk_io", f"a failing disk (sdc) on {h}", ("I/O error, dev sdc", "Buffer I/O error on dev sdc1",
                   "Currently unreadable"), "syslog", h, "kernel", recs)


def rh_indexer(w: World, rng: random.Random, t0: float, t1: float) -> Herring:
    h = w.host("idx")
    svc = Svc("search-indexer", "indexer", "go", "app", "json", (h,))
    recs = []
    for ts in times(rng, t0, t1, rng.uniform(0.8, 2.5)):
        recs.append(w.log(svc, ts, "error", "bulk indexing failed", host=h, tag="rh",
                          error="circuit_breaking_exception: [parent] Data too large, data for [<http_request>] would "
                          f"be larger than limit of [{rng.randint(1, 4)}073741824/1gb]", index="products_v7",
                          batch=rng.randint(1, 9999)))
    return Herring("indexer", f"search-indexer on {h} fails bulk indexing", ("circuit_breaking_exception",
                   "bulk indexing failed"), "app", h, "search-indexer", recs)


def rh_etl(w: World, rng: random.Random, t0: float, t1: float) -> Herring:
    h = w.host("etl")
    svc = Svc("report-builder", "etl", "python", "app", "json", (h,), "reports")
    recs = []
    for ts in times(rng, t0, t1, rng.uniform(2, 5)):
        recs.append(w.log(svc, ts, "error", "nightly report query failed", host=h, tag="rh",
                          exc=("psycopg2.OperationalError", 'connection to server at "analytics-db.internal" '
                               "(10.0.9.4), port 5432 failed: Connection refused"), report="daily_sales"))
    return Herring("etl", f"report-builder on {h} cannot reach analytics-db", ("analytics-db",), "app", h,
                   "report-builder", recs)


def rh_crawler(w: World, rng: random.Random, t0: float, t1: float) -> Herring:
    ip = f"{rng.choice((5, 45, 91, 193))}.{rng.randint(1, 250)}.{rng.randint(1, 250)}.{rng.randint(1, 250)}"
    paths = ("/wp-login.php", "/.env", "/.git/config", "/phpmyadmin/index.php", "/wp-admin/setup-config.php",
             "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/admin/.env", "/backup.zip")
    recs = []
    for ts in times(rng, t0, t1, rng.uniform(0.3, 0.9)):
        p = rng.choice(paths)
        recs.append(w.access(ts, ip, "GET", p, 404, 162, "Mozilla/5.0 zgrab/0.x", 0.001, tag="rh"))
        if rng.random() < 0.4:
            recs.append(w.nginx_error(ts, "error", f'open() "/usr/share/nginx/html{p}" failed (2: No such file or '
                                      f'directory), client: {ip}, server: {w.domain}, request: "GET {p} HTTP/1.1", '
                                      f'host: "{w.domain}"', tag="rh_err"))
    return Herring("crawler", f"a vulnerability scanner from {ip} probing for PHP files (404s)", paths, "access",
                   w.host("edge"), "nginx", recs)


def rh_desktop(w: World, rng: random.Random, t0: float, t1: float) -> Herring:
    h = w.host("ws")
    recs = []
    for ts in times(rng, t0, t1, rng.uniform(1, 3)):
        if rng.random() < 0.6:
            recs.append(w.syslog(ts, h, "gnome-shell", "JS ERROR: TypeError: this._settings is null", tag="rh"))
        else:
            recs.append(w.syslog(ts, h, "cupsd", f"[Job {rng.randint(100, 999)}] Unable to communicate with printer "
                                 "hp-laserjet-3f: Connection timed out", tag="rh"))
    return Herring("desktop", f"a desktop ({h}) loops on gnome-shell and printer errors", ("JS ERROR",
                   "Unable to communicate with printer"), "syslog", h, "gnome-shell", recs)


def rh_ci(w: World, rng: random.Random, t0: float, t1: float) -> Herring:
    h = w.host("ci")
    recs = []
    for ts in times(rng, t0, t1, rng.uniform(1.5, 4)):
        recs.append(w.syslog(ts, h, "dockerd", f'time="{iso_z(ts, ms=False)}" level=error msg="Handler for POST '
                             '/v1.43/containers/create returned error: failed to mount overlay: device or resource '
                             f'busy" spanID={_hex(rng, 16)}', tag="rh"))
    return Herring("ci", f"the CI runner {h} cannot create containers", ("containers/create returned error",),
                   "syslog", h, "dockerd", recs)


HERRINGS: dict[str, Callable[[World, random.Random, float, float], Herring]] = {
    "ssh_bruteforce": rh_ssh_bruteforce,
    "disk_io": rh_disk_io,
    "indexer": rh_indexer,
    "etl": rh_etl,
    "crawler": rh_crawler,
    "desktop": rh_desktop,
    "ci": rh_ci,
}
