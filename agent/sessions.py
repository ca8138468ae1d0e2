"""Saved chat sessions: LangGraph's SQLite checkpointer, one thread per session name."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from detectors.recovery import quarantine

_NAME = re.compile(r"^[\w.@-]{1,80}$")


class SessionError(Exception):
    """A session name or database that cannot be used; the message says what to do."""


@dataclass(slots=True)
class SessionInfo:
    """One saved session, as `sleuth sessions` lists it."""

    name: str
    updated: str  # ISO 8601 time of the last checkpoint
    questions: int  # user turns
    sources: list[str]


def check_name(name: str) -> str:
    """`name` if it is a usable session name.

    Raises:
        SessionError: If it is empty, too long or has characters other than letters, digits and `_.@-`.
    """
    if not _NAME.match(name):
        raise SessionError(f"session name {name!r} must be 1-80 letters, digits or _.@- characters")
    return name


def open_checkpointer(path: Path) -> SqliteSaver:
    """A checkpointer on the SQLite database at `path` (created, with its folder, on first use).

    Raises:
        SessionError: If the database cannot be opened.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _open_checked(path)
    except OSError as error:
        raise SessionError(f"cannot open the sessions database {str(path)!r}: {error}; check the path (data_dir)") from None
    except sqlite3.DatabaseError as error:
        if isinstance(error, sqlite3.OperationalError) or not path.is_file():
            raise SessionError(f"cannot open the sessions database {str(path)!r}: {error}; check the path (data_dir)") from None
        # Not a database, or a damaged one: move it aside (saved sessions are lost) and start a new one.
        quarantine(path, error, "sessions database", "earlier chat sessions cannot be resumed")
    try:
        return _open_checked(path)
    except (OSError, sqlite3.Error) as error:
        raise SessionError(f"cannot open the sessions database {str(path)!r}: {error}; check the path (data_dir)") from None


def _open_checked(path: Path) -> SqliteSaver:
    """The checkpointer on `path`, after SQLite's own quick integrity check (a cut file fails it here, not mid-chat).

    Raises:
        sqlite3.DatabaseError: If the file is not an intact SQLite database.
    """
    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        status = conn.execute("PRAGMA quick_check").fetchone()
        if status is None or status[0] != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {status[0] if status else 'no answer'}")
        saver = SqliteSaver(conn)
        saver.setup()
    except BaseException:
        conn.close()
        raise
    return saver


def session_config(name: str) -> dict[str, Any]:
    """The LangGraph config that selects session `name`."""
    return {"configurable": {"thread_id": check_name(name)}}


def list_sessions(path: Path) -> list[SessionInfo]:
    """The saved sessions in the database at `path`, most recently used first (none when it does not exist)."""
    if not path.is_file():
        return []
    saver = open_checkpointer(path)
    try:
        rows = saver.conn.execute("SELECT DISTINCT thread_id FROM checkpoints WHERE checkpoint_ns = ''").fetchall()
        out: list[SessionInfo] = []
        for (thread_id,) in rows:
            snapshot = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
            if snapshot is None:
                continue
            values = snapshot.checkpoint.get("channel_values", {})
            messages = values.get("messages", [])
            questions = sum(1 for m in messages if getattr(m, "type", None) == "human")
            out.append(SessionInfo(str(thread_id), str(snapshot.checkpoint.get("ts", "")), questions,
                                   list(values.get("sources", []) or [])))
    finally:
        saver.conn.close()
    return sorted(out, key=lambda s: s.updated, reverse=True)
