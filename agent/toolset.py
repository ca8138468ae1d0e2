"""Which tools a planner is offered: only those that can run now.

- `audit_source` only while nothing is audited (afterwards the conversation is about the audited logs, and a
  planner must not be talked into reading other paths);
- the LogICL tools only when a demonstration pool is available (one attached to the workspace, the user's pool
  folder, or the pool shipped as package data);
- the metric/table tools (CALM, ICAD) only when the question names an existing CSV, JSON-lines or Parquet file;
- the log tools once there is an audit.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

from tools import Tool, Workspace

LOG_TOOLS = ("list_anomalies", "search_events", "get_context", "describe_template", "score_window")
METRIC_TOOLS = ("calm_forecast_band", "calm_judge_anomaly", "icad_compare")
_DATA_FILE = re.compile(r"(?<![\w])((?:~|\.{0,2}/)?[\w./-]+\.(?:csv|jsonl?|parquet))\b", re.I)


def shipped_pool_file() -> Path | None:
    """The LogICL pool shipped as package data (`retrieval/shipped_pool/pool.json`), found without importing it."""
    spec = importlib.util.find_spec("retrieval")
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).with_name("shipped_pool") / "pool.json"


def logicl_pool_available(ws: Workspace) -> bool:
    """Whether the LogICL tools have a demonstration pool to retrieve from (without loading it): one attached to
    the workspace, the user's (`sleuth pool add`), or the one shipped with sleuth."""
    if getattr(ws, "logicl_engine", None) is not None:
        return True
    shipped = shipped_pool_file()
    if shipped is not None and shipped.is_file():
        return True
    try:
        from detectors import logicl
    except ImportError:
        return False
    folders = []
    for name in ("default_pool_dir", "shipped_pool_dir", "builtin_pool_dir"):
        fn = getattr(logicl, name, None)
        if callable(fn):
            try:
                folders.append(Path(fn()))
            except Exception:  # noqa: BLE001  (a pool location that cannot even be computed is no pool)
                continue
    return any((folder / "info.json").is_file() for folder in folders)


def named_data_files(question: str) -> list[str]:
    """Existing metric/table files the question names."""
    out = []
    for m in _DATA_FILE.finditer(question):
        path = Path(m.group(1)).expanduser()
        if path.is_file():
            out.append(str(path))
    return out


def offered_tools(tools: Sequence[Tool], ws: Workspace, question: str = "") -> list[Tool]:
    """The tools among `tools` that can run for this question on this workspace."""
    audited = ws.has_result or bool(ws.sources)
    data_files = bool(named_data_files(question))
    out = []
    for tool in tools:
        name = tool.name
        if name == "audit_source":
            ok = not audited
        elif name.startswith("logicl_"):
            ok = audited and logicl_pool_available(ws)
        elif name in METRIC_TOOLS or name.startswith(("calm_", "icad_")):
            ok = data_files or name == "calm_model_history"
        else:
            ok = audited
        if ok:
            out.append(tool)
    return out
