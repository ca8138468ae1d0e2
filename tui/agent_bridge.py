"""What the agent pane needs from an agent, a scripted one for tests, and the offline fallback.

The app talks to an `AgentLike` (the one agent protocol: ask, hypotheses, adopt, history, close, and the last
answer's checked text and citations). `connect_agent` wires the real LangGraph agent (agent/) when it is importable and
falls back to `EvidenceAgent`, which answers from the detectors' evidence alone, so the pane always works offline.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class AgentLike(Protocol):
    """An agent the triage app can talk to: everything the app calls, declared (no probing)."""

    # True when `adopt` does real work (the real agent builds its evidence store): the app calls it off the UI thread.
    adopts_in_background: bool
    last_answer: str | None  # the citation-checked text of the last reply (None: use the streamed text)
    last_citations: list[str] | None  # its citations (None: parse them from the text)

    def adopt(self, result: Any, paths: Sequence[str]) -> None:
        """Take the app's audit (`detectors.pipeline.AuditResult`) as the conversation's evidence."""
        ...

    def history(self) -> list[tuple[str, str]]:
        """The saved (question, answer) pairs of a reopened session (empty when none)."""
        ...

    def close(self) -> None:
        """Release what the agent holds (the sessions database); called once when the app exits."""
        ...

    def ask(self, question: str, context: dict[str, Any]) -> Iterator[str]:
        """Answer `question` about what is on screen (`context`: selection, anomaly, filter…), streaming chunks."""
        ...

    def hypotheses(self) -> list[dict[str, Any]]:
        """Ranked hypotheses: dicts with id, title, confidence and evidence (ids to cite)."""
        ...


def citations(text: str) -> list[str]:
    """The citation ids in `text`, in order, unique: `A1`, `A1.e2`, `H1`, `file:line` (agent/citations.py's grammar;
    imported on first use, so the app paints before the agent package loads)."""
    from agent.citations import cited_ids

    return cited_ids(text)


@dataclass
class ScriptedAgent:
    """An agent that replies from a script, chunk by chunk, and records what it was asked (for tests).

    Args:
        replies: One reply per question, in order; the last one repeats.
        scripted_hypotheses: What `hypotheses` returns.
        delay: Seconds between chunks, to exercise streaming.
    """

    replies: Sequence[str]
    scripted_hypotheses: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    questions: list[str] = field(default_factory=list)
    contexts: list[dict[str, Any]] = field(default_factory=list)
    adopts_in_background: bool = False
    last_answer: str | None = None
    last_citations: list[str] | None = None

    def adopt(self, result: Any, paths: Sequence[str]) -> None:
        """A scripted agent needs no audit."""

    def history(self) -> list[tuple[str, str]]:
        """No saved session."""
        return []

    def close(self) -> None:
        """Nothing to release."""

    def ask(self, question: str, context: dict[str, Any]) -> Iterator[str]:
        """Stream the next scripted reply word by word."""
        self.questions.append(question)
        self.contexts.append(dict(context))
        reply = self.replies[min(len(self.questions) - 1, len(self.replies) - 1)] if self.replies else ""
        for word in re.findall(r"\S+\s*", reply):
            if self.delay:
                time.sleep(self.delay)
            yield word

    def hypotheses(self) -> list[dict[str, Any]]:
        """The scripted hypotheses."""
        return list(self.scripted_hypotheses)


class EvidenceAgent:
    """The offline fallback: answers from the detectors' evidence, without a language model.

    It is what the pane uses when no agent can be built (no model configured, agent/ not importable): the user
    still gets the ranked hypotheses and the evidence for the selection, cited, and a line saying why there is
    no model.
    """

    adopts_in_background = False

    def __init__(self, reason: str = "no language model is configured") -> None:
        self.reason = reason
        self.report: Any = None  # detectors.report.Report, set once the audit is done
        self.last_answer: str | None = None
        self.last_citations: list[str] | None = None

    def adopt(self, result: Any, paths: Sequence[str]) -> None:
        """Keep the audit's report: the hypotheses and answers come from it."""
        self.report = result.report

    def history(self) -> list[tuple[str, str]]:
        """No saved session without the agent."""
        return []

    def close(self) -> None:
        """Nothing to release."""

    def hypotheses(self) -> list[dict[str, Any]]:
        """Hypotheses from agent.hypotheses (deterministic), or one per top anomaly when agent/ is absent."""
        if self.report is None:
            return []
        try:
            from agent.hypotheses import form_hypotheses

            return form_hypotheses(self.report)
        except Exception:  # noqa: BLE001 - agent/ may be mid-change; the simple form below still helps
            return [
                {"id": f"H{i}", "title": f"{a.severity} anomaly at {a.where}: {a.template or a.text}",
                 "confidence": "low", "evidence": [a.id] + [e.id for e in a.evidence[:2]]}
                for i, a in enumerate(self.report.anomalies[:3], 1)
            ]

    def ask(self, question: str, context: dict[str, Any]) -> Iterator[str]:
        """Summarise the evidence for the selection and the hypotheses, citing ids."""
        yield f"(explanation unavailable: {self.reason}; here is what the detectors found.)\n\n"
        anomaly = context.get("anomaly")
        if anomaly:
            yield (f"The selected line {context.get('where', '')} is in anomaly [{anomaly['id']}]: "
                   f"score {anomaly['score']:.3g} vs threshold {anomaly['threshold']:.3g} ({anomaly['severity']}).\n")
            for e in anomaly.get("evidence", [])[:4]:
                yield f"- {e['summary']} [{e['id']}]\n"
        elif context.get("where"):
            yield f"The selected line {context['where']} is not in a flagged window.\n"
        hyps = self.hypotheses()
        if hyps:
            yield "\nHypotheses, ranked:\n"
            for h in hyps:
                cited = ", ".join(h.get("evidence", [])[:3])
                yield f"{h['id']}. {h['title']} ({h.get('confidence', '?')} confidence) [{cited}]\n"


def connect_agent(session: str | None = None, settings: Any = None) -> tuple[AgentLike, str | None]:
    """The real agent when agent/ provides one, else the evidence-only fallback and the reason.

    Args:
        session: The saved session to reopen (or start) under this name.
        settings: The agent's resolved settings (`agent.load_settings`, done by the CLI); None loads them.

    Returns:
        The agent, and a note for the user when the fallback is used (None when the real agent is wired).
    """
    try:
        from tui.agent_adapter import RealAgent
    except ImportError as error:
        reason = f"the agent is not available ({error})"
        return EvidenceAgent(reason), reason
    try:
        return RealAgent(session=session, settings=settings), None
    except Exception as error:  # noqa: BLE001 - any failure to build the agent degrades to the fallback
        reason = f"the agent could not start: {error}"
        return EvidenceAgent(reason), reason
