"""The fleet an incident folder describes: names drawn from a seed, and one renderer per log format.

Every renderer returns the physical lines of one entry (a stack trace is several lines). Times are epoch seconds
(UTC); every source is written in UTC, syslog without a year (RFC 3164), the others with one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(slots=True)
class Rec:
    """One log entry bound for one file: its time, its physical lines and the answer-key tag it belongs to."""

    ts: float
    file: str  # a file key of the World (e.g. "syslog", "access", "app")
    lines: tuple[str, ...]
    tag: str | None = None


@lru_cache(maxsize=8192)
def _parts(sec: int) -> tuple[int, int, int, int, int, int]:
    d = datetime.fromtimestamp(sec, tz=UTC)
    return d.year, d.month, d.day, d.hour, d.minute, d.second


def iso_z(ts: float, ms: bool = True) -> str:
    y, mo, d, h, mi, s = _parts(int(ts))
    base = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
    return f"{base}.{int(ts * 1000) % 1000:03d}Z" if ms else base + "Z"


def syslog_ts(ts: float) -> str:
    _, mo, d, h, mi, s = _parts(int(ts))
    return f"{MONTHS[mo - 1]} {d:2d} {h:02d}:{mi:02d}:{s:02d}"


def clf_ts(ts: float) -> str:
    y, mo, d, h, mi, s = _parts(int(ts))
    return f"{d:02d}/{MONTHS[mo - 1]}/{y:04d}:{h:02d}:{mi:02d}:{s:02d} +0000"


def java_ts(ts: float) -> str:
    y, mo, d, h, mi, s = _parts(int(ts))
    return f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d},{int(ts * 1000) % 1000:03d}"


def nginx_err_ts(ts: float) -> str:
    y, mo, d, h, mi, s = _parts(int(ts))
    return f"{y:04d}/{mo:02d}/{d:02d} {h:02d}:{mi:02d}:{s:02d}"


# --- names ---------------------------------------------------------------------------------------------------

APP_NAMES = ("orders-api", "checkout-api", "cart-api", "billing-api", "catalog-api", "booking-api", "accounts-api")
BACKEND_NAMES = ("inventory-svc", "pricing-service", "ledger-service", "fulfillment-svc", "stock-service",
                 "quote-engine", "customer-core")
WORKER_NAMES = ("notifier", "email-worker", "export-worker", "thumbnailer", "webhook-dispatcher", "invoice-worker")
DOMAINS = ("shop.example.com", "api.example.net", "store.example.org", "app.example.io", "portal.example.com")
DC = ("fra1", "ams3", "use1", "sgp1", "lon2", "iad2")
ROLE_WORDS = {
    "edge": ("edge", "lb", "web", "proxy", "ingress"),
    "app": ("app", "api", "svc", "node"),
    "backend": ("be", "java", "core", "jvm"),
    "worker": ("worker", "jobs", "task", "celery"),
    "db": ("db", "pg", "sql", "pgsql"),
    "cache": ("cache", "redis", "kv"),
    "dns": ("ns", "dns", "resolver"),
    "bastion": ("bastion", "jump", "gw"),
    "ws": ("ws", "desk", "ops-pc"),
    "backup": ("backup", "nas", "vault"),
    "etl": ("etl", "batch", "report"),
    "idx": ("search", "idx", "es"),
    "ci": ("ci", "build", "runner"),
}
USERS = ("admin", "test", "oracle", "ubuntu", "pi", "postgres", "git", "user", "guest", "ftpuser", "support",
         "deploy", "jenkins", "minecraft", "hadoop", "nagios", "www", "tomcat", "ansible", "steam")
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "shop-ios/5.14.2 (iPhone; iOS 17.1)",
    "shop-android/5.14.0 (Pixel 7; Android 14)",
)


@dataclass(slots=True)
class Svc:
    """A service of the fleet: where it logs and how (JSON lines, Java/logback, Python logging, syslog)."""

    name: str
    role: str  # app | backend | worker
    lang: str  # go | java | python
    file: str  # the World's file key it writes to
    fmt: str  # json | java | python
    hosts: tuple[str, ...]
    package: str = ""  # java package / python module root
    port: int = 8080
    ip: str = "10.0.0.1"


@dataclass
class World:
    """Names, files and formats of one incident folder, all drawn from its seed."""

    rng: random.Random
    start: float
    end: float
    year: int
    hosts: dict[str, tuple[str, ...]]  # role -> host names
    app: Svc
    backend: Svc
    worker: Svc
    domain: str
    files: dict[str, str]  # file key -> relative path in the folder
    json_keys: tuple[str, str, str]  # (time, level, message) field names of the JSON lines
    json_level_upper: bool
    access_rt: bool  # nginx log_format with request_time appended
    routes: tuple[tuple[str, str, str], ...]  # (method, route template, upstream role: app | static | health)
    backend_routes: tuple[str, ...]  # routes whose handling calls the backend
    worker_routes: tuple[str, ...]  # routes that enqueue work for the worker
    ips: dict[str, str] = field(default_factory=dict)  # host -> internal IP
    pids: dict[tuple[str, str], int] = field(default_factory=dict)
    skew: dict[str, float] = field(default_factory=dict)  # file key -> seconds its host's clock is off (shown times)

    def host(self, role: str, i: int = 0) -> str:
        hs = self.hosts[role]
        return hs[i % len(hs)]

    def pid(self, host: str, prog: str) -> int:
        key = (host, prog)
        if key not in self.pids:
            self.pids[key] = self.rng.randint(300, 32000)
        return self.pids[key]

    def restart(self, host: str, prog: str) -> int:
        self.pids[(host, prog)] = self.rng.randint(300, 32000)
        return self.pids[(host, prog)]

    # --- renderers ---------------------------------------------------------------------------------------------

    def syslog(self, ts: float, host: str, prog: str, msg: str, pid: int | None | bool = True, tag: str | None = None) -> Rec:
        if pid is True:
            pid = self.pid(host, prog)
        head = f"{syslog_ts(ts)} {host} {prog}" + (f"[{pid}]" if pid else "")
        return Rec(ts, "syslog", (f"{head}: {msg}",), tag)

    def access(self, ts: float, ip: str, method: str, path: str, status: int, size: int, ua: str, rt: float,
               tag: str | None = None, referer: str = "-") -> Rec:
        line = (f'{ip} - - [{clf_ts(ts)}] "{method} {path} HTTP/1.1" {status} {size} "{referer}" "{ua}"')
        if self.access_rt:
            line += f" rt={rt:.3f} uct=\"0.000\" urt=\"{max(rt - 0.001, 0):.3f}\""
        return Rec(ts, "access", (line,), tag)

    def nginx_error(self, ts: float, level: str, msg: str, tag: str | None = None) -> Rec:
        pid = self.pid(self.host("edge"), "nginx-worker")
        conn = int(ts * 7) % 900000 + 1000
        return Rec(ts, "nginx_error", (f"{nginx_err_ts(ts)} [{level}] {pid}#{pid}: *{conn} {msg}",), tag)

    def log(self, svc: Svc, ts: float, level: str, msg: str, *, logger: str | None = None,
            exc: tuple[str, str] | None = None, host: str | None = None, tag: str | None = None,
            **fields: object) -> Rec:
        """An entry of `svc` in its own format; `exc` = (exception class, message) adds a trace in its language."""
        host = host or svc.hosts[int(ts * 1000) % len(svc.hosts)]
        trace = self.trace(svc, exc) if exc else None
        if svc.fmt == "json":
            tk, lk, mk = self.json_keys
            lv = level.upper() if self.json_level_upper else level.lower()
            obj: dict[str, object] = {tk: iso_z(ts), lk: lv, "service": svc.name, "host": host, mk: msg}
            for k, v in fields.items():
                if v is not None:
                    obj[k] = v
            if exc:
                obj["error"] = f"{exc[0]}: {exc[1]}" if svc.lang != "go" else exc[1]
                if trace:
                    obj["stack_trace" if svc.lang == "java" else "exc_info"] = "\n".join(trace)
            return Rec(ts, svc.file, (json.dumps(obj, separators=(",", ":")),), tag)
        ts = ts + self.skew.get(svc.file, 0.0)  # the record keeps its true time (file order); the text shows the skew
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None and k in ("trace_id", "task_id"))
        text = msg + (f" [{extra}]" if extra else "")
        if svc.fmt == "java":
            thread = f"http-nio-{svc.port}-exec-{int(ts * 13) % 40 + 1}"
            lg = logger or f"{svc.package}.Application"
            head = f"{java_ts(ts)} {level.upper():<5} [{thread}] {_abbrev(lg)} - {text}"
            return Rec(ts, svc.file, (head, *(trace or ())), tag)
        lg = logger or f"{svc.package}.main"
        lv = {"WARN": "WARNING"}.get(level.upper(), level.upper())
        head = f"{java_ts(ts)} {lv} [{lg}] {text}"
        return Rec(ts, svc.file, (head, *(trace or ())), tag)

    def trace(self, svc: Svc, exc: tuple[str, str]) -> list[str] | None:
        cls, msg = exc
        r = random.Random(hash_str(cls + svc.name))  # the same exception has the same frames
        if svc.lang == "java":
            pkg = svc.package
            own = [f"\tat {pkg}.{m}" for m in r.sample(_JAVA_OWN, 3)]
            frames = [f"\tat {f}" for f in _JAVA_LIB.get(cls.split(".")[-1], _JAVA_LIB["*"])]
            lines = [f"{cls}: {msg}", *frames, *own, *[f"\tat {f}" for f in _JAVA_FRAMEWORK]]
            if r.random() < 0.5:
                lines += ["Caused by: java.net.SocketTimeoutException: Read timed out", "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
                          f"\t... {r.randint(20, 90)} common frames omitted"]
            return lines
        if svc.lang == "python":
            root = f"/srv/{svc.name}/{svc.package}"
            lines = ["Traceback (most recent call last):"]
            for fn, code in r.sample(_PY_OWN, 2):
                lines += [f'  File "{root}/{fn[0]}", line {r.randint(20, 400)}, in {fn[1]}', f"    {code}"]
            for f in _PY_LIB.get(cls, _PY_LIB["*"]):
                lines.append(f"  {f}")
            lines.append(f"{cls}: {msg}")
            return lines
        return None


def hash_str(s: str) -> int:
    """A deterministic hash (Python's str hash is salted per process)."""
    h = 1469598103934665603
    for ch in s.encode():
        h = ((h ^ ch) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def _abbrev(logger: str) -> str:
    parts = logger.split(".")
    return ".".join([p[0] for p in parts[:-1]] + parts[-1:])


_JAVA_OWN = ("service.StockService.reserve(StockService.java:142)", "web.OrderController.create(OrderController.java:88)",
             "repository.ItemRepository.findBySku(ItemRepository.java:57)", "service.QuoteService.price(QuoteService.java:211)",
             "client.UpstreamClient.call(UpstreamClient.java:73)", "service.LedgerService.post(LedgerService.java:96)")
_JAVA_FRAMEWORK = ("org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
                   "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
                   "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)",
                   "org.apache.tomcat.util.threads.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1191)",
                   "java.base/java.lang.Thread.run(Thread.java:1583)")
_JAVA_LIB = {
    "SQLTransientConnectionException": ["com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
                                        "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
                                        "com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:100)"],
    "PSQLException": ["org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2713)",
                      "org.postgresql.core.v3.QueryExecutorImpl.processResults(QueryExecutorImpl.java:2401)",
                      "org.postgresql.jdbc.PgStatement.executeInternal(PgStatement.java:517)"],
    "OutOfMemoryError": ["java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
                         "java.base/java.lang.AbstractStringBuilder.ensureCapacityInternal(AbstractStringBuilder.java:228)"],
    "*": ["java.base/java.net.Socket.connect(Socket.java:751)",
          "org.apache.hc.client5.http.impl.io.DefaultHttpClientConnectionOperator.connect(DefaultHttpClientConnectionOperator.java:158)"],
}
_PY_OWN = ((("tasks.py", "send"), "result = client.deliver(payload, timeout=10)"),
           (("jobs.py", "run_job"), "rows = fetch_batch(conn, since)"),
           (("handlers.py", "handle"), "resp = session.post(url, json=body)"),
           (("render.py", "render_pdf"), "doc.write(buf)"))
_PY_LIB = {
    "smtplib.SMTPServerDisconnected": ['File "/usr/lib/python3.11/smtplib.py", line 1011, in send_message',
                                       '  return self.sendmail(from_addr, to_addrs, flatmsg, mail_options,'],
    "socket.gaierror": ['File "/usr/lib/python3.11/socket.py", line 962, in getaddrinfo',
                        '  for res in _socket.getaddrinfo(host, port, family, type, proto, flags):'],
    "*": ['File "/usr/lib/python3/dist-packages/requests/adapters.py", line 519, in send',
          '  raise ConnectionError(e, request=request)'],
}


def make_world(rng: random.Random, start: float, end: float, year: int, with_java: bool, with_python: bool) -> World:
    """Draw the fleet's names, formats and layout."""
    scheme = rng.randrange(4)
    dc = rng.choice(DC)
    used: list[str] = []

    def name(role: str, i: int) -> str:
        word = rng.choice(ROLE_WORDS[role])
        if scheme == 0:
            n = f"{word}-{i + 1:02d}"
        elif scheme == 1:
            n = f"{word}{i + 1}.{dc}"
        elif scheme == 2:
            n = f"prod-{word}-{i + 1}"
        else:
            n = f"ip-10-{rng.randint(0, 31)}-{rng.randint(0, 255)}-{rng.randint(2, 254)}"
        while n in used:
            n += "b"
        used.append(n)
        return n

    counts = {"edge": 1, "app": rng.randint(2, 3), "backend": 2, "worker": 1, "db": 1, "cache": 1, "dns": 1,
              "bastion": 1, "ws": 1, "backup": 1, "etl": 1, "idx": 1, "ci": 1}
    hosts: dict[str, tuple[str, ...]] = {}
    for role, n in counts.items():
        word = None
        names = []
        for i in range(n):
            nm = name(role, i)
            if word is None or scheme == 3:
                word = nm
            names.append(nm)
        hosts[role] = tuple(names)
    app_name = rng.choice(APP_NAMES)
    backend_name = rng.choice(BACKEND_NAMES)
    worker_name = rng.choice(WORKER_NAMES)
    files = {"syslog": rng.choice(("syslog", "messages", "var/log/syslog")),
             "access": rng.choice(("nginx/access.log", "access.log", "edge/access.log")),
             "nginx_error": rng.choice(("nginx/error.log", "error.log", "edge/error.log")),
             "app": rng.choice((f"{app_name}.jsonl", f"app/{app_name}.log", f"{app_name}.json.log")),
             "metrics": "metrics.csv"}
    app = Svc(app_name, "app", "go", "app", "json", hosts["app"], ip=f"10.0.1.{rng.randint(10, 60)}")
    pkg = "com." + rng.choice(("acme", "example", "shopco", "northwind")) + "." + backend_name.split("-")[0]
    if with_java:
        files["backend"] = rng.choice((f"{backend_name}/application.log", f"{backend_name}.log", "java/app.log"))
        backend = Svc(backend_name, "backend", "java", "backend", "java", hosts["backend"], pkg, 8443,
                      f"10.0.2.{rng.randint(10, 60)}")
    else:
        backend = Svc(backend_name, "backend", "java", "app", "json", hosts["backend"], pkg, 8443,
                      f"10.0.2.{rng.randint(10, 60)}")
    wpkg = worker_name.replace("-", "_")
    if with_python:
        files["worker"] = rng.choice((f"{worker_name}/worker.log", f"{worker_name}.log", "celery/worker.log"))
        worker = Svc(worker_name, "worker", "python", "worker", "python", hosts["worker"], wpkg, 5555)
    else:
        worker = Svc(worker_name, "worker", "python", "app", "json", hosts["worker"], wpkg, 5555)
    api = rng.choice(("/api/v1", "/api/v2", "/v1", "/api"))
    res = rng.sample(("orders", "cart", "checkout", "products", "quotes", "invoices", "customers", "stock"), 5)
    routes = [("GET", f"{api}/{res[0]}", "app"), ("GET", f"{api}/{res[0]}/{{id}}", "app"),
              ("POST", f"{api}/{res[1]}", "app"), ("GET", f"{api}/{res[2]}", "app"),
              ("POST", f"{api}/{res[3]}/{{id}}/confirm", "app"), ("GET", f"{api}/{res[4]}", "app"),
              ("GET", "/static/js/app.{id}.js", "static"), ("GET", "/static/css/main.{id}.css", "static"),
              ("GET", "/healthz", "health"), ("GET", "/favicon.ico", "static")]
    backend_routes = (routes[1][1], routes[2][1], routes[4][1])
    worker_routes = (routes[2][1], routes[4][1])
    w = World(rng, start, end, year, hosts, app, backend, worker, rng.choice(DOMAINS), files,
              rng.choice((("ts", "level", "msg"), ("timestamp", "level", "message"), ("time", "severity", "msg"))),
              rng.random() < 0.4, rng.random() < 0.5, tuple(routes), backend_routes, worker_routes)
    for role, hs in hosts.items():
        for h in hs:
            w.ips[h] = f"10.0.{list(hosts).index(role) + 1}.{rng.randint(2, 250)}"
    return w
