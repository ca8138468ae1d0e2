"""The LangGraph agent: a triage path that never depends on the model choosing tools, and a conversation path.

```
START ─┬─ triage ─► audit ─► hypothesize ─► explain ─┐
       └─ chat ───► plan ◄──► act                    ├─► cite ─► END
                     └──────► answer ────────────────┘
```
- **triage**: the system (not the model) audits the sources, forms ranked hypotheses from the evidence, then asks
  the model for a schema-constrained explanation; if the model is down or talks nonsense, the deterministic
  evidence summary stands alone with "explanation unavailable: <reason>".
- **chat**: the planner picks one read-only tool at a time as a schema-constrained JSON decision (tool name enum +
  args) or a native tool call; `act` validates the arguments and rejects an invalid call without running it;
  `answer` streams the reply from the tool results. The planner never sees log text (see `agent.prompts`).
- **cite**: resolves every citation against the evidence store, drops and counts unresolvable ones, hedges
  wording when the evidence is thin.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, ValidationError

from agent import prompts
from agent.citations import EvidenceItem, EvidenceStore, check_citations, hedge
from agent.hypotheses import form_hypotheses
from agent.llm import LLM, LLMError
from agent.state import AgentState
from tools import TOOLS, Tool, ToolArgsError, ToolInputError, Workspace
from tools.base import clip


class _ExplainedHypothesis(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    explanation: str
    cites: list[str] = []


class _Explained(BaseModel):
    model_config = ConfigDict(extra="ignore")
    summary: str
    hypotheses: list[_ExplainedHypothesis] = []


def tool_catalogue(tools: Sequence[Tool]) -> str:
    """One line per tool: name(arg: type, optional?: type) - what it does."""
    lines = []
    for tool in tools:
        schema = tool.schema()
        required = set(schema.get("required", []))
        args = []
        for name, prop in schema.get("properties", {}).items():
            kind = prop.get("type") or "/".join(p.get("type", "?") for p in prop.get("anyOf", []) if p.get("type") != "null")
            if "enum" in prop:
                kind = "|".join(map(str, prop["enum"]))
            args.append(f"{name}{'' if name in required else '?'}: {kind}")
        lines.append(f"- {tool.name}({', '.join(args)}): {tool.description}")
    return "\n".join(lines)


def openai_tool_specs(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    """The tools in OpenAI function-calling form, for native tool calls."""
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.schema()}}
        for t in tools
    ]


def _verdicts(workspace: Workspace) -> list[dict[str, Any]]:
    return [
        {"id": a.id, "where": a.where, "time": a.time, "severity": a.severity, "score": a.score,
         "threshold": a.threshold, "template_id": a.template_id, "detector": a.detector}
        for a in workspace.result.report.anomalies
    ]


def findings_lines(state: AgentState, limit: int = 10) -> list[str]:
    """The findings as ids, severities, scores, times and places only: safe for the planner (no log text)."""
    lines = [
        f"{v['id']}: {v['severity']}, score {v['score']:.3g}/{v['threshold']:.3g}, {v['time'] or 'no time'}, "
        f"at {v['where']}, template T{v['template_id']}"
        for v in (state.get("verdicts") or [])[:limit]
    ]
    lines += [
        f"{h['id']} ({h['kind']}, {h['confidence']} confidence): evidence {', '.join(h['evidence'][:6])}"
        for h in state.get("hypotheses") or []
    ]
    return lines


def build_graph(
    llm: LLM,
    workspace: Workspace | None = None,
    *,
    tools: Sequence[Tool] = TOOLS,
    decisions: str = "json",
    max_steps: int = 4,
    explain_top: int = 3,
    explain: bool = True,
    max_tokens: int | None = None,
    checkpointer: Any = None,
) -> Any:
    """Compile the agent. The model (and the workspace) are passed in so tests can script them.

    Args:
        llm: Any `LLM` (embedded, vLLM, or a scripted fake wrapped in `ChatModelLLM`).
        workspace: The data the tools query (a new one when None).
        tools: The read-only tools the planner may call.
        decisions: "json" (a schema-constrained decision, which any back end can give) or "native" tool calls.
        max_steps: Tool calls per question.
        explain_top: Anomalies shown to the model when explaining an audit.
        explain: Ask the model to explain audits (False: the deterministic summary only).
        max_tokens: Bound per model call (None: the back end's default).
        checkpointer: A LangGraph checkpointer, to save and resume sessions.
    """
    ws = workspace or Workspace()
    by_name = {t.name: t for t in tools}

    def route_turn(state: AgentState) -> str:
        return "triage" if state.get("mode") == "triage" else "chat"

    # ------------------------------------------------------------------------------------------- triage path

    def audit(state: AgentState) -> dict[str, Any]:
        sources = list(state.get("sources") or [])
        if not sources:
            raise ToolInputError("triage needs log sources: pass the paths of the logs to audit")
        ws.ensure(sources)
        return {
            "verdicts": _verdicts(ws),
            "calls": [{"tool": "audit_source", "args": {"paths": sources}, "by": "system", "executed": True, "ok": True}],
        }

    def hypothesize(state: AgentState) -> dict[str, Any]:
        report = ws.result.report
        hypotheses = form_hypotheses(report)
        store = EvidenceStore.from_report(report)
        for h in hypotheses:
            store.add(EvidenceItem(h["id"], "hypothesis", clip(h["title"], 200)))
        return {"hypotheses": hypotheses, "evidence": store.to_dict()}

    def explain_node(state: AgentState) -> dict[str, Any]:
        report = ws.result.report
        hypotheses = state.get("hypotheses") or []
        if not report.anomalies:
            return {"draft": {"status": "nothing"}, "error": None}
        if not explain:
            return {"draft": {"status": "skipped"}, "error": None}
        # The strongest anomaly of each hypothesis first, then the rest by rank, up to explain_top.
        leads = [h["anomalies"][0] for h in hypotheses if h["anomalies"]]
        by_id = {a.id: a for a in report.anomalies}
        order = list(dict.fromkeys([*leads, *(a.id for a in report.anomalies)]))
        shown = [by_id[i] for i in order if i in by_id][:explain_top]
        t = report.totals
        headline = (
            f"Audit of {t.sources} source(s), {t.events} events by the {report.detector} detector ({report.windowing}): "
            f"{t.anomalous_windows} anomalous windows, {len(report.anomalies)} anomalies."
        )
        messages = prompts.explain_messages(headline, hypotheses, shown)
        offered = list(dict.fromkeys(e for h in hypotheses for e in h["evidence"]))
        schema = prompts.explain_schema([h["id"] for h in hypotheses], offered)
        started = time.perf_counter()
        try:
            raw = llm.complete_json(messages, schema, max_tokens=max_tokens)
            parsed = _Explained.model_validate(raw)
        except LLMError as error:
            return {"draft": {"status": "unavailable", "reason": str(error)}, "error": str(error)}
        except ValidationError as error:
            reason = f"the model's answer did not match the schema ({error.error_count()} problems)"
            return {"draft": {"status": "unavailable", "reason": reason}, "error": reason}
        answer = parsed.model_dump()
        # Drop sentences that only repeat the prompt's example; with nothing left, say so.
        if prompts.copies_example(answer.get("summary", "")):
            answer["summary"] = ""
        answer["hypotheses"] = [h for h in answer.get("hypotheses", [])
                                if not prompts.copies_example(str(h.get("explanation", "")))]
        if not answer["summary"].strip() and not answer["hypotheses"]:
            reason = "the model repeated the prompt's example instead of explaining these anomalies"
            return {"draft": {"status": "unavailable", "reason": reason}, "error": reason}
        return {"draft": {"status": "ok", "answer": answer, "seconds": time.perf_counter() - started}}

    # ------------------------------------------------------------------------------------- conversation path

    def plan(state: AgentState) -> dict[str, Any]:
        steps = list(state.get("steps") or [])
        if len(steps) >= max_steps:
            return {"pending": None}
        if sum(1 for s in steps if not s["ok"]) >= 2:  # the model is not converging: answer with what there is
            return {"pending": None}
        questions = [str(m.content) for m in state.get("messages", []) if isinstance(m, HumanMessage)]
        messages = prompts.plan_messages(questions, findings_lines(state), tool_catalogue(tools), steps)
        try:
            if decisions == "native":
                calls = llm.tool_calls(messages, openai_tool_specs(tools), tool_choice="auto")  # type: ignore[attr-defined]
                decision = {"tool": calls[0][0], "args": calls[0][1]} if calls else {"tool": "answer", "args": {}}
            else:
                decision = llm.complete_json(messages, prompts.decision_schema(tools), max_tokens=160)
        except LLMError as error:
            return {"pending": None, "error": str(error)}
        name = decision.get("tool")
        if not name or name == "answer":
            return {"pending": None}
        if any(s["tool"] == name and s["args"] == decision.get("args") for s in steps):
            return {"pending": None}  # the same call again would return the same thing
        return {"pending": {"tool": str(name), "args": decision.get("args")}}

    def after_plan(state: AgentState) -> str:
        return "act" if state.get("pending") else "answer"

    def act(state: AgentState) -> dict[str, Any]:
        pending = state.get("pending") or {}
        name, raw = str(pending.get("tool")), pending.get("args")
        step: dict[str, Any] = {"tool": name, "args": raw if isinstance(raw, dict) else {"raw": str(raw)[:200]},
                                "ok": False, "executed": False, "count": 0, "error": None, "output": "", "cited": []}
        tool = by_name.get(name)
        if tool is None:
            step["error"] = f"there is no tool {name!r}; the tools are: {', '.join(by_name)}. The call was not run."
        else:
            try:
                args = tool.validate(raw)
            except ToolArgsError as error:
                step["error"] = f"{error}. The call was rejected and not run."
            else:
                if state.get("sources") and not ws.has_result:
                    ws.ensure(state["sources"])  # a resumed session: rebuild the audit the tools query
                step["executed"] = True
                try:
                    out = tool.run(ws, args)
                except ToolInputError as error:  # the model can fix these; bugs propagate
                    step["error"] = str(error)
                else:
                    step.update(ok=True, count=out.count, output=out.text,
                                cited=[{"where": c.where, "summary": c.summary} for c in out.cited[:50]])
        update: dict[str, Any] = {
            "steps": [*(state.get("steps") or []), step],
            "pending": None,
            "calls": [{"tool": name, "args": step["args"], "by": "model", "executed": step["executed"], "ok": step["ok"]}],
        }
        if step["ok"] and name == "audit_source":
            hyps = form_hypotheses(ws.result.report)
            store = EvidenceStore.from_report(ws.result.report)
            update.update(sources=list(ws.sources), verdicts=_verdicts(ws), hypotheses=hyps, evidence=store.to_dict())
        return update

    def answer(state: AgentState) -> dict[str, Any]:
        messages = state.get("messages", [])
        question = str(messages[-1].content) if messages else ""
        history = history_pairs(messages[:-1])
        tool_lines: list[str] = []
        for s in state.get("steps") or []:
            head = f"[{s['tool']}] " + ("ok" if s["ok"] else f"error: {s['error']}")
            tool_lines += [head, *s["output"].splitlines()]
        prompt = prompts.answer_messages(question, findings_lines(state), tool_lines, history)
        writer = get_stream_writer()
        parts: list[str] = []
        try:
            for chunk in llm.stream(prompt, max_tokens=max_tokens):
                parts.append(chunk)
                writer({"token": chunk})
        except LLMError as error:
            fallback = _fallback_answer(state, str(error))
            writer({"token": fallback})
            return {"draft": {"status": "unavailable", "reason": str(error), "text": fallback}, "error": str(error)}
        return {"draft": {"status": "ok", "text": "".join(parts)}, "error": state.get("error")}

    # ------------------------------------------------------------------------------------------------ cite

    def cite(state: AgentState) -> dict[str, Any]:
        store = EvidenceStore.from_dict(state.get("evidence"))
        draft = state.get("draft") or {}
        if state.get("mode") == "triage":
            return {"explanation": _final_explanation(state, store, draft, llm.name), "draft": None}
        n = sum(1 for k in store.items if k.startswith("E"))
        for s in state.get("steps") or []:
            for c in s.get("cited", []):
                if store.resolve(c["where"]) is None:
                    n += 1
                    store.add(EvidenceItem(f"E{n}", "event", c["summary"], where=c["where"]))
        checked = check_citations(str(draft.get("text", "")), store)
        meta = {"citations": {"resolved": len(checked.resolved), "total": checked.total, "dropped": checked.dropped},
                "status": draft.get("status", "ok"), "steps": [{k: s[k] for k in ("tool", "args", "ok", "executed", "error")}
                                                              for s in state.get("steps") or []]}
        return {"messages": [AIMessage(checked.text, response_metadata=meta)], "evidence": store.to_dict(),
                "draft": None, "steps": [], "pending": None}

    graph = StateGraph(AgentState)
    graph.add_node("audit", audit)
    graph.add_node("hypothesize", hypothesize)
    graph.add_node("explain", explain_node)
    graph.add_node("plan", plan)
    graph.add_node("act", act)
    graph.add_node("answer", answer)
    graph.add_node("cite", cite)
    graph.add_conditional_edges(START, route_turn, {"triage": "audit", "chat": "plan"})
    graph.add_edge("audit", "hypothesize")
    graph.add_edge("hypothesize", "explain")
    graph.add_edge("explain", "cite")
    graph.add_conditional_edges("plan", after_plan, {"act": "act", "answer": "answer"})
    graph.add_edge("act", "plan")
    graph.add_edge("answer", "cite")
    graph.add_edge("cite", END)
    return graph.compile(checkpointer=checkpointer)


def history_pairs(messages: Sequence[Any]) -> list[tuple[str, str]]:
    """The (question, answer) pairs of a conversation, oldest first."""
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for m in messages:
        if isinstance(m, HumanMessage):
            question = str(m.content)
        elif isinstance(m, AIMessage) and question is not None:
            pairs.append((question, str(m.content)))
            question = None
    return pairs


def _fallback_answer(state: AgentState, reason: str) -> str:
    """What the user gets when the model cannot answer: the tool results, verbatim, and why."""
    lines = [f"answer unavailable: {reason}"]
    for s in state.get("steps") or []:
        lines.append(f"{s['tool']}: " + (s["output"] if s["ok"] else f"error: {s['error']}"))
    if len(lines) == 1:
        lines += findings_lines(state)
    return "\n".join(lines)


def _final_explanation(state: AgentState, store: EvidenceStore, draft: dict[str, Any], model: str) -> dict[str, Any]:
    """The report's `explanation`: the deterministic evidence summary, plus the checked, hedged model text."""
    hypotheses = [dict(h) for h in state.get("hypotheses") or []]
    evidence_summary = [f"{h['id']} ({h['confidence']}): {h['title']}" for h in hypotheses]
    out: dict[str, Any] = {"model": model, "status": draft.get("status", "unavailable"),
                           "evidence_summary": evidence_summary, "hypotheses": hypotheses}
    status = draft.get("status")
    if status == "nothing":
        out.update(status="ok", text="No anomalies at or above the detector's threshold; nothing to explain.")
        return out
    if status == "skipped":
        out.update(text="explanation skipped (--no-explain); the evidence summary stands alone.")
        return out
    if status != "ok":
        out.update(text=f"explanation unavailable: {draft.get('reason', 'no answer')}", reason=draft.get("reason"))
        return out
    answer = draft["answer"]
    by_id = {h["id"]: h for h in hypotheses}
    resolved: list[str] = []
    dropped: list[str] = []
    total = 0
    paragraphs: list[str] = []
    for item in answer.get("hypotheses", []):
        h = by_id.get(item["id"])
        if h is None or h.get("explanation"):
            continue  # an id the prompt did not offer, or a repeat
        checked = check_citations(item["explanation"], store, extra=item.get("cites", []))
        total += checked.total
        dropped += checked.dropped
        resolved += [r for r in checked.resolved if r not in resolved]
        text = hedge(checked.text, h["confidence"], h.get("confidence_reason"))
        h["explanation"] = text
        h["cited"] = checked.resolved
        paragraphs.append(f"{h['id']}: {text}")
    summary = check_citations(answer.get("summary", ""), store)
    total += summary.total
    dropped += summary.dropped
    resolved += [r for r in summary.resolved if r not in resolved]
    top = hypotheses[0] if hypotheses else {"confidence": "low", "confidence_reason": "no hypothesis"}
    summary_text = hedge(summary.text, top["confidence"], top.get("confidence_reason"))
    out.update(
        text="\n\n".join([p for p in [summary_text, *paragraphs] if p]) or "explanation unavailable: the model wrote nothing",
        summary=summary_text,
        citations={"resolved": total - len(dropped), "total": total, "dropped": dropped, "ids": resolved},
        seconds=round(float(draft.get("seconds", 0.0)), 3),
    )
    return out


def graph_mermaid(graph: Any) -> str:
    """The compiled graph's shape as Mermaid text (what the snapshot test pins)."""
    return str(graph.get_graph().draw_mermaid(with_styles=False))


def dumps_state(state: dict[str, Any]) -> str:
    """A state as JSON text, for debugging and `sleuth sessions --show`."""
    return json.dumps({k: v for k, v in state.items() if k != "messages"}, default=str, indent=2)
