"""What flows between the graph's nodes, and is saved with a session (plain, JSON-like values only)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class AgentState(TypedDict, total=False):
    """The agent's state.

    `messages` holds the conversation (questions and answers, never tool output); `steps` the current question's
    tool steps; `calls` the audit trail of every tool call ever executed or rejected, with who asked for it.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    mode: Literal["triage", "chat"]
    sources: list[str]  # the audited log paths
    verdicts: list[dict[str, Any]]  # compact anomaly records: id, where, time, severity, score, threshold, template_id
    hypotheses: list[dict[str, Any]]  # ranked, from agent.hypotheses.form_hypotheses
    evidence: dict[str, Any]  # EvidenceStore.to_dict()
    explanation: dict[str, Any] | None  # the triage explanation (the report's `explanation`)
    draft: dict[str, Any] | None  # the model's raw output, before the citation check
    steps: list[dict[str, Any]]  # this question's tool steps
    pending: dict[str, Any] | None  # the planner's next tool call, before validation
    calls: Annotated[list[dict[str, Any]], operator.add]  # every tool call: tool, args, by, executed, ok
    error: str | None  # why the model could not be used this turn, when it could not
    grounded: dict[str, Any] | None  # the deterministic answer (text, facts, confidence, kind, cited)
    system_steps: list[dict[str, Any]]  # the read-only tool calls the deterministic path made this turn
    focus: str | None  # the file:line the previous answer was about ("show the lines around it")
