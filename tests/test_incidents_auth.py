"""An authentication outage at the front door: most users' requests answered 401 at once is what users get.

A 4xx answer is usually the client's own doing (a scanner's 404, a mistyped password, a brute-forcer hammering the
login from one address); a sudden surge of 401 on most routes from most clients (an expired signing key, a clock
skew, an identity provider down) locks everyone out, and is the incident's symptom.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.incidents import triage

T0 = datetime(2026, 11, 3, 7, 0, 0, tzinfo=UTC)
BRUTE = T0 + timedelta(minutes=70)  # one address tries passwords on the login for five minutes
ONSET = T0 + timedelta(minutes=150)  # the signing key rotated away: tokens no longer validate
ROUTES = ["/api/orders", "/api/profile", "/api/cart", "/api/search", "/api/addresses", "/api/payments"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1) Mobile/15E148",
          "okhttp/4.12.0"]


def _write(folder: Path, name: str, rows: list[tuple[datetime, str]]) -> None:
    rows.sort(key=lambda r: r[0])
    (folder / name).write_text("".join(line + "\n" for _, line in rows))


def _nginx(rng: random.Random, t: datetime, ip: str, method: str, route: str, status: int) -> str:
    size = rng.randint(800, 9000) if status < 400 else rng.choice((157, 162, 188))
    return (f'{ip} - - [{t.strftime("%d/%b/%Y:%H:%M:%S")} +0000] "{method} {route} HTTP/1.1" {status} {size} "-" '
            f'"{rng.choice(AGENTS)}" rt={rng.uniform(0.01, 0.2):.3f}')


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def auth_outage_folder(folder: Path, seed: int = 7, outage: bool = True) -> None:
    rng = random.Random(seed)
    clients = [f"10.{rng.randint(0, 9)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(80)]
    access: list[tuple[datetime, str]] = []
    auth: list[tuple[datetime, str]] = []
    t = T0
    end = T0 + timedelta(minutes=190)
    while t < end:
        t += timedelta(seconds=rng.uniform(0.2, 0.8))
        ip = rng.choice(clients)
        route = rng.choice(ROUTES)
        r = rng.random()
        if outage and t >= ONSET and r < 0.85:
            status = 401  # every token signed with the old key is refused, whoever sends it
        elif r < 0.008:
            status = 404
        elif r < 0.014:
            status = 401  # an expired session now and then
        else:
            status = 200
        access.append((t, _nginx(rng, t, ip, "GET", route, status)))
        if rng.random() < 0.05:
            access.append((t, _nginx(rng, t, ip, "POST", "/api/login", 200)))
            auth.append((t, f'ts={_iso(t)} level=info service=auth msg="token issued" user_id={rng.randint(1, 9999)} '
                            f'kid=2026-10'))
        if rng.random() < 0.003:
            auth.append((t, f'ts={_iso(t)} level=warn service=auth msg="login failed: invalid password" '
                            f'user_id={rng.randint(1, 9999)}'))
    # The red herring: one address tries passwords against the login, hundreds of 401s in five minutes.
    for i in range(600):
        ts = BRUTE + timedelta(seconds=i * 0.5)
        access.append((ts, _nginx(rng, ts, "185.220.101.7", "POST", "/api/login", 401)))
        if i % 20 == 0:
            auth.append((ts, f'ts={_iso(ts)} level=warn service=auth msg="login failed: invalid password" '
                             f'user_id={rng.randint(1, 9999)}'))
    if outage:
        ts = ONSET - timedelta(seconds=40)
        auth.append((ts, f'ts={_iso(ts)} level=info service=auth msg="signing keys reloaded" keys=1 kid=2026-11'))
        ts = ONSET
        while ts < end:
            auth.append((ts, f'ts={_iso(ts)} level=error service=auth msg="token validation failed: key id not '
                             f'found" kid=2026-10 user_id={rng.randint(1, 9999)}'))
            ts += timedelta(seconds=rng.uniform(0.5, 3.0))
    _write(folder, "access.log", access)
    _write(folder, "auth-service.log", auth)


def test_a_401_surge_from_most_clients_on_most_routes_is_the_user_facing_symptom(tmp_path: Path) -> None:
    auth_outage_folder(tmp_path)
    incs = triage([str(tmp_path)]).incidents
    assert incs, "no incident"
    inc = incs[0]
    assert inc.impact is not None and inc.impact.user_facing, inc.impact
    assert inc.impact.symptom.startswith("401 errors on"), inc.impact.symptom
    assert inc.onset is not None and abs((inc.onset - ONSET).total_seconds()) <= 300, inc.onset
    assert "key id not found" in inc.title or any("key id not found" in s.text for s in inc.chain), inc.title
    # The brute-forcer's burst, an hour earlier and from one address, is not part of it, nor an outage of its own.
    assert not any("185.220.101.7" in s.text for s in inc.chain)
    for other in incs[1:]:
        assert other.impact is None or not other.impact.symptom.startswith("401"), other.impact.symptom


def test_a_brute_forcers_401s_from_one_address_are_no_outage(tmp_path: Path) -> None:
    auth_outage_folder(tmp_path, outage=False)
    for inc in triage([str(tmp_path)]).incidents:
        assert inc.impact is None or not inc.impact.user_facing, (inc.title, inc.impact.symptom)
