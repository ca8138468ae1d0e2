"""The incident's chain keeps every step of the failure it crossed (issue 16)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.incidents import triage

T0 = datetime(2025, 3, 4, 8, 0, 0, tzinfo=UTC)
ONSET = T0 + timedelta(hours=2)
STRAYS = [T0 + timedelta(minutes=m) for m in (17, 46, 47, 78, 114)]  # a few 5xx answers, the last 6 min before


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _write(folder: Path, seed: int = 3) -> None:
    """An API behind nginx: its JSON request log had a few stray 5xx answers all morning (to internal callers, not
    through nginx); at ONSET the payments service it calls fails, and for 25 minutes both the API's log and nginx's
    access log fill with 502s."""
    rng = random.Random(seed)
    end = T0 + timedelta(hours=3)
    app: list[str] = []
    access: list[str] = []
    pay: list[str] = []
    strays = set(STRAYS)
    t = T0
    while t < end:
        failing = ONSET <= t < ONSET + timedelta(minutes=25)
        if t.second % 20 == 0:
            pay.append(f"{_iso(t)} INFO payments worker heartbeat ok queue={rng.randint(0, 9)}")
        if failing and rng.random() < 0.3:
            pay.append(f"{_iso(t)} ERROR payments charge failed: connection refused to ledger-db:5432")
        if rng.random() < 0.5 or t in strays:
            route = rng.choice(["/api/orders/", "/api/cart/"])
            path = route + str(rng.randint(1000, 99999))
            status = 200
            if t in strays:
                status = 500
            elif failing and rng.random() < 0.6:
                status = 502
                app.append(json.dumps({"ts": _iso(t), "level": "error", "service": "orders-api", "host": "app-1",
                                       "msg": "upstream call failed: payments returned 500", "route": path}))
            app.append(json.dumps({"ts": _iso(t), "level": "error" if status >= 500 else "info",
                                   "service": "orders-api", "host": "app-1", "msg": "request completed",
                                   "route": path, "status": status, "latency_ms": rng.randint(5, 80)}))
            stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
            if t not in strays:  # (the stray ones came from internal callers, not through nginx)
                access.append(f'10.0.{rng.randint(0, 9)}.{rng.randint(1, 254)} - - [{stamp}] "GET {path} HTTP/1.1" '
                              f'{status} {rng.randint(200, 5000)} "-" "curl/8.0" rt=0.0{rng.randint(10, 99)}')
        t += timedelta(seconds=1)
    (folder / "orders-api.jsonl").write_text("\n".join(app) + "\n")
    (folder / "access.log").write_text("\n".join(access) + "\n")
    (folder / "payments.log").write_text("\n".join(pay) + "\n")


def test_a_5xx_storm_with_stray_5xx_before_it_is_a_step_from_its_start(tmp_path: Path) -> None:
    # The API's own 5xx answers had a few stray ones hours before (separate blips, each a line or two): that does
    # not make a 25-minute storm of them, in step with nginx's 502s, a flapping job judged unrelated. Its step is
    # cited at the storm's first lines, not at a stray one.
    _write(tmp_path)
    out = triage([str(tmp_path)])
    assert out.incidents, out.notes
    inc = out.incidents[0]
    steps = [s for s in inc.chain if Path(s.file).name == "orders-api.jsonl"]
    texts = {s.line: Path(s.file).read_text().splitlines()[s.line - 1] for s in steps}
    storm = [ln for ln, text in texts.items() if '"msg": "request completed"' in text and '"status": 502' in text]
    assert storm, [(s.where, s.template) for s in inc.chain]
    step = next(s for s in steps if s.line in storm)
    assert step.ts is not None and abs(step.ts - ONSET.timestamp()) <= 120, step
    assert inc.onset_ts is not None and abs(inc.onset_ts - ONSET.timestamp()) <= 120
    assert not any(u.file.endswith("orders-api.jsonl") and u.line in storm for u in out.unrelated)
