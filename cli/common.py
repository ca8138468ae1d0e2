"""What every command module shares: the error console, `fail`, settings, progress bars, the lab import."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from agent.settings import Settings

err = Console(stderr=True)


class Format(str, Enum):
    md = "md"
    json = "json"
    html = "html"
    jsonl = "jsonl"  # one JSON object a line: incidents, anomalies, summary
    github = "github"  # GitHub Actions workflow annotations (::error file=...,line=...::)


class Runner(str, Enum):
    direct = "direct"
    prism = "prism"
    flink = "flink"
    dataflow = "dataflow"


class Llm(str, Enum):
    """The agent's model back end (`Settings.llm`)."""

    auto = "auto"  # a server when --llm-url is set, else the embedded model
    embedded = "embedded"
    served = "served"
    none = "none"  # no model: deterministic answers and explanations only


class FailOn(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    never = "never"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `Error: message` on stderr and return the Exit to raise."""
    err.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)  # paths stay whole
    return typer.Exit(code)


def settings(flags: dict[str, Any]) -> Settings:
    """The resolved settings (defaults → <config dir>/config.toml → SLEUTH_* environment → these flags)."""
    from agent import ConfigError, load_settings

    try:
        return load_settings(flags=flags)
    except ConfigError as error:
        raise fail(str(error)) from None


CHECKOUT = Path(__file__).resolve().parents[1]  # the source checkout, when cli/ runs from one (pip install -e)


def lab(module: str) -> ModuleType:
    """Import `lab.<module>` for a bench/train/generate command, or exit 2 saying the lab is not installed.

    The lab is not in the wheel: it is found in the source checkout that cli/ itself runs from (an editable
    install maps only the packaged folders, so the checkout is put on the path for it)."""
    if importlib.util.find_spec("lab") is None and (CHECKOUT / "lab" / "__init__.py").is_file():
        sys.path.append(str(CHECKOUT))
    try:
        return importlib.import_module(f"lab.{module}")
    except ModuleNotFoundError as error:
        if error.name not in ("lab", f"lab.{module}"):
            raise
        raise fail("this command needs the lab (benchmarks, training, data generators), which is not installed: "
                   "it ships with the source checkout, not the wheel; run it from a checkout "
                   "(`pip install -e .` there)") from None


def shared_data(data: Path | None) -> Path:
    """The shared data folder (--data > $SLEUTH_SHARED_DATA > ../shared/data beside the checkout), or exit 2."""
    paths = lab("paths")
    try:
        found: Path = paths.shared_data(data)
    except paths.SharedDataMissing as error:
        raise fail(str(error)) from None
    return found


def wide_console() -> Console:
    """A console at least 150 columns wide (benchmark tables)."""
    return Console(width=max(Console().width, 150))


class RichHook:
    """Maps the pipeline's progress hook onto Rich progress bars (on stderr, so stdout stays clean)."""

    LABELS = {"read": "reading", "score": "scoring windows", "explain": "collecting evidence"}

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, advance: float, total: float | None) -> None:
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.progress.add_task(self.LABELS.get(stage, stage), total=total)
        elif total is not None:
            self.progress.update(task, total=total)
        if advance:
            self.progress.advance(task, advance)


def progress_bar() -> Progress:
    """A Rich progress display on stderr; invisible when stderr is not a terminal."""
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal)


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items -> keyword options (ints, floats, true/false and none are converted)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"--set {item!r}: expected KEY=VALUE, e.g. --set score=delta")
        value: Any = raw
        low = raw.strip().lower()
        if low in ("true", "false"):
            value = low == "true"
        elif low == "none":
            value = None
        else:
            for conv in (int, float):
                try:
                    value = conv(raw)
                    break
                except ValueError:
                    pass
        out[key.strip().replace("-", "_")] = value
    return out
