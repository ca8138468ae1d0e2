"""The LangGraph agent: answers stand on a deterministic path; a model may only rephrase them, checked.

```
START ─┬─ triage ─► audit ─► hypothesize ─► explain ─────────┐
       └─ chat ───► ground ─► plan ◄──► act                   ├─► cite ─► END
                               └──────► phrase ──────────────┘
```
- **triage**: the system (not the model) audits the sources, forms ranked hypotheses and the deterministic
  explanation from the incident engine, then asks the model for a schema-constrained explanation; the model's text
  is kept only if it passes `agent.vet`, else the deterministic explanation stands (with the reason).
- **chat**: `ground` answers the question deterministically (`agent.answer`: the question is classified, the
  incident engine and the read-only tools answer it, every claim cited). A capable served model (`planner`) may
  then plan extra read-only tool calls, one at a time, as a schema-constrained decision over the tools that can run
  (`agent.toolset`); `act` validates the arguments and a call that fails validation is never run and ends the
  planning. `phrase` lets the model rephrase the answer; its text is kept only if `agent.vet` accepts it.
  The planner never sees log text (see `agent.prompts`).
- **cite**: one citation check (`agent.citations`) over whatever text is shown: unresolvable or mismatched
  citations are dropped and counted.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, ValidationError

from agent import prompts
from agent.answer import answer_question, explain_triage
from agent.citations import EvidenceItem, EvidenceStore, check_citations, hedge
from agent.hypotheses import form_hypotheses
from agent.llm import LLM, LLMError
from agent.state import AgentState
from agent.toolset import offered_tools
from agent.vet import MARKUP, has_markup, repeats, vet_model_text
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
    """The tools in OpenAI function-calling form, for native tool calls.

    Each is marked `strict`: the server then constrains the arguments to the tool's schema, not only the call's
    envelope. vLLM 0.32 (strict tool calling on by default) builds a forced call (`tool_choice="required"`) from the
    model's own tool-call format and pins argument schemas only for strict tools; without it SmolLM2 wrote
    `"arguments": [{"context": "1705.11.2017.11…"` until the token bound and no call came back.
    """
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.schema(),
                                          "strict": True}}
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
    planner: bool = False,
    rephrase: bool = True,
    rephrase_s: float | None = 12.0,
    explain_s: float | None = 30.0,
) -> Any:
    """Compile the agent. The model (and the workspace) are passed in so tests can script them.

    Args:
        llm: Any `LLM` (embedded, vLLM, or a scripted fake wrapped in `ChatModelLLM`).
        workspace: The data the tools query (a new one when None).
        tools: The read-only tools a planner may be offered (only those that can run are).
        decisions: "json" (a schema-constrained decision, which any back end can give) or "native" tool calls.
        max_steps: Extra tool calls a planner may make per question.
        explain_top: Anomalies shown to the model when explaining an audit.
        explain: Ask the model to explain audits (False: the deterministic explanation only).
        max_tokens: Bound per model call (None: the back end's default).
        checkpointer: A LangGraph checkpointer, to save and resume sessions.
        planner: Let the model plan extra tool calls (for a capable served model; a small one picks junk).
        rephrase: Let the model rephrase the deterministic answer (its text is vetted; False: never ask it).
        rephrase_s: Time bound on a rephrasing, for back ends with a generation deadline (the embedded engine):
            past it the deterministic answer stands.
        explain_s: The same bound on the audit's explanation (past it, the deterministic explanation stands).
    """
    ws = workspace or Workspace()
    by_name = {t.name: t for t in tools}
    use_model = llm.name != "none"

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
        grounded = explain_triage(ws, store)
        return {"hypotheses": hypotheses, "evidence": store.to_dict(),
                "grounded": {"text": grounded.text, "facts": grounded.facts, "confidence": grounded.confidence,
                             "kind": "explanation", "cited": grounded.cited}}

    def explain_node(state: AgentState) -> dict[str, Any]:
        report = ws.result.report
        hypotheses = state.get("hypotheses") or []
        if not report.anomalies and not (state.get("grounded") or {}).get("cited"):
            return {"draft": {"status": "nothing"}, "error": None}
        if not explain or not use_model:
            return {"draft": {"status": "skipped", "reason": "no model asked (--llm none)" if explain else
                              "explanation skipped (--no-explain)"}, "error": None}
        grounded = state.get("grounded") or {}
        if getattr(llm, "prefers_text", False):  # a small local model: it may only rephrase the deterministic text
            store = EvidenceStore.from_dict(state.get("evidence"))
            prompt = prompts.rephrase_messages("What happened in these logs?", grounded.get("facts") or [])
            started = time.perf_counter()
            try:
                with _budget(llm, explain_s):
                    text = "".join(llm.stream(prompt, max_tokens=min(max_tokens or 160, 160)))
            except LLMError as error:
                return {"draft": {"status": "unavailable", "reason": str(error)}, "error": str(error)}
            base = str(grounded.get("text", ""))
            corpus = [base, *(i.summary for i in store.items.values()), *(i.text or "" for i in store.items.values())]
            verdict = vet_model_text(text, store, corpus, names=[i.host or "" for i in store.items.values()],
                                     max_chars=max(400, int(len(base) * 1.5)))
            if not verdict.ok:
                return {"draft": {"status": "unavailable", "reason": verdict.reason}, "error": verdict.reason}
            return {"draft": {"status": "ok", "text": verdict.text, "seconds": time.perf_counter() - started}}
        # The strongest anomaly of each hypothesis first, then the rest by rank, up to explain_top.
        leads = [h["anomalies"][0] for h in hypotheses if h.get("anomalies")]
        by_id = {a.id: a for a in report.anomalies}
        order = list(dict.fromkeys([*leads, *(a.id for a in report.anomalies)]))
        shown = [by_id[i] for i in order if i in by_id][:explain_top]
        t = report.totals
        headline = (
            f"Audit of {t.sources} source(s), {t.events} events by the {report.detector} detector ({report.windowing}): "
            f"{t.anomalous_windows} anomalous windows, {len(report.anomalies)} anomalies."
        )
        messages = prompts.explain_messages(headline, hypotheses, shown)
        offered = list(dict.fromkeys(e for h in hypotheses for e in h.get("evidence", [])))
        schema = prompts.explain_schema([h["id"] for h in hypotheses], offered)
        started = time.perf_counter()
        try:
            with _budget(llm, explain_s):
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

    def ground(state: AgentState) -> dict[str, Any]:
        messages = state.get("messages", [])
        question = str(messages[-1].content) if messages else ""
        store = EvidenceStore.from_dict(state.get("evidence"))
        sources = list(state.get("sources") or [])
        if not sources and not ws.has_result:
            text = ("Nothing has been audited yet: start with `sleuth chat PATH...` (or audit the logs first), then "
                    "ask about them.")
            return {"grounded": {"text": text, "facts": [text], "confidence": "high", "kind": "nothing_audited",
                                 "cited": []}, "evidence": store.to_dict()}
        if sources and not ws.has_result:
            ws.ensure(sources)  # a resumed session: rebuild the audit the answers stand on
        if not store.items:
            store = EvidenceStore.from_report(ws.result.report)
        composed = answer_question(question, ws, store, focus=state.get("focus"))
        calls = [{"tool": s["tool"], "args": s["args"], "by": "system", "executed": s["executed"], "ok": s["ok"]}
                 for s in composed.steps]
        return {"grounded": {"text": composed.text, "facts": composed.facts, "confidence": composed.confidence,
                             "kind": composed.kind, "cited": composed.cited},
                "evidence": store.to_dict(), "calls": calls,
                "system_steps": [{k: s.get(k) for k in ("tool", "args", "ok", "executed", "error")} for s in composed.steps]}

    def plan(state: AgentState) -> dict[str, Any]:
        steps = list(state.get("steps") or [])
        if not planner or not use_model or (state.get("grounded") or {}).get("kind") == "nothing_audited":
            return {"pending": None}
        if len(steps) >= max_steps or any(not s["executed"] for s in steps):
            return {"pending": None}  # a rejected call ends the planning: the deterministic answer stands
        if sum(1 for s in steps if not s["ok"]) >= 2:
            return {"pending": None}  # the model is not converging: answer with what there is
        questions = [str(m.content) for m in state.get("messages", []) if isinstance(m, HumanMessage)]
        offered = offered_tools(tools, ws, questions[-1] if questions else "")
        if not offered:
            return {"pending": None}
        messages = prompts.plan_messages(questions, findings_lines(state), tool_catalogue(offered), steps)
        try:
            if decisions == "native":
                calls = llm.tool_calls(messages, openai_tool_specs(offered), tool_choice="auto")  # type: ignore[attr-defined]
                decision = {"tool": calls[0][0], "args": calls[0][1]} if calls else {"tool": "answer", "args": {}}
            else:
                decision = llm.complete_json(messages, prompts.decision_schema(offered), max_tokens=160)
        except LLMError as error:
            return {"pending": None, "error": str(error)}
        name = decision.get("tool") if isinstance(decision, dict) else None
        if not name or name == "answer":
            return {"pending": None}
        if any(s["tool"] == name and s["args"] == decision.get("args") for s in steps):
            return {"pending": None}  # the same call again would return the same thing
        return {"pending": {"tool": str(name), "args": decision.get("args"),
                            "offered": name in {t.name for t in offered}}}

    def after_plan(state: AgentState) -> str:
        return "act" if state.get("pending") else "phrase"

    def act(state: AgentState) -> dict[str, Any]:
        pending = state.get("pending") or {}
        name, raw = str(pending.get("tool")), pending.get("args")
        step: dict[str, Any] = {"tool": name, "args": raw if isinstance(raw, dict) else {"raw": str(raw)[:200]},
                                "ok": False, "executed": False, "count": 0, "error": None, "output": "", "cited": []}
        tool = by_name.get(name)
        if tool is None:
            step["error"] = f"there is no tool {name!r}; the tools are: {', '.join(by_name)}. The call was not run."
        elif not pending.get("offered", True):
            step["error"] = f"{name} cannot run here (it was not offered). The call was not run."
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
                except ToolInputError as error:
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

    def phrase(state: AgentState) -> dict[str, Any]:
        messages = state.get("messages", [])
        question = str(messages[-1].content) if messages else ""
        grounded = dict(state.get("grounded") or {})
        base = str(grounded.get("text", ""))
        steps = state.get("steps") or []
        store = EvidenceStore.from_dict(state.get("evidence"))
        extra: list[str] = []
        for s in steps:
            for c in s.get("cited", []):
                store.add_line(c["where"], c["summary"])
            if s["ok"]:
                extra += [f"[{s['tool']}]", *s["output"].splitlines()]
        evidence_update = {"evidence": store.to_dict()}
        if not use_model or not rephrase or grounded.get("kind") in ("context", "nothing_audited", "not_in_logs"):
            return {"draft": {"status": "deterministic", "text": base, "reason": "" if use_model else "no model"},
                    **evidence_update}
        prompt = prompts.rephrase_messages(question, grounded.get("facts") or [base], extra)
        started = time.perf_counter()
        try:
            with _budget(llm, rephrase_s):
                text = "".join(llm.stream(prompt, max_tokens=min(max_tokens or 160, 160)))
        except LLMError as error:
            return {"draft": {"status": "deterministic", "text": base, "reason": f"the model failed: {error}"},
                    "error": str(error), **evidence_update}
        corpus = [base, *(i.summary for i in store.items.values()), *(i.text or "" for i in store.items.values()), *extra]
        names = [*(i.host or "" for i in store.items.values()), *(str(i.where or "") for i in store.items.values())]
        verdict = vet_model_text(text, store, corpus, names=names, max_chars=max(400, int(len(base) * 1.5)) if not extra else None)
        seconds = round(time.perf_counter() - started, 3)
        if not verdict.ok:
            return {"draft": {"status": "deterministic", "text": base, "reason": verdict.reason, "model_text": text[:2000],
                              "seconds": seconds}, **evidence_update}
        checked = hedge(verdict.text, str(grounded.get("confidence", "high")))
        return {"draft": {"status": "model", "text": checked, "seconds": seconds}, **evidence_update}

    # ------------------------------------------------------------------------------------------------ cite

    def cite(state: AgentState) -> dict[str, Any]:
        store = EvidenceStore.from_dict(state.get("evidence"))
        draft = state.get("draft") or {}
        if state.get("mode") == "triage":
            return {"explanation": _final_explanation(state, store, draft, llm.name), "draft": None}
        checked = check_citations(str(draft.get("text", "")), store)
        text = checked.text
        if has_markup(text):  # never from the deterministic path; a last guard for anything else
            text = MARKUP.sub(" ", text)
        grounded = state.get("grounded") or {}
        writer = get_stream_writer()
        for piece in re.findall(r"\S+\s*|\s+", text):  # the checked text, streamed word by word
            writer({"token": piece})
        meta = {"citations": checked.counts(), "status": "ok", "source": draft.get("status", "deterministic"),
                "kind": grounded.get("kind"), "reason": draft.get("reason") or None,
                "steps": [*(state.get("system_steps") or []),
                          *({k: s[k] for k in ("tool", "args", "ok", "executed", "error")} for s in state.get("steps") or [])]}
        focus = next(iter(grounded.get("cited") or []), state.get("focus"))
        return {"messages": [AIMessage(text, response_metadata=meta)], "evidence": store.to_dict(),
                "draft": None, "steps": [], "pending": None, "focus": focus, "system_steps": []}

    graph = StateGraph(AgentState)
    graph.add_node("audit", audit)
    graph.add_node("hypothesize", hypothesize)
    graph.add_node("explain", explain_node)
    graph.add_node("ground", ground)
    graph.add_node("plan", plan)
    graph.add_node("act", act)
    graph.add_node("phrase", phrase)
    graph.add_node("cite", cite)
    graph.add_conditional_edges(START, route_turn, {"triage": "audit", "chat": "ground"})
    graph.add_edge("audit", "hypothesize")
    graph.add_edge("hypothesize", "explain")
    graph.add_edge("explain", "cite")
    graph.add_edge("ground", "plan")
    graph.add_conditional_edges("plan", after_plan, {"act": "act", "phrase": "phrase"})
    graph.add_edge("act", "plan")
    graph.add_edge("phrase", "cite")
    graph.add_edge("cite", END)
    return graph.compile(checkpointer=checkpointer)


@contextmanager
def _budget(llm: LLM, seconds: float | None) -> Iterator[None]:
    """Lower a back end's own generation deadline (`timeout_s`, the embedded engine's) for one call."""
    before = getattr(llm, "timeout_s", None)
    if seconds is None or not isinstance(before, int | float):
        yield
        return
    llm.timeout_s = min(float(before), seconds)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        llm.timeout_s = before  # type: ignore[attr-defined]


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


def _final_explanation(state: AgentState, store: EvidenceStore, draft: dict[str, Any], model: str) -> dict[str, Any]:
    """The report's `explanation`: the model's checked text when it passes the checks, else the deterministic
    explanation from the incident engine (with the reason the model's was not used)."""
    hypotheses = [dict(h) for h in state.get("hypotheses") or []]
    evidence_summary = [f"{h['id']} ({h['confidence']}): {h['title']}" for h in hypotheses]
    grounded = state.get("grounded") or {}
    base = check_citations(str(grounded.get("text", "")), store)
    out: dict[str, Any] = {"model": model, "status": draft.get("status", "deterministic"),
                           "evidence_summary": evidence_summary, "hypotheses": hypotheses,
                           "deterministic": base.text, "citations": base.counts()}
    status = draft.get("status")

    def deterministic(reason: str | None) -> dict[str, Any]:
        if not base.text:
            out.update(status="unavailable", text=f"explanation unavailable: {reason or 'no evidence to explain'}",
                       reason=reason)
            return out
        out.update(status="deterministic", text=base.text, reason=reason, summary=base.text, llm=model,
                   model=f"the incident engine, no model text ({reason})" if reason else "the incident engine")
        return out

    if status == "nothing":
        out.update(status="ok", text="No anomalies at or above the detector's threshold and no incident; nothing to explain.")
        return out
    if status != "ok":
        return deterministic(draft.get("reason") or "the model gave no answer")
    if "text" in draft:  # a rephrasing of the deterministic explanation, already vetted
        checked = check_citations(str(draft["text"]), store)
        text = hedge(checked.text, str(grounded.get("confidence", "high")))
        out.update(status="ok", text=text, summary=text, citations=checked.counts(),
                   seconds=round(float(draft.get("seconds", 0.0)), 3))
        return out
    answer = draft["answer"]
    by_id = {h["id"]: h for h in hypotheses}
    resolved: list[str] = []
    dropped: list[str] = []
    total = 0
    paragraphs: list[str] = []
    corpus = [base.text, *(i.summary for i in store.items.values()), *(i.text or "" for i in store.items.values()),
              *(h["title"] for h in hypotheses)]
    names = [i.host or "" for i in store.items.values()]
    for item in answer.get("hypotheses", []):
        h = by_id.get(item["id"])
        if h is None or h.get("explanation"):
            continue  # an id the prompt did not offer, or a repeat
        verdict = vet_model_text(item["explanation"], store, corpus, names=names, require_citation=False)
        if not verdict.ok:
            return deterministic(verdict.reason)
        checked = check_citations(item["explanation"], store, extra=item.get("cites", []))
        total += checked.total
        dropped += [*checked.dropped, *checked.mismatched]
        resolved += [r for r in checked.resolved if r not in resolved]
        text = hedge(checked.text, h["confidence"], h.get("confidence_reason"))
        h["explanation"] = text
        h["cited"] = checked.resolved
        paragraphs.append(f"{h['id']}: {text}")
    verdict = vet_model_text(answer.get("summary", ""), store, corpus, names=names, require_citation=False) \
        if answer.get("summary", "").strip() else None
    if verdict is not None and not verdict.ok:
        return deterministic(verdict.reason)
    summary = check_citations(answer.get("summary", ""), store)
    total += summary.total
    dropped += [*summary.dropped, *summary.mismatched]
    resolved += [r for r in summary.resolved if r not in resolved]
    if repeats(" ".join([summary.text, *paragraphs])):
        return deterministic("the model's text repeats itself")
    top = hypotheses[0] if hypotheses else {"confidence": "low", "confidence_reason": "no hypothesis"}
    summary_text = hedge(summary.text, top["confidence"], top.get("confidence_reason"))
    text = "\n\n".join([p for p in [summary_text, *paragraphs] if p])
    if not text:
        return deterministic("the model wrote nothing")
    out.update(
        status="ok",
        text=text,
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
