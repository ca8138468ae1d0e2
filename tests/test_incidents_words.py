"""The engine's reading of failure words in context: a systemd unit's description ("Bring up/down networking",
"Crash recovery kernel arming") and a crash kernel set up at boot are not failures; a unit that failed still is."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.incidents import semantics, triage

# A boot of a CentOS host, as systemd and the kernel write it (descriptions as shipped by initscripts and kexec-tools).
BOOT = [
    "kernel: Command line: BOOT_IMAGE=/boot/vmlinuz-3.10.0 root=UUID=6808 ro console=ttyS0 crashkernel=auto",
    "kernel: Reserving 161MB of memory at 656MB for crashkernel (System RAM: 8191MB)",
    "systemd[1]: Starting LSB: Bring up/down networking...",
    "systemd[1]: Started LSB: Bring up/down networking.",
    "systemd[1]: Reached target Network.",
    "systemd[1]: Starting Crash recovery kernel arming...",
    "kdump: No kdump initial ramdisk found.",
    "systemd[1]: Started Crash recovery kernel arming.",
    "systemd[1]: Started Process error reports when automatic reporting is enabled (file watch).",
]


def test_unit_descriptions_and_crash_kernels_are_not_failures() -> None:
    for line in BOOT:
        text = line.split(": ", 1)[1]
        assert not semantics.names_failure(text), text
        assert semantics.badness(text, 0, 0, False) < 0.25, text
    # what still says something failed
    for text in ("Failed to start Crash recovery kernel arming.", "Dependency failed for Network.",
                 "Stopped nginx due to out of memory.", "Stopped consumer: connection refused",
                 "eth0: link is down", "Interface eth0 went down", "db-1 is down", "worker crashed",
                 "kdump: crash recovery kernel failed to load", "Started <*> worker with error <*>."):
        assert semantics.names_failure(text), text
    # a warning level still counts on a lifecycle line
    assert semantics.badness("Started LSB: Bring up/down networking.", 5, 0, False) >= 0.8


def _sys(t: datetime) -> str:
    return t.strftime("%b %e %H:%M:%S")


def test_a_boot_before_a_failing_service_is_not_the_incident(tmp_path: Path) -> None:
    # A web host is rebooted; as it comes up, nginx cannot bind its port and keeps failing. The unit lines of the
    # boot are new, but they say what units do, not that anything failed: the incident is nginx's.
    rng = random.Random(5)
    t0 = datetime(2025, 6, 20, 5, 0, tzinfo=UTC)
    boot = t0 + timedelta(minutes=90)
    rows: list[tuple[datetime, str]] = []
    t = t0
    while t < t0 + timedelta(minutes=150):
        t += timedelta(seconds=rng.uniform(5, 15))
        rows.append((t, f"{_sys(t)} web-1 chronyd[637]: Selected source 212.129.9.{rng.randint(1, 200)}"))
        if t >= boot + timedelta(seconds=40) and rng.random() < 0.7:
            rows.append((t, f"{_sys(t)} web-1 nginx[{rng.randint(900, 999)}]: [emerg] bind() to 0.0.0.0:80 failed "
                            f"(98: Address already in use)"))
    for i, line in enumerate(BOOT):
        when = boot + timedelta(seconds=2 * i)
        rows.append((when, f"{_sys(when)} web-1 {line}"))
    rows.sort(key=lambda r: r[0])
    (tmp_path / "messages").write_text("\n".join(r for _, r in rows) + "\n")

    result = triage([str(tmp_path)])
    assert result.incidents
    inc = result.incidents[0]
    boot_words = ("up/down", "Crash recovery", "crashkernel", "kdump", "error reports")
    assert not any(w in inc.title for w in boot_words), inc.title
    assert "bind()" in inc.title, inc.title
    for step in inc.chain:
        assert not any(w in (step.text or "") for w in boot_words), [(s.role, s.text) for s in inc.chain]
    for cand in inc.candidates:
        if any(w in (cand.text or "") for w in boot_words):
            assert not any("error words" in r for r in cand.reasons), (cand.text, cand.reasons)
