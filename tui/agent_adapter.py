"""The real agent (agent.Sleuth) behind the pane's `AgentLike` interface: adopts the TUI's audit, streams answers.

Only ids go with a question (the selected `file:line`, the anomaly id, the filter), never log text: log text is
untrusted and reaches the model only through the agent's own tools, delimited as data.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from agent.citations import cited_ids

_DONE = object()


class RealAgent:
    """`agent.Sleuth` with an optional saved session, behind the app's `AgentLike` protocol.

    Args:
        session: Save and resume the conversation under this name (SQLite sessions of agent/).
        settings: Resolved settings (default: `agent.load_settings()`); audits are never explained on adoption,
            the model is asked only when the user asks.
        llm: A ready back end (tests pass a scripted one).
    """

    adopts_in_background = True  # building the evidence store takes a moment: the app does it off the UI thread

    def __init__(self, session: str | None = None, settings: Any = None, llm: Any = None) -> None:
        from agent import Sleuth, load_settings

        settings = replace(settings or load_settings(), explain=False)
        self.sleuth = Sleuth(settings, llm=llm, session=session)
        self.session = session
        self.last_answer: str | None = None  # the citation-checked text of the last reply
        self.last_citations: list[str] | None = None
        self._lock = threading.Lock()

    def adopt(self, result: Any, paths: Sequence[str]) -> None:
        """Make the TUI's audit the agent's: hypotheses and the evidence store are built from it (no model call)."""
        with self._lock:
            self.sleuth.explain(result, list(paths))

    def hypotheses(self) -> list[dict[str, Any]]:
        """The session's ranked hypotheses."""
        with self._lock:
            return list(self.sleuth.state.get("hypotheses") or [])

    def history(self) -> list[tuple[str, str]]:
        """The saved (question, answer) pairs of the session."""
        with self._lock:
            return self.sleuth.history()

    def ask(self, question: str, context: dict[str, Any]) -> Iterator[str]:
        """Ask with the selection's ids prefixed; tokens stream as the model writes them."""
        prefix = []
        if context.get("anomaly"):
            prefix.append(f"selected anomaly [{context['anomaly']['id']}]")
        if context.get("where"):
            prefix.append(f"selected line [{context['where']}]")
        if context.get("filter"):
            prefix.append(f"log filter {context['filter']!r}")
        full = f"({'; '.join(prefix)}) {question}" if prefix else question
        tokens: queue.Queue[object] = queue.Queue()
        answer: dict[str, Any] = {}

        def run() -> None:
            try:
                with self._lock:
                    reply = self.sleuth.ask(full, on_token=tokens.put)
                answer["text"] = reply.text
                answer["citations"] = cited_ids(reply.text)  # the checked text keeps only resolvable ones
            except Exception as error:  # noqa: BLE001 - surfaced to the pane as the turn's error
                answer["error"] = f"{type(error).__name__}: {error}"
            finally:
                tokens.put(_DONE)

        self.last_answer, self.last_citations = None, None
        threading.Thread(target=run, name="sleuth-agent-ask", daemon=True).start()
        while (item := tokens.get()) is not _DONE:
            yield str(item)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        self.last_answer = answer.get("text")
        self.last_citations = answer.get("citations")

    def close(self) -> None:
        """Close the sessions database."""
        self.sleuth.close()
