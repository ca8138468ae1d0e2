"""Realistic multi-source incident folders with an answer key: `generate_incident(out, kind=..., seed=...)`.

A folder holds 5–7 sources over about four hours: RFC 3164 syslog without a year (sshd with brute-force noise,
CRON, systemd, kernel, cups, udev, gdm, postgres, redis), nginx access (combined) and error logs, JSON-lines logs of
the API (and of the Java backend / Python worker when they have no file of their own), a Java log with multi-line
stack traces, a Python log with tracebacks, and a `metrics.csv`. Hours of ordinary chatter already hold warnings,
retries, timeouts, handled stack traces, a benign deploy and a short benign 502 blip before the incident, so the
first error is not the answer; a loud unrelated red herring (sometimes starting within minutes of the incident)
sits on a host or service with no path to the symptom. One Java host in four has a clock off by 20–90 s.

Kinds (12): bad_deploy, db_pool_exhaustion, disk_full, cert_expiry, dns_failure, memory_leak_oom, config_push,
upstream_outage, cron_lock_contention, network_partition, rate_limit, cache_oom (lab.incidents.kinds). Red herrings
(7): ssh brute force, a failing disk, a search indexer, an ETL job, a vulnerability scanner, a desktop, a CI runner.

`answer.json` says what happened: kind, cause (phrases, file, lines), chain (ordered steps, each with its file and
line numbers), onset, red herring (phrases, file, lines), symptom. Line numbers are 1-based physical lines of the
entries' first lines. Everything is drawn from `random.Random` seeded by the arguments: same arguments, same bytes.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.incidents.kinds import HERRINGS, KINDS, MIN, Effect, Herring, Plan, Request, times
from lab.incidents.world import AGENTS, USERS, Rec, World, iso_z, make_world

__all__ = ["ANSWER", "LOGS", "KINDS", "HERRINGS", "generate_incident", "generate_incidents", "kind_for", "read_answer"]

ANSWER = "answer.json"
LOGS = "logs"  # the folder's logs live here; the answer key sits beside it
ANSWER_VERSION = 1
BASE_YEAR = 2026  # the newest year an incident is dated in (fixed, not the clock: same seed, same bytes)
LINES_PER_HOUR = 4200  # lines the chatter writes per hour at scale 1 (measured; scale = target / this / hours)
METRIC_STEP = 60.0


def kind_for(i: int) -> str:
    """The kind of the i-th folder of a batch: the kinds in turn."""
    names = list(KINDS)
    return names[i % len(names)]


def _start_time(rng: random.Random) -> tuple[float, int]:
    """A start time: most in BASE_YEAR or the year before; one in eight crosses New Year (year-less rollover)."""
    if rng.random() < 0.125:
        year = BASE_YEAR - 1
        d = datetime(year, 12, 31, 21, 0, tzinfo=UTC)
        return d.timestamp() + rng.uniform(0, 90 * MIN), year
    year = BASE_YEAR - (1 if rng.random() < 0.5 else 0)
    d = datetime(year, rng.randint(1, 11), rng.randint(1, 28), rng.randint(0, 19), tzinfo=UTC)
    return d.timestamp() + rng.uniform(0, 3600), year


# --- background chatter -------------------------------------------------------------------------------------------


def _poisson(rng: random.Random, t0: float, t1: float, per_hour: float) -> Iterator[float]:
    if per_hour <= 0:
        return
    t = t0
    gap = 3600.0 / per_hour
    while True:
        t += rng.expovariate(1.0 / gap)
        if t >= t1:
            return
        yield t


def _ext_ip(rng: random.Random) -> str:
    return f"{rng.choice((23, 45, 61, 89, 103, 141, 159, 185, 194, 212, 218))}.{rng.randint(1, 254)}." \
           f"{rng.randint(1, 254)}.{rng.randint(1, 254)}"


def _syslog_chatter(w: World, seed: str, scale: float) -> Iterator[Rec]:
    rng = random.Random(seed + ":syslog")
    hosts = [h for hs in w.hosts.values() for h in hs]
    servers = [h for r, hs in w.hosts.items() if r not in ("ws",) for h in hs]
    ws = w.host("ws")
    bastion = w.host("bastion")
    db, cache = w.host("db"), w.host("cache")
    prefix = [0]

    def pg(msg: str) -> str:
        prefix[0] += 1
        return f"[{prefix[0]}-1] {msg}"

    choices: list[tuple[float, Any]] = [
        (40, lambda t: w.syslog(t, rng.choice((bastion, *servers[:4])), "sshd",
                                f"Failed password for {'invalid user ' if rng.random() < 0.7 else ''}"
                                f"{rng.choice(USERS)} from {_ext_ip(rng)} port {rng.randint(30000, 65000)} ssh2",
                                pid=rng.randint(2000, 60000))),
        (25, lambda t: w.syslog(t, bastion, "sshd", f"Connection closed by authenticating user root {_ext_ip(rng)} "
                                f"port {rng.randint(30000, 65000)} [preauth]", pid=rng.randint(2000, 60000))),
        (12, lambda t: w.syslog(t, rng.choice(servers), "sshd", f"Accepted publickey for deploy from 10.0.0.{rng.randint(2, 9)} "
                                f"port {rng.randint(30000, 65000)} ssh2: ED25519 SHA256:{rng.getrandbits(64):x}",
                                pid=rng.randint(2000, 60000))),
        (12, lambda t: w.syslog(t, rng.choice(servers), "systemd-logind", f"New session {rng.randint(100, 9999)} of "
                                "user deploy.")),
        (20, lambda t: w.syslog(t, rng.choice(servers), "systemd", rng.choice((
            f"Started Session c{rng.randint(1, 900)} of User root.",
            "Starting Daily apt download activities...", "Finished Daily apt download activities.",
            "logrotate.service: Deactivated successfully.", "Starting Cleanup of Temporary Directories...",
            "Finished Cleanup of Temporary Directories.", "Started Daily man-db regeneration.",
            "motd-news.service: Deactivated successfully.")), pid=1)),
        (60, lambda t: w.syslog(t, rng.choice((w.host("edge"), bastion)), "kernel",
                                f"[UFW BLOCK] IN=eth0 OUT= MAC=00:16:3e:{rng.randint(16, 99)}:{rng.randint(10, 99)}:01 "
                                f"SRC={_ext_ip(rng)} DST=10.0.0.{rng.randint(2, 9)} LEN=40 TOS=0x00 PREC=0x00 TTL="
                                f"{rng.randint(40, 250)} ID={rng.randint(1, 65000)} PROTO=TCP SPT={rng.randint(1024, 65000)} "
                                f"DPT={rng.choice((23, 22, 3389, 5900, 8080, 2375))} WINDOW=1024 RES=0x00 SYN URGP=0",
                                pid=False)),
        (0.6, lambda t: w.syslog(t, w.host("edge"), "kernel", "TCP: request_sock_TCP: Possible SYN flooding on port "
                                 "443. Sending cookies.  Check SNMP counters.", pid=False)),
        (8, lambda t: w.syslog(t, ws, "gdm-password]", "gkr-pam: unable to locate daemon control file")),
        (6, lambda t: w.syslog(t, ws, "gnome-shell", rng.choice((
            "Window manager warning: Buggy client sent a _NET_ACTIVE_WINDOW message with a timestamp of 0",
            "libinput error: event7  - SynPS/2 Synaptics TouchPad: kernel bug: Touch jump detected and discarded.",
            "meta_window_set_stack_position_no_sync: assertion 'window->stack_position >= 0' failed")))),
        (5, lambda t: w.syslog(t, ws, "cupsd", rng.choice((
            "Unable to open listen socket for address [v1.::1]:631 - Cannot assign requested address.",
            "REQUEST localhost - - \"POST / HTTP/1.1\" 200 183 Renew-Subscription successful-ok",
            "Expiring subscriptions...")))),
        (3, lambda t: w.syslog(t, ws, "cups-browsed", "Printer hp-laserjet-3f not found, removing queue")),
        (10, lambda t: w.syslog(t, rng.choice(servers), "systemd-udevd",
                                f"veth{rng.getrandbits(28):07x}: Could not generate persistent MAC: No data available")),
        (2, lambda t: w.syslog(t, rng.choice(servers), "systemd-udevd", "Using default interface naming scheme 'v249'.")),
        (1.2, lambda t: w.syslog(t, rng.choice(servers), "rsyslogd", "action 'action-0-builtin:omfwd' suspended (module "
                                 "'builtin:omfwd'), retry 0. There should be messages before this one giving the reason "
                                 "for suspension. [v8.2112.0 try https://www.rsyslog.com/e/2007 ]")),
        (1.2, lambda t: w.syslog(t, rng.choice(servers), "rsyslogd", "action 'action-0-builtin:omfwd' resumed (module "
                                 "'builtin:omfwd') [v8.2112.0 try https://www.rsyslog.com/e/2359 ]")),
        (3, lambda t: w.syslog(t, rng.choice(hosts), "systemd-timesyncd", "Initial synchronization to time server "
                               f"10.0.0.{rng.randint(2, 4)}:123 (ntp.internal).")),
        (4, lambda t: w.syslog(t, rng.choice(servers), "dhclient", f"DHCPREQUEST for {w.ips.get(rng.choice(servers), '10.0.0.5')} "
                               "on eth0 to 10.0.0.1 port 67")),
        (6, lambda t: w.syslog(t, db, "postgres", pg(f"LOG:  duration: {rng.uniform(1000, 4000):.3f} ms  statement: "
                               "SELECT * FROM customers WHERE lower(email) = lower($1)"))),
        (3, lambda t: w.syslog(t, db, "postgres", pg('ERROR:  duplicate key value violates unique constraint '
                               '"orders_idempotency_key_key"'))),
        (1, lambda t: w.syslog(t, db, "postgres", pg('FATAL:  password authentication failed for user "metabase"'))),
        (1.5, lambda t: w.syslog(t, db, "postgres", pg("LOG:  could not receive data from client: Connection reset "
                                 "by peer"))),
        (1.5, lambda t: w.syslog(t, rng.choice(servers[:6]), "kernel", f"perf: interrupt took too long "
                                 f"({rng.randint(2501, 4000)} > 2500), lowering kernel.perf_event_max_sample_rate to "
                                 f"{rng.randint(40000, 79000)}", pid=False)),
        (2, lambda t: w.syslog(t, rng.choice(servers), "snapd", "storehelpers.go:769: cannot refresh snap \"lxd\": snap "
                               "has running apps (lxc), pid: 2021")),
    ]
    weights = [c[0] for c in choices]
    total = sum(weights) * scale
    streams: list[Iterator[Rec]] = [(choices_pick(rng, choices, weights)(t) for t in _poisson(rng, w.start, w.end, total))]
    # Scheduled jobs: their times do not scale with volume.
    sched: list[Rec] = []
    t = math.ceil(w.start / 300) * 300
    while t < w.end:
        minute = int(t // 60) % 60
        for h in (db, *w.hosts["app"][:1], w.host("edge")):
            if minute % 10 == 0:
                sched.append(w.syslog(t + 0.5, h, "CRON", "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
                                      pid=rng.randint(1000, 60000)))
        sched.append(w.syslog(t + 1, db, "postgres", pg("LOG:  checkpoint starting: time")))
        sched.append(w.syslog(t + rng.uniform(20, 140), db, "postgres", pg(
            f"LOG:  checkpoint complete: wrote {rng.randint(100, 4000)} buffers ({rng.uniform(0.1, 9):.1f}%); 0 WAL "
            f"file(s) added, 0 removed, {rng.randint(0, 3)} recycled; write={rng.uniform(10, 200):.3f} s")))
        sched.append(w.syslog(t + 2, cache, "redis-server", "Background saving started by pid "
                              f"{rng.randint(1000, 9000)}"))
        sched.append(w.syslog(t + 3.5, cache, "redis-server", "Background saving terminated with success"))
        if minute == 15:
            for h in servers:
                sched.append(w.syslog(t + 2 + rng.random(), h, "CRON",
                                      "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
                                      pid=rng.randint(1000, 60000)))
        t += 300
    sched.sort(key=lambda r: r.ts)
    streams.append(iter(sched))
    # Brute-force episodes and a benign reboot-ish restart: noise that looks like trouble.
    eps: list[Rec] = []
    for _ in range(rng.randint(1, 3)):
        s = rng.uniform(w.start, w.end - 900)
        ip = _ext_ip(rng)
        for t in times(rng, s, s + rng.uniform(120, 500), rng.uniform(1.5, 4)):
            eps.append(w.syslog(t, bastion, "sshd", f"Invalid user {rng.choice(USERS)} from {ip} port "
                                f"{rng.randint(30000, 65000)}", pid=rng.randint(2000, 60000)))
    eps.sort(key=lambda r: r.ts)
    streams.append(iter(eps))
    yield from heapq.merge(*streams, key=lambda r: r.ts)


def choices_pick(rng: random.Random, choices: list[tuple[float, Any]], weights: list[float]):
    cum = []
    acc = 0.0
    for x in weights:
        acc += x
        cum.append(acc)
    import bisect

    def pick(t: float) -> Rec:
        return choices[bisect.bisect_left(cum, rng.random() * acc)][1](t)

    return pick


def _service_chatter(w: World, seed: str, scale: float) -> Iterator[Rec]:
    """The API's, the backend's and the worker's own chatter (requests are separate)."""
    rng = random.Random(seed + ":svc")
    A, B, W = w.app, w.backend, w.worker
    choices: list[tuple[float, Any]] = [
        (20, lambda t: w.log(A, t, "info", "feature flags refreshed", flags=rng.randint(20, 40), source="consul")),
        (8, lambda t: w.log(A, t, "warn", "slow request", route=rng.choice(w.routes[:6])[1],
                            latency_ms=rng.randint(1500, 4000), threshold_ms=1000)),
        (5, lambda t: w.log(A, t, "warn", f"retrying call to {B.name} (attempt 2/3)",
                            error=f"{B.name}: context deadline exceeded", backoff_ms=200)),
        (2, lambda t: w.log(A, t, "error", "failed to publish event", error="kafka: client has run out of available "
                            "brokers to talk to: dial tcp 10.0.7.3:9092: i/o timeout", topic="orders.events")),
        (2, lambda t: w.log(A, t, "info", "publisher reconnected", topic="orders.events")),
        (60, lambda t: w.log(B, t, "info", f"Processed reservation for sku={rng.randint(10000, 99999)} in "
                             f"{rng.randint(3, 90)} ms", logger=f"{B.package}.service.StockService")),
        (12, lambda t: w.log(B, t, "info", f"HikariPool-1 - Pool stats (total=20, active={rng.randint(1, 6)}, "
                             f"idle={rng.randint(14, 19)}, waiting=0)", logger="com.zaxxer.hikari.pool.HikariPool")),
        (10, lambda t: w.log(B, t, "info", f"GC pause (G1 Evacuation Pause) {rng.randint(8, 40)}ms, heap "
                             f"{rng.randint(700, 1100)}M->{rng.randint(400, 690)}M(4096M)", logger="gc")),
        (5, lambda t: w.log(B, t, "warn", f"Slow query detected ({rng.randint(1000, 3000)} ms): select i from Item i "
                            "where i.sku in :skus", logger=f"{B.package}.repository.ItemRepository")),
        (2, lambda t: w.log(B, t, "warn", "Retrying reservation after optimistic lock failure",
                            exc=("org.springframework.orm.ObjectOptimisticLockingFailureException",
                                 "Row was updated or deleted by another transaction"),
                            logger=f"{B.package}.service.StockService")),
        (1, lambda t: w.log(B, t, "error", "Failed to flush metrics to statsd:8125",
                            exc=("java.net.PortUnreachableException", "ICMP Port Unreachable"),
                            logger="io.micrometer.statsd.StatsdMeterRegistry")),
        (40, lambda t: w.log(W, t, "info", f"Task send_email[{rng.getrandbits(64):016x}] succeeded in "
                             f"{rng.uniform(0.05, 2):.3f}s: None", logger="celery.app.trace")),
        (40, lambda t: w.log(W, t, "info", f"Task send_email[{rng.getrandbits(64):016x}] received",
                             logger="celery.worker.strategy")),
        (2, lambda t: w.log(W, t, "warn", f"Retrying task send_email[{rng.getrandbits(64):016x}] in 30s: "
                            "SMTPServerDisconnected", exc=("smtplib.SMTPServerDisconnected",
                                                           "Connection unexpectedly closed"), logger="celery.app.trace")),
        (0.6, lambda t: w.log(W, t, "error", f"Task export_csv[{rng.getrandbits(64):016x}] raised unexpected: "
                              "TimeoutError", exc=("TimeoutError", "The read operation timed out"),
                              logger="celery.app.trace")),
    ]
    weights = [c[0] for c in choices]
    pick = choices_pick(rng, choices, weights)
    for t in _poisson(rng, w.start, w.end, sum(weights) * scale):
        yield pick(t)


def _nginx_chatter(w: World, seed: str, scale: float) -> Iterator[Rec]:
    rng = random.Random(seed + ":nginx")
    choices: list[tuple[float, Any]] = [
        (6, lambda t: w.nginx_error(t, "warn", f"an upstream response is buffered to a temporary file "
                                    f"/var/cache/nginx/proxy_temp/{rng.randint(1, 9)}/{rng.randint(10, 99)}/"
                                    f"00000{rng.randint(10000, 99999)} while reading upstream, client: {_ext_ip(rng)}, "
                                    f'server: {w.domain}, request: "GET {w.routes[0][1]}?page={rng.randint(1, 80)} '
                                    f'HTTP/1.1", host: "{w.domain}"')),
        (5, lambda t: w.nginx_error(t, "error", f'open() "/usr/share/nginx/html/apple-touch-icon.png" failed (2: No '
                                    f"such file or directory), client: {_ext_ip(rng)}, server: {w.domain}, request: "
                                    f'"GET /apple-touch-icon.png HTTP/1.1", host: "{w.domain}"')),
        (1, lambda t: w.nginx_error(t, "error", "upstream prematurely closed connection while reading response header "
                                    f"from upstream, client: {_ext_ip(rng)}, server: {w.domain}, request: "
                                    f'"GET {w.routes[5][1]} HTTP/1.1", host: "{w.domain}"')),
        (0.5, lambda t: w.nginx_error(t, "warn", f"upstream server temporarily disabled while connecting to upstream, "
                                      f"client: {_ext_ip(rng)}, server: {w.domain}")),
        (1, lambda t: w.nginx_error(t, "info", f"client {_ext_ip(rng)} closed keepalive connection (104: Connection "
                                    "reset by peer)")),
    ]
    weights = [c[0] for c in choices]
    pick = choices_pick(rng, choices, weights)
    for t in _poisson(rng, w.start, w.end, sum(weights) * scale):
        yield pick(t)


@dataclass
class _Buckets:
    start: float
    n: int

    def __post_init__(self) -> None:
        self.req = [0] * self.n
        self.err = [0] * self.n
        self.lat = [0.0] * self.n

    def add(self, ts: float, status: int, latency: float) -> None:
        i = min(self.n - 1, max(0, int((ts - self.start) // METRIC_STEP)))
        self.req[i] += 1
        self.lat[i] += latency
        if status >= 500:
            self.err[i] += 1


def _requests(w: World, seed: str, scale: float, effects: list[Effect], buckets: _Buckets) -> Iterator[Rec]:
    rng = random.Random(seed + ":req")
    A = w.app
    rate = 2200 * scale  # requests per hour
    clients = [_ext_ip(rng) for _ in range(300)]
    lb_ip = f"10.0.0.{rng.randint(2, 9)}"
    weights = [18, 14, 6, 10, 4, 8, 8, 6, 20, 2]
    cum, acc = [], 0
    for x in weights:
        acc += x
        cum.append(acc)
    import bisect

    blip = rng.uniform(w.start + 20 * MIN, w.start + 100 * MIN)  # a benign rolling-restart blip of 502s
    for t in _poisson(rng, w.start, w.end, rate):
        method, route, kind = w.routes[bisect.bisect_left(cum, rng.random() * acc)]
        if kind == "health":
            ip, ua = lb_ip, "kube-probe/1.29"
        else:
            ip, ua = clients[int(rng.paretovariate(1.2)) % len(clients)], rng.choice(AGENTS)
        path = route.replace("{id}", str(rng.randint(1000, 99999)) if kind == "app" else f"{rng.getrandbits(32):08x}")
        req = Request(t, method, route, path, ip, ua, f"{rng.getrandbits(64):016x}")
        req.latency_ms = rng.lognormvariate(3.3, 0.7) if kind == "app" else rng.uniform(0.2, 3)
        x = rng.random()
        req.status = 201 if method == "POST" else 200
        if kind == "app":
            if x < 0.03:
                req.status = rng.choice((400, 401, 404, 404, 409, 422))
            elif x < 0.0325:
                req.status = rng.choice((500, 502))
        elif kind == "static" and x < 0.01:
            req.status = 404
        extra: list[Rec] = []
        tag = None
        app_tag: str | None = None
        if kind == "app" and blip <= t < blip + 40 and rng.random() < 0.5:
            req.status = 502
            extra.append(w.nginx_error(t, "error", "upstream prematurely closed connection while reading response "
                                       f"header from upstream, client: {ip}, server: {w.domain}, request: "
                                       f'"{method} {path} HTTP/1.1", host: "{w.domain}"'))
        for e in effects:
            if route in e.routes and rng.random() < e.p(t):
                req.status = rng.choice(e.statuses)
                req.latency_ms += e.latency_ms * rng.uniform(0.5, 1.0)
                extra.extend(e.on_fail(req, rng))
                tag, app_tag = e.tag, e.app_tag
                break
        buckets.add(t, req.status, req.latency_ms)
        for r in sorted(extra, key=lambda r: r.ts):
            r.ts = min(r.ts, t)
            yield r
        if kind == "app" and app_tag != "":
            lvl = "error" if req.status >= 500 else ("warn" if req.status >= 400 else "info")
            yield w.log(A, t, lvl, "request completed", tag=app_tag, method=method, route=route, status=req.status,
                        latency_ms=round(req.latency_ms, 1), trace_id=req.trace_id,
                        user_agent=None if rng.random() < 0.7 else ua.split(" ")[0])
        yield w.access(t, ip, method, path, req.status, rng.randint(200, 9000) if req.status < 400 else 157, ua,
                       req.latency_ms / 1000, tag=tag)


def _benign_deploy(w: World, rng: random.Random, before: float) -> list[Rec]:
    """A deploy of the worker an hour or two before the incident, that breaks nothing."""
    W = w.worker
    t = before - rng.uniform(60, 140) * MIN
    if t < w.start + 5 * MIN:
        t = w.start + 5 * MIN
    ver = f"{rng.randint(1, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    h = w.host("worker")
    return [w.syslog(t, h, "deployd", f"deploying {W.name} {ver} (build {rng.getrandbits(28):07x}) requested by "
                     "ci-pipeline"),
            w.syslog(t + 2, h, "systemd", f"Stopping {W.name}.service - {W.name}...", pid=1),
            w.syslog(t + 5, h, "systemd", f"Started {W.name}.service - {W.name}.", pid=1),
            w.log(W, t + 9, "info", f"celery@{h} ready.", logger="celery.apps.worker")]


def _early_trouble(w: World, rng: random.Random, before: float) -> list[Rec]:
    """Handled stack traces and errors well before the incident, whatever the volume: the first error is noise."""
    A, B, W = w.app, w.backend, w.worker
    out = []
    for _ in range(2):
        t = rng.uniform(w.start + 2 * MIN, before - 15 * MIN)
        out.append(w.log(B, t, "warn", "Retrying reservation after optimistic lock failure",
                         exc=("org.springframework.orm.ObjectOptimisticLockingFailureException",
                              "Row was updated or deleted by another transaction"),
                         logger=f"{B.package}.service.StockService"))
        t = rng.uniform(w.start + 2 * MIN, before - 15 * MIN)
        out.append(w.log(W, t, "warn", f"Retrying task send_email[{rng.getrandbits(64):016x}] in 30s: "
                         "SMTPServerDisconnected", exc=("smtplib.SMTPServerDisconnected", "Connection unexpectedly closed"),
                         logger="celery.app.trace"))
        t = rng.uniform(w.start + 2 * MIN, before - 15 * MIN)
        out.append(w.log(A, t, "error", "failed to publish event", error="kafka: client has run out of available "
                         "brokers to talk to: dial tcp 10.0.7.3:9092: i/o timeout", topic="orders.events"))
    return out


# --- the folder ----------------------------------------------------------------------------------------------------


def _metrics(w: World, plan: Plan, buckets: _Buckets, rng: random.Random, path: Path, epoch: bool) -> int:
    names = ["edge_requests_per_min", "edge_5xx_per_min", "api_latency_ms_avg", "db_connections_active",
             "backend_heap_used_mb", "disk_used_pct_db", f"cpu_pct_{w.host('bastion')}", f"cpu_pct_{w.host('backend')}"]
    for extra in plan.metrics:
        if extra not in names:
            names.append(extra)
    rows = [",".join(["timestamp", *names])]
    for i in range(buckets.n):
        ts = w.start + i * METRIC_STEP
        n = buckets.req[i]
        base = {
            "edge_requests_per_min": float(n), "edge_5xx_per_min": float(buckets.err[i]),
            "api_latency_ms_avg": buckets.lat[i] / n if n else 0.0,
            "db_connections_active": rng.uniform(8, 22), "backend_heap_used_mb": rng.uniform(700, 1200),
            "disk_used_pct_db": 71 + 0.3 * math.sin(i / 40) + rng.uniform(0, 0.2),
            f"cpu_pct_{w.host('bastion')}": rng.uniform(2, 9), f"cpu_pct_{w.host('backend')}": rng.uniform(15, 35),
            "backend_error_rate": rng.uniform(0, 0.01), "db_slow_queries_per_min": float(rng.random() < 0.1),
        }
        vals = []
        for name in names:
            v = base.get(name, 0.0)
            f = plan.metrics.get(name)
            if f is not None:
                v = f(ts, v)
            vals.append(f"{v:.2f}")
        stamp = str(int(ts)) if epoch else iso_z(ts, ms=False)
        rows.append(",".join([stamp, *vals]))
    path.write_text("\n".join(rows) + "\n")
    return len(rows)


def generate_incident(out: str | Path, *, kind: str | None = None, seed: int = 0, lines: int | None = None,
                      herring: str | None = None, java: bool | None = None, python: bool | None = None
                      ) -> dict[str, Any]:
    """Write one incident folder at `out` and return its answer key.

    The logs go to `out/logs/` (what a user would point sleuth at) and the key to `out/answer.json` beside them,
    so that auditing the logs folder never reads the answer. File names in the key are relative to `out/logs/`.

    Args:
        out: The folder to create (its files are overwritten).
        kind: One of `KINDS` (default: drawn from the seed).
        seed: Everything is drawn from it.
        lines: About how many lines in all (default: drawn between 10k and 24k). Chatter scales with it; the
            incident does not, so a million-line folder holds the same incident in far more chatter.
        herring: One of `HERRINGS` (default: drawn from the seed).
        java, python: Whether the backend / worker get a Java / Python log of their own (default: drawn; without,
            they log JSON lines into the API's file).

    Raises:
        ValueError: For an unknown kind or herring.
    """
    rng = random.Random(f"incident:{seed}:{kind}")
    if kind is None:
        kind = rng.choice(list(KINDS))
    if kind not in KINDS:
        raise ValueError(f"unknown incident kind {kind!r}; choose one of: {', '.join(KINDS)}")
    if herring is not None and herring not in HERRINGS:
        raise ValueError(f"unknown red herring {herring!r}; choose one of: {', '.join(HERRINGS)}")
    seed_s = f"{seed}:{kind}"
    start, year = _start_time(rng)
    hours = rng.uniform(3.6, 4.4)
    end = start + hours * 3600
    target = lines if lines is not None else rng.randint(10_000, 24_000)
    scale = max(0.05, target / (LINES_PER_HOUR * hours))
    with_java, with_python = rng.random() < 0.75, rng.random() < 0.6
    w = make_world(rng, start, end, year, with_java=with_java if java is None else java,
                   with_python=with_python if python is None else python)

    if "backend" in w.files and rng.random() < 0.25:  # the Java host's clock is off by up to 90 s
        w.skew["backend"] = rng.choice((-1, 1)) * rng.uniform(20, 90)
    t0 = start + rng.uniform(0.55, 0.82) * (end - start)
    t1 = min(end - 2 * MIN, t0 + rng.uniform(20, 50) * MIN)
    plan = KINDS[kind](w, rng, t0, t1)

    # The red herring: loud, on a host/service with no path to the symptom, sometimes starting near the onset.
    names = [h for h in HERRINGS if not (kind == "rate_limit" and h == "crawler")]
    rh_name = herring or rng.choice(names)
    if rng.random() < 0.45:
        rs = t0 + rng.uniform(-9, 3) * MIN
    else:
        rs = t0 - rng.uniform(40, 150) * MIN
    rs = max(start + 5 * MIN, rs)
    re_ = min(end - MIN, rs + rng.uniform(6, 20) * MIN)
    rh: Herring = HERRINGS[rh_name](w, rng, rs, re_)

    root = Path(out)
    out = root / LOGS
    out.mkdir(parents=True, exist_ok=True)
    static = sorted(plan.records + rh.records + _benign_deploy(w, rng, t0) + _early_trouble(w, rng, t0),
                    key=lambda r: r.ts)
    buckets = _Buckets(start, int(math.ceil((end - start) / METRIC_STEP)))
    streams = [_syslog_chatter(w, seed_s, scale), _service_chatter(w, seed_s, scale),
               _nginx_chatter(w, seed_s, scale), _requests(w, seed_s, scale, plan.effects, buckets), iter(static),
               *plan.extra_streams, *rh.extra_streams]
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}
    tagged: dict[str, dict[str, list[int]]] = {}
    first_ts: dict[str, float] = {}
    try:
        for fk, rel in w.files.items():
            if fk == "metrics":
                continue
            p = out / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            handles[fk] = open(p, "w", encoding="utf-8", newline="\n", buffering=1 << 20)  # noqa: SIM115
            counts[fk] = 0
        for rec in heapq.merge(*streams, key=lambda r: r.ts):
            if rec.ts >= end:
                continue
            fk = rec.file if rec.file in handles else "app"
            n = counts[fk] + 1
            counts[fk] = n + len(rec.lines) - 1
            handles[fk].write("\n".join(rec.lines) + "\n")
            if rec.tag:
                tagged.setdefault(rec.tag, {}).setdefault(fk, []).append(n)
                first_ts.setdefault(rec.tag, rec.ts)
    finally:
        for h in handles.values():
            h.close()
    counts["metrics"] = _metrics(w, plan, buckets, random.Random(seed_s + ":metrics"), out / w.files["metrics"],
                                 epoch=rng.random() < 0.3)
    if rng.random() < 0.5:  # collected logs keep their mtime half the time (year inference from mtime)
        for rel in w.files.values():
            os.utime(out / rel, (end, end))

    answer = _answer(w, plan, rh, tagged, first_ts, counts, kind, seed, rh_name)
    (root / ANSWER).write_text(json.dumps(answer, indent=1) + "\n")
    return answer


def _answer(w: World, plan: Plan, rh: Herring, tagged: dict[str, dict[str, list[int]]], first_ts: dict[str, float],
            counts: dict[str, int], kind: str, seed: int, rh_name: str) -> dict[str, Any]:
    def fkey(step_file: str) -> str:
        return step_file if step_file in w.files and step_file != "metrics" else "app"

    chain = []
    for st in plan.steps:
        fk = fkey(st.file)
        lines = tagged.get(st.tag, {}).get(fk, [])
        if not lines:
            continue
        chain.append({"step": st.tag, "role": st.role, "what": st.what, "change": st.change, "early": st.early,
                      "file": w.files[fk], "lines": lines, "phrases": list(st.phrases),
                      "first": iso_z(first_ts[st.tag])})
    causes = [c for c in chain if c["role"] == "cause"]
    failing = [first_ts[s.tag] for s in plan.steps if not (s.change or s.early) and s.tag in first_ts]
    onset = min(failing)
    rh_lines = {w.files[fk]: ls for tag in ("rh", "rh_err") for fk, ls in tagged.get(tag, {}).items()}
    rh_file = w.files[fkey(rh.file)]
    sym = [c for c in chain if c["role"] == "symptom"]
    return {
        "version": ANSWER_VERSION,
        "kind": kind,
        "seed": seed,
        "summary": plan.summary,
        "year": w.year,
        "start": iso_z(w.start), "end": iso_z(w.end),
        "onset": iso_z(onset),
        "cause": {
            "phrases": [p for c in causes for p in c["phrases"]],
            "file": causes[0]["file"], "lines": causes[0]["lines"],
            "locations": [{"file": c["file"], "lines": c["lines"], "step": c["step"]} for c in causes],
        },
        "changed_before": [{"file": c["file"], "lines": c["lines"], "phrases": c["phrases"]}
                           for c in chain if c["change"]],
        "chain": chain,
        "symptom": {"text": plan.symptom, "file": sym[-1]["file"], "lines": sym[-1]["lines"]} if sym else None,
        "red_herring": {"kind": rh_name, "what": rh.what, "phrases": list(rh.phrases), "file": rh_file,
                        "lines": rh_lines.get(rh_file, []), "host": rh.host, "service": rh.service,
                        "locations": [{"file": f, "lines": ls} for f, ls in rh_lines.items()],
                        "start": iso_z(min(r.ts for r in rh.records)) if rh.records else None},
        "files": {fk: w.files[fk] for fk in w.files if fk in counts},
        "lines": {w.files[fk]: n for fk, n in counts.items()},
        "total_lines": sum(counts.values()),
        "hosts": {role: list(hs) for role, hs in w.hosts.items()},
        "clock_skew_s": {w.files[fk]: round(v, 1) for fk, v in w.skew.items()},
        "services": {"app": w.app.name, "backend": w.backend.name, "worker": w.worker.name},
    }


def generate_incidents(out: str | Path, n: int | None = None, *, seed: int = 0, kind: str | None = None,
                       lines: int | None = None, progress=None) -> list[tuple[Path, dict[str, Any]]]:
    """Write `n` folders (default: two per kind) under `out` as `NN-kind/`; kinds in turn unless `kind` is given."""
    n = 2 * len(KINDS) if n is None else n
    out = Path(out)
    made = []
    for i in range(n):
        k = kind or kind_for(i)
        folder = out / f"{i:02d}-{k}"
        made.append((folder, generate_incident(folder, kind=k, seed=seed * 1000 + i, lines=lines)))
        if progress:
            progress(i + 1, n, folder)
    return made


def read_answer(folder: str | Path) -> dict[str, Any]:
    """The answer key of a folder.

    Raises:
        FileNotFoundError / ValueError: With a message naming the file, when it is missing or not a key.
    """
    p = Path(folder) / ANSWER
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no answer key; generate folders with `sleuth generate --incidents N --out DIR`")
    try:
        data = json.loads(p.read_text())
    except ValueError as e:
        raise ValueError(f"{p}: not JSON ({e}); regenerate the folder") from None
    if not isinstance(data, dict) or "cause" not in data or "chain" not in data:
        raise ValueError(f"{p}: not an incident answer key (no cause/chain); regenerate the folder")
    return data
