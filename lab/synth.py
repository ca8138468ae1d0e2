"""Deterministic synthetic logs and metrics with an injected incident, plus the truth to score an audit against.

The logs are a small fleet's chatter (api, auth, db, worker, scheduler, cache, storage and a node agent on nine
hosts) with realistic templates and variable fields, periodic jobs, and benign warnings, errors and handled
stack traces spread over the whole file. Those benign lines are *not* labelled: a detector that flags every WARN
or every traceback must not score well. In the latter part of the file one incident is injected and labelled
line by line: a disk filling on db-01, "No space left on device" write errors, retries with backoff, connection
pool exhaustion, two crashes with multi-line stack traces, a restart and the recovery.

Everything comes from one `random.Random(seed)`, and no set or dict is iterated in an order that depends on
hashing, so the same arguments give the same bytes.
"""

from __future__ import annotations

import json
import math
import random
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "FORMATS",
    "Incident",
    "SynthTruth",
    "generate_logs",
    "generate_metrics",
    "read_truth",
    "write_truth",
]

FORMATS: tuple[str, ...] = ("iso", "syslog", "jsonl")
DEFAULT_START = datetime(2026, 11, 23, tzinfo=UTC)  # fixed, not now(): the bytes must not depend on the clock
MEAN_GAP_MS = 250.0  # ~4 entries/s across the fleet: 20k lines span ~80 minutes, 1M lines ~3 days
MIN_LINES_WITH_INCIDENT = 1_000  # below this the incident's ~100 lines would crowd out the normal chatter
MIN_POINTS = 200  # room for a spike, a shift and an incident that do not overlap
INCIDENT_REGION = (0.70, 0.88)  # where in the file the incident's records are placed (fractions of `lines`)
_FLUSH_EVERY = 4096  # lines per write(): streaming, without a syscall per line

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYSLOG_SEVERITY = {"DEBUG": 7, "INFO": 6, "WARN": 4, "ERROR": 3, "FATAL": 2}
_FACILITY_LOCAL0, _FACILITY_DAEMON = 16, 3

_HOSTS: dict[str, tuple[str, ...]] = {
    "api": ("web-01", "web-02", "web-03"),
    "auth": ("web-01", "web-02", "web-03"),
    "db": ("db-01",),
    "worker": ("worker-01", "worker-02"),
    "scheduler": ("sched-01",),
    "cache": ("cache-01",),
    "storage": ("store-01", "store-02"),
}
_ALL_HOSTS = tuple(dict.fromkeys(h for hosts in _HOSTS.values() for h in hosts))  # ordered, no duplicates
_MOUNTS = {
    "db-01": "/var/lib/postgresql",
    "store-01": "/data/dfs",
    "store-02": "/data/dfs",
    "cache-01": "/var/lib/redis",
}

DISK_HOST = "db-01"  # the host whose disk fills
CRASH_HOST = "web-02"  # the api instance that crashes and restarts


@dataclass(slots=True)
class Incident:
    """One phase of the injected incident, spanning physical lines `start_line`..`end_line` (1-based, inclusive).

    Normal chatter is interleaved inside the span; `SynthTruth.anomalous_lines` has the injected lines exactly.
    """

    kind: str  # disk_filling | no_space | retry_backoff | pool_exhausted | crash | restart | recovery
    start_line: int
    end_line: int
    description: str


@dataclass(slots=True)
class SynthTruth:
    """What `generate_logs` wrote and which physical lines were injected."""

    path: str
    lines: int  # physical lines written
    anomalous_lines: set[int]  # 1-based physical line numbers of injected lines, stack-trace lines included
    incidents: list[Incident] = field(default_factory=list)
    fmt: str = "iso"


@dataclass(slots=True)
class _Record:
    """One log entry to write: its first line and continuation lines share one header."""

    host: str
    service: str
    level: str
    lines: list[str]
    kind: str | None = None  # the incident phase for injected records; None for normal chatter
    effect: tuple[Any, ...] | None = None  # a state change applied when the record is written


# ------------------------------------------------------------------------------------------------- normal chatter

_Template = Callable[[random.Random], tuple[str, str]]

_RESOURCES = ("users", "orders", "products", "carts", "invoices")
_TABLES = ("orders", "order_items", "users", "sessions", "products", "invoices")
_JOB_TYPES = ("email_send", "invoice_render", "thumbnail", "search_index", "webhook_deliver")
_SEARCH_TERMS = ("boots", "rain+jacket", "usb-c", "coffee", "desk+lamp", "gift+card")


def _rid(r: random.Random) -> str:
    return f"{r.getrandbits(64):016x}"


def _ip(r: random.Random) -> str:
    x = r.getrandbits(18)  # one draw for three octets keeps the hot path cheap
    return f"10.{x >> 16}.{(x >> 8) & 0xFF}.{(x & 0xFF) | 1}"


def _ms(r: random.Random, mu: float = 3.0, sigma: float = 0.7) -> int:
    return int(r.lognormvariate(mu, sigma)) + 1


def _uid(r: random.Random) -> int:
    return 1000 + r.getrandbits(16)


def _blk(r: random.Random) -> str:
    return f"blk_{r.getrandbits(62) - (1 << 61)}"


def _pick(r: random.Random, seq: Sequence[str]) -> str:
    return seq[int(r.random() * len(seq))]


# (service, weight, template). Weights are per-mille of normal entries; the benign WARN/ERROR/trace rows
# recur all through the file so that "flag every WARN" is a bad detector here.
_TEMPLATES: list[tuple[str, float, _Template]] = [
    ("api", 140, lambda r: ("INFO", f"GET /api/v1/{_pick(r, _RESOURCES)}/{_uid(r)} 200 {_ms(r)}ms "
                                    f"req_id={_rid(r)} client={_ip(r)}")),
    ("api", 60, lambda r: ("INFO", f"POST /api/v1/orders 201 {_ms(r, 3.6)}ms req_id={_rid(r)} user={_uid(r)}")),
    ("api", 45, lambda r: ("INFO", f"GET /healthz 200 {1 + r.getrandbits(1)}ms")),
    ("api", 25, lambda r: ("INFO", f"GET /api/v1/search?q={_pick(r, _SEARCH_TERMS)} 200 {_ms(r, 4.0)}ms "
                                   f"req_id={_rid(r)} results={r.getrandbits(7)}")),
    ("api", 10, lambda r: ("INFO", f"GET /static/img/{r.getrandbits(24):06x}.webp 404 {_ms(r, 1.0)}ms req_id={_rid(r)}")),
    ("api", 5, lambda r: ("WARN", f"slow request GET /api/v1/search took {1000 + r.getrandbits(11)}ms "
                                  f"(threshold 1000ms) req_id={_rid(r)}")),
    ("api", 3, lambda r: ("ERROR", f"client {_ip(r)} disconnected before the response was sent (broken pipe) "
                                   f"req_id={_rid(r)}")),
    ("auth", 55, lambda r: ("INFO", f"login succeeded user={_uid(r)} ip={_ip(r)} "
                                    f"method={_pick(r, ('password', 'sso', 'passkey'))}")),
    ("auth", 25, lambda r: ("INFO", f"token refreshed user={_uid(r)} ttl=3600s")),
    ("auth", 6, lambda r: ("WARN", f"login failed user={_uid(r)} ip={_ip(r)} "
                                   f"reason={_pick(r, ('bad_password', 'expired_otp', 'locked'))}")),
    ("db", 80, lambda r: ("INFO", f"duration: {r.lognormvariate(0.5, 0.8):.3f} ms  execute <unnamed>: "
                                  f"SELECT * FROM {_pick(r, _TABLES)} WHERE id = $1")),
    ("db", 20, lambda r: ("INFO", "connection authorized: user=app database=shop "
                                  f"application_name={_pick(r, ('api', 'worker', 'auth'))}")),
    ("db", 12, lambda r: ("INFO", f"checkpoint complete: wrote {r.getrandbits(12)} buffers ({r.random() * 5:.1f}%); "
                                  f"0 WAL file(s) added, 0 removed, {r.getrandbits(2)} recycled; "
                                  f"write={r.random() * 30:.3f} s, sync={r.random() * 0.1:.3f} s")),
    ("db", 8, lambda r: ("INFO", f'automatic vacuum of table "shop.public.{_pick(r, _TABLES)}": index scans: 1, '
                                 f"pages: 0 removed, {r.getrandbits(14)} remain, tuples: {r.getrandbits(10)} removed")),
    ("db", 4, lambda r: ("WARN", f"slow query: duration {1000 + r.getrandbits(12)} ms exceeds "
                                 "log_min_duration_statement=1000 ms: SELECT o.* FROM orders o "
                                 "JOIN order_items i ON i.order_id = o.id WHERE o.user_id = $1")),
    ("worker", 55, lambda r: ("INFO", f"job {_rid(r)[:12]} started type={_pick(r, _JOB_TYPES)} queue=default attempt=1")),
    ("worker", 55, lambda r: ("INFO", f"job {_rid(r)[:12]} finished type={_pick(r, _JOB_TYPES)} "
                                      f"in {_ms(r, 5.0)}ms status=ok")),
    ("worker", 10, lambda r: ("INFO", f"queue depth default={r.getrandbits(5)} priority={r.getrandbits(3)} "
                                      f"retry={r.getrandbits(2)}")),
    ("worker", 5, lambda r: ("WARN", f"job {_rid(r)[:12]} attempt 1 failed: upstream timeout from payments-gateway; "
                                     "retry 2/5 in 2s")),
    ("storage", 40, lambda r: ("INFO", f"Receiving block {_blk(r)} src: /{_ip(r)}:{40000 + r.getrandbits(14)} "
                                       f"dest: /{_ip(r)}:50010")),
    ("storage", 40, lambda r: ("INFO", f"Received block {_blk(r)} of size {r.getrandbits(26)} from /{_ip(r)}")),
    ("storage", 20, lambda r: ("INFO", f"PacketResponder {r.getrandbits(2)} for block {_blk(r)} terminating")),
    ("storage", 3, lambda r: ("WARN", f"Slow BlockReceiver write packet to mirror took {300 + r.getrandbits(10)}ms "
                                      "(threshold=300ms)")),
    ("cache", 30, lambda r: ("INFO", f"hit ratio {90 + r.random() * 9:.1f}% over last 60s "
                                     f"keys={200000 + r.getrandbits(15)} evicted={r.getrandbits(8)}")),
    ("cache", 10, lambda r: ("INFO", f"{100 + r.getrandbits(9)} changes in 300 seconds. Saving...")),
    ("cache", 3, lambda r: ("WARN", f"Client id={r.getrandbits(20)} addr={_ip(r)}:{40000 + r.getrandbits(14)} "
                                    "closed for overcoming of output buffer limits.")),
]  # fmt: skip

# A handled, retried exception: a benign multi-line entry, so "flag every traceback" is not a free win either.
_BENIGN_TRACE = (
    "java.net.SocketTimeoutException: Read timed out",
    "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
    "\tat com.acme.worker.http.GatewayClient.post(GatewayClient.java:61)",
    "\tat com.acme.worker.jobs.WebhookJob.run(WebhookJob.java:44)",
)
_BENIGN_TRACE_PER_MILLE = 1.0


def _benign_trace(r: random.Random) -> _Record:
    head = f"job {_rid(r)[:12]} attempt 1 failed, will retry in 2s: webhook endpoint timed out"
    return _Record(_pick(r, _HOSTS["worker"]), "worker", "WARN", [head, *_BENIGN_TRACE])


def _template_table() -> tuple[list[tuple[str, _Template]], list[float]]:
    """The templates and their cumulative probabilities; a draw past the last one is a benign trace."""
    total = sum(w for _, w, _ in _TEMPLATES) + _BENIGN_TRACE_PER_MILLE
    cum, acc = [], 0.0
    for _, w, _ in _TEMPLATES:
        acc += w / total
        cum.append(acc)
    return [(s, t) for s, _, t in _TEMPLATES], cum


def _periodic(r: random.Random, kind: str) -> list[_Record]:
    """The entries a scheduled job writes (the node agent's disk lines are added by the caller)."""
    if kind == "heartbeat":
        beat = f"leader heartbeat ok term=7 followers=2 lag_ms={r.getrandbits(5)}"
        return [_Record("sched-01", "scheduler", "INFO", [beat])]
    if kind == "cron":
        run = _rid(r)
        return [
            _Record("sched-01", "scheduler", "INFO", [f"triggering job cleanup-sessions (cron */5 * * * *) run_id={run}"]),
            _Record(_pick(r, _HOSTS["worker"]), "worker", "INFO",
                    [f"job {run[:12]} started type=cleanup_sessions queue=cron attempt=1"]),
        ]
    # A recurring benign WARN on a timer, as real fleets have.
    return [_Record("web-01", "auth", "WARN", ["TLS certificate for *.shop.internal expires in 23 days"])]


# ------------------------------------------------------------------------------------------------------ incident

_PY_TRACE = (
    "Traceback (most recent call last):",
    '  File "/srv/api/.venv/lib/python3.11/site-packages/uvicorn/protocols/http/h11_impl.py", line 408, in run_asgi',
    "    result = await app(  # type: ignore[func-returns-value]",
    '  File "/srv/api/app/routes/orders.py", line 57, in create_order',
    "    await session.commit()",
    '  File "/srv/api/.venv/lib/python3.11/site-packages/sqlalchemy/ext/asyncio/session.py", line 1011, in commit',
    "    await greenlet_spawn(self.sync_session.commit)",
    '  File "/srv/api/.venv/lib/python3.11/site-packages/sqlalchemy/engine/default.py", line 941, in do_execute',
    "    cursor.execute(statement, parameters)",
    'sqlalchemy.exc.OperationalError: (psycopg2.errors.DiskFull) could not extend file "base/16384/24576": '
    "No space left on device",
    "HINT:  Check free disk space.",
)
_JAVA_TRACE = (
    'org.postgresql.util.PSQLException: ERROR: could not extend file "base/16384/24590": No space left on device',
    "  Hint: Check free disk space.",
    "\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2713)",
    "\tat org.postgresql.core.v3.QueryExecutorImpl.processResults(QueryExecutorImpl.java:2401)",
    "\tat org.postgresql.core.v3.QueryExecutorImpl.execute(QueryExecutorImpl.java:368)",
    "\tat org.postgresql.jdbc.PgStatement.executeInternal(PgStatement.java:498)",
    "\tat org.postgresql.jdbc.PgPreparedStatement.executeUpdate(PgPreparedStatement.java:152)",
    "\tat com.zaxxer.hikari.pool.HikariProxyPreparedStatement.executeUpdate(HikariProxyPreparedStatement.java)",
    "\tat com.acme.worker.jobs.InvoiceJob.persist(InvoiceJob.java:87)",
    "\tat com.acme.worker.JobRunner.run(JobRunner.java:142)",
    "\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)",
    "\tat java.base/java.lang.Thread.run(Thread.java:840)",
)

_DESCRIPTIONS = {
    "disk_filling": f"{_MOUNTS[DISK_HOST]} on {DISK_HOST} fills from 85% to 100%",
    "no_space": "writes fail with 'No space left on device' on the db and in its clients",
    "retry_backoff": "workers retry failed db writes with exponential backoff, then give up",
    "pool_exhausted": "db connection pools are exhausted; requests time out waiting for a connection",
    "crash": f"a worker job and the api on {CRASH_HOST} crash with stack traces",
    "restart": f"systemd restarts the api on {CRASH_HOST} under a new pid",
    "recovery": "space is freed, the disk drops below the threshold and the pools recover",
}


def _spread(r: random.Random, n: int, lo: float, hi: float) -> list[float]:
    """`n` increasing fractions across [lo, hi], evenly spaced with a little jitter."""
    step = (hi - lo) / max(n, 1)
    return [lo + step * (i + 0.2 + 0.6 * r.random()) for i in range(n)]


def _incident_script(r: random.Random, lines: int, pids: dict[tuple[str, str], int]) -> list[tuple[float, _Record]]:
    """The injected records with their place in the incident region (0..1), in order."""
    out: list[tuple[float, _Record]] = []
    mount = _MOUNTS[DISK_HOST]

    # Disk usage climbs one point at a time; the node agent's normal 5-minute line on that host is replaced.
    for i, f in enumerate(_spread(r, 16, 0.0, 0.40)):
        pct = 85 + i
        free = (100 - pct) * 0.4 + r.random() * 0.05
        if pct < 100:
            level = "WARN" if pct < 95 else "ERROR"
            msg = f"disk usage {mount} {pct}% above threshold 85% ({free:.1f} GiB free)"
        else:
            level, msg = "ERROR", f"filesystem {mount} is full (0 bytes free, 0 inodes reserved)"
        effect: tuple[Any, ...] | None = ("disk_override", True) if i == 0 else None
        out.append((f, _Record(DISK_HOST, "node-agent", level, [msg], "disk_filling", effect)))

    n_nospace = min(40, max(6, lines // 2500))
    for i, f in enumerate(_spread(r, n_nospace, 0.38, 0.78)):
        rel = 24576 + r.getrandbits(6)
        if i % 3 == 2:
            host = _pick(r, tuple(h for h in _HOSTS["api"] if h != CRASH_HOST))
            msg = (
                f'database write failed: (psycopg2.errors.DiskFull) could not extend file "base/16384/{rel}": '
                f"No space left on device req_id={_rid(r)}"
            )
            out.append((f, _Record(host, "api", "ERROR", [msg], "no_space")))
        elif i % 3 == 1:
            msg = f'could not extend file "base/16384/{rel}": No space left on device'
            out.append((f, _Record(DISK_HOST, "db", "ERROR", [msg], "no_space")))
        else:
            msg = f'could not write to file "pg_wal/xlogtemp.{r.getrandbits(15)}": No space left on device'
            out.append((f, _Record(DISK_HOST, "db", "ERROR", [msg], "no_space")))

    n_jobs = min(6, max(2, lines // 20_000))
    for j, f0 in enumerate(_spread(r, n_jobs, 0.45, 0.70)):
        job = _rid(r)[:12]
        host = _HOSTS["worker"][j % 2]
        for k in range(1, 6):
            msg = f"job {job} db write failed (DiskFull); retry {k}/5 in {2 ** k}s"
            out.append((f0 + 0.012 * k, _Record(host, "worker", "WARN", [msg], "retry_backoff")))
        msg = f"job {job} gave up after 5 attempts: No space left on device; moved to dead-letter queue"
        out.append((f0 + 0.075, _Record(host, "worker", "ERROR", [msg], "retry_backoff")))

    n_pool = min(30, max(5, lines // 4000))
    for i, f in enumerate(_spread(r, n_pool, 0.60, 0.84)):
        if i % 3 == 0:
            msg = (
                "QueuePool limit of size 20 overflow 10 reached, connection timed out, timeout 30.00 "
                f"req_id={_rid(r)}"
            )
            host = _pick(r, tuple(h for h in _HOSTS["api"] if h != CRASH_HOST))
            out.append((f, _Record(host, "api", "ERROR", [msg], "pool_exhausted")))
        elif i % 3 == 1:
            msg = "HikariPool-1 - Connection is not available, request timed out after 30000ms."
            out.append((f, _Record(_pick(r, _HOSTS["worker"]), "worker", "ERROR", [msg], "pool_exhausted")))
        else:
            out.append((f, _Record(DISK_HOST, "db", "FATAL", ["sorry, too many clients already"], "pool_exhausted")))

    job = _rid(r)[:12]
    java = [f"job {job} failed with unrecoverable error, worker thread pool-3-thread-7 terminated", *_JAVA_TRACE]
    out.append((0.845, _Record("worker-01", "worker", "ERROR", java, "crash")))
    py = [f"Exception in ASGI application req_id={_rid(r)}", *_PY_TRACE]
    out.append((0.86, _Record(CRASH_HOST, "api", "ERROR", py, "crash")))
    old_pid = pids[(CRASH_HOST, "api")]
    out.append(
        (
            0.862,
            _Record(
                CRASH_HOST,
                "api",
                "FATAL",
                [f"worker process {old_pid} died: unhandled exception, shutting down"],
                "crash",
                ("down", CRASH_HOST, "api"),
            ),
        )
    )

    new_pid = old_pid + 1 + r.getrandbits(10)
    restart = [
        ("systemd", "WARN", "api.service: Main process exited, code=exited, status=1/FAILURE", None),
        ("systemd", "WARN", "api.service: Failed with result 'exit-code'.", None),
        ("systemd", "INFO", "api.service: Scheduled restart job, restart counter is at 1.", None),
        ("systemd", "INFO", "Stopped api.service - Shop API.", None),
        ("systemd", "INFO", "Started api.service - Shop API.", ("up", CRASH_HOST, "api", new_pid)),
        ("api", "INFO", f"Started server process [{new_pid}]", None),
        ("api", "INFO", "Waiting for application startup. Application startup complete.", None),
        ("api", "INFO", "Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)", None),
    ]
    for i, (service, level, msg, effect) in enumerate(restart):
        out.append((0.88 + 0.004 * i, _Record(CRASH_HOST, service, level, [msg], "restart", effect)))

    recovery: list[tuple[Any, ...]] = [
        (DISK_HOST, "node-agent", "INFO", f"removed 46 archived WAL segments from {mount}/archive (15.6 GiB freed)"),
        (DISK_HOST, "node-agent", "INFO", f"disk usage {mount} 61% back below threshold 85% (15.6 GiB free)",
         ("disk_override", False)),
        (DISK_HOST, "db", "INFO", "connections back to normal: 23 of 100 in use, 0 waiting"),
        ("web-01", "api", "INFO", "db pool healthy again: size=20 checked_out=4 overflow=0"),
        ("worker-02", "worker", "INFO", "resuming 37 deferred jobs from the dead-letter queue"),
    ]  # fmt: skip
    for i, row in enumerate(recovery):
        host, service, level, msg = row[:4]
        out.append((0.93 + 0.015 * i, _Record(host, service, level, [msg], "recovery", row[4] if len(row) > 4 else None)))

    out.sort(key=lambda fr: fr[0])  # stable: equal fractions keep script order
    return out


# -------------------------------------------------------------------------------------------------------- writer


class _Clock:
    """Formats epoch milliseconds, caching per second: most entries share their second with the one before.

    The date is recomputed only when the day changes; the time of day is plain arithmetic, because
    `strftime` per second was the single largest cost of a million-line file.
    """

    def __init__(self) -> None:
        self._sec = -1
        self._day = -1
        self._iso_date = ""
        self._syslog_date = ""
        self._hms = ""

    def _update(self, sec: int) -> None:
        day, rest = divmod(sec, 86_400)
        if day != self._day:
            dt = datetime.fromtimestamp(day * 86_400, UTC)
            self._day = day
            self._iso_date = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T"
            # RFC 3164: English month names whatever the locale, day padded with a space.
            self._syslog_date = f"{_MONTHS[dt.month - 1]} {dt.day:>2} "
        hours, rest = divmod(rest, 3600)
        self._hms = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        self._sec = sec

    def iso(self, ms: int) -> str:
        if ms // 1000 != self._sec:
            self._update(ms // 1000)
        return f"{self._iso_date}{self._hms}.{ms % 1000:03d}Z"

    def syslog(self, ms: int) -> str:
        if ms // 1000 != self._sec:
            self._update(ms // 1000)
        return self._syslog_date + self._hms


def _format(fmt: str, clock: _Clock, ms: int, rec: _Record, pid: int, room: int) -> list[str]:
    """The physical lines of one record (at most `room` of them), each without its newline."""
    if fmt == "iso":
        head = f"{clock.iso(ms)} {rec.host} {rec.service}[{pid}]: {rec.level} {rec.lines[0]}"
        return [head, *rec.lines[1 : max(room, 1)]]
    if fmt == "syslog":
        # Multi-line messages reach syslog as one message per line, each with the full header.
        facility = _FACILITY_DAEMON if rec.service == "systemd" else _FACILITY_LOCAL0
        pri = facility * 8 + _SYSLOG_SEVERITY[rec.level]
        head = f"<{pri}>{clock.syslog(ms)} {rec.host} {rec.service}[{pid}]: "
        return [head + text for text in rec.lines[: max(room, 1)]]
    message = json.dumps("\n".join(rec.lines), ensure_ascii=False)
    return [
        f'{{"timestamp": "{clock.iso(ms)}", "level": "{rec.level}", "host": "{rec.host}", '
        f'"service": "{rec.service}", "message": {message}}}'
    ]


def generate_logs(
    path: str | Path,
    *,
    lines: int = 20_000,
    seed: int = 0,
    fmt: str = "iso",
    start: datetime | None = None,
    incident: bool = True,
) -> SynthTruth:
    """Write a synthetic multi-service log, streaming, with one labelled incident in its latter part.

    Args:
        path: The file to write (parent folders are created).
        lines: Exactly how many physical lines to write.
        seed: Same seed and arguments, same bytes.
        fmt: "iso" (`2026-11-23T03:10:00.123Z host service[pid]: LEVEL message`, stack traces as raw
            continuation lines), "syslog" (RFC 3164, one message per line, so a trace repeats the header), or
            "jsonl" (one object per line with timestamp, level, host, service, message; a trace stays inside
            its message, so one entry is one line).
        start: Time of the first entry (default 2026-11-23T00:00:00Z); naive datetimes are taken as UTC.
        incident: Inject the incident. Without it the file is all normal chatter and nothing is labelled.

    Returns:
        The truth: which physical lines were injected, and each incident phase's line span.

    Raises:
        ValueError: If `fmt` is unknown, or `lines` is too small (for the incident, or below 1).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if lines < 1:
        raise ValueError(f"lines must be at least 1, got {lines}")
    if incident and lines < MIN_LINES_WITH_INCIDENT:
        raise ValueError(
            f"an incident needs at least {MIN_LINES_WITH_INCIDENT} lines, got {lines}; "
            "pass more lines or incident=False"
        )
    start = start or DEFAULT_START
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    r = random.Random(seed)
    rand, expo = r.random, r.expovariate
    pids = {(h, s): 1000 + r.getrandbits(15) for s, hosts in _HOSTS.items() for h in hosts}
    for h in _ALL_HOSTS:
        pids[(h, "node-agent")] = 500 + r.getrandbits(9)
        pids[(h, "systemd")] = 1
    disk_pct = {h: 35 + r.getrandbits(5) for h in _ALL_HOSTS}
    table, cum = _template_table()
    n_templates = len(table)

    script = _incident_script(r, lines, pids) if incident else []
    lo, hi = INCIDENT_REGION
    first, last = int(lines * lo), int(lines * hi)
    targets = [first + int(f * (last - first)) for f, _ in script]
    next_inj = 0

    clock = _Clock()
    ms = int(start.timestamp() * 1000)
    next_heartbeat = ms + 60_000
    next_cron = ms + 300_000
    next_cert = ms + 1_800_000
    queued: deque[_Record] = deque()  # periodic entries due, written one per step between other entries
    down: set[tuple[str, str]] = set()
    disk_override = False

    anomalous: set[int] = set()
    spans: dict[str, list[int]] = {}
    written = 0
    buf: list[str] = []
    mean_gap = 1.0 / MEAN_GAP_MS

    with path.open("w", encoding="utf-8", newline="\n") as out:
        while written < lines:
            ms += int(expo(mean_gap))
            if ms >= next_heartbeat:
                queued.extend(_periodic(r, "heartbeat"))
                next_heartbeat += 60_000
            if ms >= next_cron:
                queued.extend(_periodic(r, "cron"))
                for h in _ALL_HOSTS:
                    if h == DISK_HOST and disk_override:
                        continue  # the injected disk lines speak for this host during the incident
                    disk_pct[h] = min(80, max(20, disk_pct[h] + (1 if rand() < 0.5 else -1)))
                    usage = f"disk usage {_MOUNTS.get(h, '/')} {disk_pct[h]}% ok"
                    queued.append(_Record(h, "node-agent", "INFO", [usage]))
                next_cron += 300_000
            if ms >= next_cert:
                queued.extend(_periodic(r, "cert"))
                next_cert += 1_800_000

            if next_inj < len(script) and targets[next_inj] <= written:
                rec = script[next_inj][1]
                next_inj += 1
            elif queued:
                rec = queued.popleft()
            else:
                i = bisect_left(cum, rand())
                if i == n_templates:
                    rec = _benign_trace(r)
                else:
                    service, template = table[i]
                    hosts = _HOSTS[service]
                    host = hosts[int(rand() * len(hosts))]
                    if (host, service) in down:
                        host = hosts[0]  # the crashed instance is silent until it restarts
                    level, msg = template(r)
                    rec = _Record(host, service, level, [msg])

            if rec.effect is not None:
                if rec.effect[0] == "disk_override":
                    disk_override = bool(rec.effect[1])
                elif rec.effect[0] == "down":
                    down.add((rec.effect[1], rec.effect[2]))
                elif rec.effect[0] == "up":
                    down.discard((rec.effect[1], rec.effect[2]))
                    pids[(rec.effect[1], rec.effect[2])] = rec.effect[3]
            physical = _format(fmt, clock, ms, rec, pids[(rec.host, rec.service)], lines - written)
            if rec.kind is not None:
                span = spans.setdefault(rec.kind, [written + 1, written + len(physical)])
                span[1] = written + len(physical)
                anomalous.update(range(written + 1, written + len(physical) + 1))
            written += len(physical)
            buf.extend(physical)
            if len(buf) >= _FLUSH_EVERY:
                buf.append("")
                out.write("\n".join(buf))
                buf.clear()
        if buf:
            buf.append("")
            out.write("\n".join(buf))

    if next_inj < len(script):  # the region leaves room for the whole script; this guards future edits
        raise RuntimeError(f"only {next_inj} of {len(script)} incident records fit in {lines} lines")
    incidents = [Incident(kind, s, e, _DESCRIPTIONS[kind]) for kind, (s, e) in spans.items()]
    incidents.sort(key=lambda inc: (inc.start_line, inc.kind))
    return SynthTruth(path=str(path), lines=written, anomalous_lines=anomalous, incidents=incidents, fmt=fmt)


# ------------------------------------------------------------------------------------------------------- metrics

# (base, daily amplitude, noise sd, level shift, transient spike, incident spike, floor, ceiling)
_SERIES_SHAPE: dict[str, tuple[float, float, float, float, float, float, float, float]] = {
    "cpu": (35.0, 12.0, 2.0, 8.0, 12.0, 45.0, 0.0, 100.0),
    "latency_ms": (120.0, 25.0, 6.0, 35.0, 40.0, 400.0, 1.0, math.inf),
}
_DEFAULT_SHAPE = (100.0, 15.0, 3.0, 15.0, 18.0, 80.0, 0.0, math.inf)


def generate_metrics(
    path: str | Path,
    *,
    points: int = 2_000,
    seed: int = 0,
    series: Sequence[str] = ("cpu", "latency_ms"),
    step_s: int = 60,
    start: datetime | None = None,
) -> tuple[str, dict[str, set[int]]]:
    """Write a metric CSV (`timestamp,value,series`, one row per point per series) with labelled anomalies.

    Each series is a daily cycle plus Gaussian noise, with three events at the same points in every series:
    a one-point transient spike in the first quarter (noise, *not* labelled), a sustained level shift near
    the middle (a deploy; its first few points are labelled as the onset window) and an incident spike in the
    latter part (labelled, every point of it).

    Args:
        path: The CSV file to write (parent folders are created).
        points: Points per series.
        seed: Same seed and arguments, same bytes.
        series: Series names; "cpu" and "latency_ms" have their own shapes, other names a generic one.
        step_s: Seconds between points.
        start: Time of the first point (default 2026-11-23T00:00:00Z).

    Returns:
        The path written, and for each series the 0-based point indices labelled anomalous.

    Raises:
        ValueError: If `points` is below 200, `step_s` below 1, or `series` is empty or repeats a name.
    """
    if points < MIN_POINTS:
        raise ValueError(f"points must be at least {MIN_POINTS}, got {points}")
    if step_s < 1:
        raise ValueError(f"step_s must be at least 1 second, got {step_s}")
    names = list(series)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"series must be non-empty names without repeats, got {names!r}")
    start = start or DEFAULT_START
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    r = random.Random(seed)
    transient = int(points * (0.10 + 0.15 * r.random()))
    shift_at = int(points * (0.35 + 0.15 * r.random()))
    onset = min(30, max(5, points // 100))
    inc_at = int(points * (0.65 + 0.15 * r.random()))
    inc_len = min(60, max(5, points // 100))
    labels = set(range(shift_at, shift_at + onset)) | set(range(inc_at, inc_at + inc_len))
    period = 86_400 / step_s  # points per day
    phases = [r.random() * 2 * math.pi for _ in names]
    t0 = int(start.timestamp())

    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("timestamp,value,series\n")
        for i in range(points):
            stamp = f"{datetime.fromtimestamp(t0 + i * step_s, UTC):%Y-%m-%dT%H:%M:%S}Z"
            rows = []
            for name, phase in zip(names, phases, strict=True):
                base, amp, sd, shift, spike, incident, floor, ceil = _SERIES_SHAPE.get(name, _DEFAULT_SHAPE)
                value = base + amp * math.sin(2 * math.pi * i / period + phase) + r.gauss(0.0, sd)
                if i >= shift_at:
                    value += shift
                if i == transient:
                    value += spike
                if inc_at <= i < inc_at + inc_len:
                    # A fast ramp to the plateau: the first points are already well out of the noise.
                    value += incident * min(1.0, 0.5 + 0.25 * (i - inc_at))
                value = min(ceil, max(floor, value))
                rows.append(f"{stamp},{value:.3f},{name}\n")
            out.write("".join(rows))
    return str(path), {name: set(labels) for name in names}


# --------------------------------------------------------------------------------------------------------- truth


def write_truth(truth: SynthTruth, path: str | Path) -> None:
    """Save `truth` as JSON beside the log, so tests and benchmarks can score an audit of it later.

    Args:
        truth: What `generate_logs` returned.
        path: The JSON file to write.
    """
    data = asdict(truth)
    data["anomalous_lines"] = sorted(truth.anomalous_lines)
    Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def read_truth(path: str | Path) -> SynthTruth:
    """Load a truth file written by `write_truth`.

    Args:
        path: The JSON file.

    Returns:
        The truth, as `generate_logs` returned it.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return SynthTruth(
        path=data["path"],
        lines=int(data["lines"]),
        anomalous_lines=set(data["anomalous_lines"]),
        incidents=[Incident(**inc) for inc in data.get("incidents", [])],
        fmt=data.get("fmt", "iso"),
    )
