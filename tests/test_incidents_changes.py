"""Change events the engine links to an incident: a line that said hours in advance when something would happen
(a certificate's expiry) ranks above the failures it predicted and above a nearer but unrelated change."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.incidents import semantics, triage

T0 = datetime(2025, 3, 14, 9, 0, 0, tzinfo=UTC)
ONSET = T0 + timedelta(minutes=200)
END = T0 + timedelta(minutes=240)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cert_folder(folder: Path, seed: int = 3) -> None:
    """A shop's API calls a pricing service over TLS. At 06:10 (T0 + 10 min) the renewal of pricing's certificate
    fails; the line says the current one expires at ONSET. At ONSET every handshake fails and nginx serves 502s.
    Ten minutes before ONSET an unrelated service (mailer, on another host) is deployed; retries and validation
    errors come and go all along."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    syslog, app, access = [], [], []
    expiry = ONSET
    syslog.append((T0 + timedelta(minutes=10), f"{_iso(T0 + timedelta(minutes=10))} core2 certbot[3111]: renewal of "
                   f"pricing.internal failed: ACME challenge timed out; current certificate expires {_iso(expiry)}"))
    dep = ONSET - timedelta(minutes=10)
    syslog.append((dep, f"{_iso(dep)} mail1 deploy[812]: deployed mailer version 4.2.1 (was 4.2.0)"))
    t = T0
    while t < END:
        t += timedelta(seconds=rng.expovariate(0.5))
        if rng.random() < 0.05:
            syslog.append((t, f"{_iso(t)} {rng.choice(['core1', 'core2', 'mail1'])} CRON[{rng.randint(100, 999)}]: "
                              f"(root) CMD (run-parts /etc/cron.hourly)"))
        route = rng.choice(["/api/cart", "/api/orders", f"/api/items/{rng.randint(1, 999)}"])
        failing = t >= expiry and rng.random() < 0.6
        status = 502 if failing else 200
        access.append((t, f'10.0.0.{rng.randint(1, 200)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET {route} HTTP/1.1" '
                          f'{status} {rng.randint(100, 900)} "-" "curl/8.0"'))
        if failing:
            msg = ("tls handshake with pricing failed: x509: certificate has expired or is not yet valid: current "
                   f"time {_iso(t)} is after {_iso(expiry)}")
            app.append((t, json.dumps({"ts": _iso(t), "level": "error", "service": "checkout", "host": "app1",
                                       "msg": msg})))
        elif rng.random() < 0.03:
            app.append((t, json.dumps({"ts": _iso(t), "level": "warn", "service": "checkout", "host": "app1",
                                       "msg": f"retrying inventory call ({rng.randint(1, 3)}/3)"})))
        else:
            app.append((t, json.dumps({"ts": _iso(t), "level": "info", "service": "checkout", "host": "app1",
                                       "msg": "request completed", "status": 200})))
    for name, rows in (("syslog", syslog), ("checkout.json.log", app), ("access.log", access)):
        rows.sort(key=lambda r: r[0])
        (folder / name).write_text("\n".join(r for _, r in rows) + "\n")


def test_times_in_text_reads_dated_times_only() -> None:
    base = datetime(2025, 7, 25, 16, 30, tzinfo=UTC).timestamp()
    assert semantics.times_in_text("current certificate expires 2025-07-25T16:30:00Z") == [base]
    assert semantics.times_in_text("expires 2025-07-25 18:30:00+02:00 (local)") == [base]
    assert semantics.times_in_text("notAfter=Jul 25 16:30:00 2025 GMT") == [base]
    assert semantics.times_in_text("the window opens at 16:30") == []  # no day: not a dated time
    assert semantics.times_in_text("bad date 2025-13-45T99:00:00Z") == []


def test_a_change_that_named_the_onset_ranks_first(tmp_path: Path) -> None:
    cert_folder(tmp_path)
    tri = triage([str(tmp_path / n) for n in ("syslog", "checkout.json.log", "access.log")])
    assert tri.incidents
    inc = tri.incidents[0]
    assert inc.onset is not None and abs((inc.onset - ONSET).total_seconds()) <= 300
    top = inc.candidates[0]
    assert top.kind == "change" and "renewal of pricing.internal failed" in top.text, inc.candidates[:3]
    assert any("as a time to come" in r for r in top.reasons)
    # The nearer deploy of an unrelated service does not outrank it.
    deploys = [c for c in inc.candidates if c.kind == "change" and "mailer" in c.text]
    assert all(c.score < top.score for c in deploys)



def test_the_exception_outranks_the_lines_that_comment_on_it(shared_data: Path) -> None:
    """logreduce's mock-01 (a failed RPM build vs a good one): sphinx dies with `IOError: [Errno 2] …`, then says
    where the full traceback went and asks for a report. The exception is the cause; the comments rank below it."""
    from detectors.pipeline import AuditOptions, audit

    case = shared_data / "logreduce_ci" / "mock-01"
    res = audit([str(case / "console.fail")], AuditOptions(baseline=(str(case / "console.good"),)))
    assert res.triage is not None and res.triage.incidents
    cands = res.triage.incidents[0].candidates
    top = next(c for c in cands if c.kind == "log")
    assert "IOError: [Errno 2]" in top.text, [(c.score, c.text[:60], c.reasons) for c in cands[:4]]
    saved = next(c for c in cands if "full traceback has been saved" in c.text)
    assert saved.score < top.score and any("comments on the exception" in r for r in saved.reasons)


def test_an_exception_that_only_reports_a_failed_step_ranks_below_why(shared_data: Path) -> None:
    """logreduce's zuul-console-pep8 (a failed tox run vs a good one): flake8's findings, then tox's
    `InvocationError: …/flake8 …`. The exception only reports that the step failed; the findings before it say why,
    and are not mere comments on it."""
    from detectors.pipeline import AuditOptions, audit

    case = shared_data / "logreduce_ci" / "zuul-console-pep8"
    res = audit([str(case / "console.fail")], AuditOptions(baseline=(str(case / "console.good"),)))
    assert res.triage is not None and res.triage.incidents
    cands = [c for c in res.triage.incidents[0].candidates if c.kind == "log"]
    assert "E305 expected 2 blank lines" in cands[0].text, [(c.score, c.text[:60]) for c in cands[:4]]
    wrapper = next(c for c in cands if c.text.startswith("InvocationError"))
    assert any("the lines before it say why" in r for r in wrapper.reasons)
    assert not any("comments on the exception" in r for r in cands[0].reasons)
