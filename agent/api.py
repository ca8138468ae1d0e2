"""The Python API for scripts: `Sleuth(...).audit(paths)` and `.ask(question)`.

```python
from agent import Sleuth, load_settings
sleuth = Sleuth(load_settings(), session="nightly")
report = sleuth.audit(["/var/log/app/"])          # detectors + explanation (or "explanation unavailable: ...")
print(sleuth.ask("what happened on db-01 around 03:10?").text)
```
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from agent.backends import NoLLM, UnavailableLLM, make_llm  # noqa: F401 - re-exported (callers import them from here)
from agent.graph import build_graph, history_pairs
from agent.llm import LLM, LLMUnavailable
from agent.sessions import open_checkpointer, session_config
from agent.settings import Settings
from detectors.pipeline import AuditOptions, AuditResult
from detectors.report import Report
from tools import TOOLS, Tool, Workspace


@dataclass(slots=True)
class Answer:
    """The agent's reply to one question."""

    text: str  # with unresolvable citations removed
    citations: dict[str, Any] = field(default_factory=dict)  # resolved / total / dropped
    steps: list[dict[str, Any]] = field(default_factory=list)  # tool calls made for it (and rejected ones)
    status: str = "ok"  # "ok" whenever there is an answer (the deterministic one stands when the model fails)
    kind: str | None = None  # what was asked: what_happened, root_cause, onset, around, related, context, ...
    source: str = "deterministic"  # "model" when the model's rephrasing passed the checks and is shown
    reason: str | None = None  # why the model's text was not used, when it was not


class Sleuth:
    """An agent over some logs, with an optional saved session.

    Args:
        settings: Resolved settings (defaults when None).
        llm: A ready back end (default: built from `settings` on first use; if that fails, audits still run and
            say "explanation unavailable: <reason>").
        session: Save the conversation under this name (SQLite, `settings.sessions_path`) and resume it if it
            exists; None keeps it in memory.
        audit_options: How audits run (default: `settings.detector` and `settings.window`).
        tools: The read-only tools the model may call.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        llm: LLM | None = None,
        session: str | None = None,
        audit_options: AuditOptions | None = None,
        tools: Sequence[Tool] = TOOLS,
    ) -> None:
        self.settings = settings or Settings()
        options = audit_options or AuditOptions(detector=self.settings.detector)
        if audit_options is None and self.settings.window:
            options = replace(options, window=self.settings.window)
        self.workspace = Workspace(options)
        self.session = session
        self.tools = tuple(tools)
        self._llm = llm
        self._checkpointer: Any = open_checkpointer(self.settings.sessions_path) if session else InMemorySaver()
        self._config = session_config(session) if session else {"configurable": {"thread_id": f"run-{uuid.uuid4().hex[:8]}"}}
        self._graph: Any = None

    @property
    def llm(self) -> LLM:
        """The back end, built on first use."""
        if self._llm is None:
            try:
                self._llm = make_llm(self.settings)
            except LLMUnavailable as error:
                self._llm = UnavailableLLM(str(error))
        return self._llm

    @property
    def graph(self) -> Any:
        """The compiled agent."""
        if self._graph is None:
            s = self.settings
            self._graph = build_graph(
                self.llm, self.workspace, tools=self.tools, decisions=s.decisions, max_steps=s.max_steps, explain_top=s.explain_top,
                explain=s.explain, max_tokens=s.max_tokens, checkpointer=self._checkpointer,
                planner=s.planner, rephrase=s.rephrase,
            )
        return self._graph

    @property
    def state(self) -> dict[str, Any]:
        """The session's saved state (empty for a new session)."""
        return dict(self.graph.get_state(self._config).values)

    def audit(self, paths: Sequence[str], *, explain: bool | None = None) -> Report:
        """Audit `paths` with the detectors and explain the top anomalies.

        The report always carries the detectors' verdicts and an explanation: the model's, when it passes the
        checks, else the deterministic one from the incident engine (status "deterministic", with the reason).

        Raises:
            ToolInputError: If no path can be audited (the message says why).
        """
        if explain is not None and explain != self.settings.explain:
            self.settings = replace(self.settings, explain=explain)
            self._graph = None
        state = self.graph.invoke({"mode": "triage", "sources": [str(p) for p in paths]}, self._config)
        report = self.workspace.result.report
        report.explanation = state.get("explanation")
        return report

    def explain(self, result: AuditResult, paths: Sequence[str]) -> Report:
        """Explain an audit that was run elsewhere (e.g. by `sleuth audit`); the report is returned filled in."""
        self.workspace.adopt(result, paths)
        return self.audit(paths)

    def ask(self, question: str, *, on_token: Callable[[str], None] | None = None) -> Answer:
        """Answer a question about the audited logs, calling read-only tools as needed; tokens stream to `on_token`.

        Log text never decides which tools run: see `agent.prompts`.
        """
        final: dict[str, Any] = {}
        turn = {"mode": "chat", "messages": [HumanMessage(question)], "steps": [], "pending": None, "error": None}
        for mode, chunk in self.graph.stream(turn, self._config, stream_mode=["custom", "values"]):
            if mode == "custom" and on_token is not None and isinstance(chunk, dict) and "token" in chunk:
                on_token(str(chunk["token"]))
            elif mode == "values":
                final = chunk
        reply = final["messages"][-1]
        meta = reply.response_metadata if isinstance(reply, AIMessage) else {}
        return Answer(str(reply.content), dict(meta.get("citations", {})), list(meta.get("steps", [])),
                      str(meta.get("status", "ok")), meta.get("kind"), str(meta.get("source", "deterministic")),
                      meta.get("reason"))

    def history(self) -> list[tuple[str, str]]:
        """The session's (question, answer) pairs so far."""
        return history_pairs(self.state.get("messages", []))

    def close(self) -> None:
        """Close the sessions database."""
        conn = getattr(self._checkpointer, "conn", None)
        if conn is not None:
            conn.close()
