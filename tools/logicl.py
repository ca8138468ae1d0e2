"""LogICL agent tools: retrieve labelled demonstrations for a log sample; judge a sample from its demonstrations.

The sample is a log text, or a file:line of the current audit (its line, or with `window` the lines around it).
The judgement here is the non-LLM similarity-weighted vote: the agent itself is the language model and reads the
demonstrations, each with its label, system and source file:line (citable). The pool is the one `sleuth pool add`
built (or `ws.logicl_engine`, a `detectors.logicl.LogICL` the caller attached — tests use an in-memory one).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tools.base import Cited, Tool, ToolArgs, ToolInputError, ToolOutput, clip
from tools.workspace import Workspace

MAX_DEMOS = 10


class RetrieveDemosArgs(ToolArgs):
    """Arguments of logicl_retrieve_demos."""

    text: str | None = Field(None, description="the log text to find demonstrations for")
    where: str | None = Field(None, description="or a file:line of the audited logs")
    window: int = Field(0, ge=0, le=20, description="with `where`: also take this many lines before and after it")
    k: int = Field(5, ge=1, le=MAX_DEMOS, description="how many demonstrations")


class JudgeArgs(RetrieveDemosArgs):
    """Arguments of logicl_judge."""


def _engine(ws: Workspace) -> Any:
    engine = getattr(ws, "logicl_engine", None)
    if engine is not None:
        return engine
    import retrieval.pool  # noqa: F401 - registers how LogICL opens the pool folder
    from detectors.base import DetectorError
    from detectors.logicl import LogICLDetector

    try:
        engine = LogICLDetector().fit([]).engine
    except DetectorError as error:
        raise ToolInputError(str(error)) from None
    ws.logicl_engine = engine  # type: ignore[attr-defined]
    return engine


def _sample(ws: Workspace, args: RetrieveDemosArgs) -> tuple[str, list[str]]:
    """(sample text, its lines) from the arguments."""
    from retrieval.pool import line_text, session_text

    if args.text:
        return args.text, [args.text]
    if not args.where:
        raise ToolInputError("give either text (a log line or lines) or where (a file:line of the audited logs)")
    from detectors.readers import context_lines

    source, _, line = args.where.rpartition(":")
    if not source or not line.isdigit():
        raise ToolInputError(f"where={args.where!r} is not file:line, e.g. 'app.log:120'")
    lines = [text for _, text in context_lines(source, int(line), before=args.window, after=args.window)]
    if not lines:
        raise ToolInputError(f"no line at {args.where!r}; check the path and line number")
    masked = [line_text(t) for t in lines]
    return (masked[0] if len(masked) == 1 else session_text(masked)), masked


def _demo_rows(retrieved: list[Any]) -> tuple[list[str], list[Cited], list[dict[str, Any]]]:
    rows, cited, data = [], [], []
    for r in retrieved:
        d = r.demo
        rows.append(f"- [{d.label}] {d.system} {d.source} (similarity {r.similarity:.2f}): {clip(d.text, 160)}")
        cited.append(Cited(d.source, f"{d.label} demonstration from {d.system}: {clip(d.text, 120)}"))
        data.append({"id": d.id, "label": d.label, "system": d.system, "where": d.source,
                     "similarity": round(r.similarity, 4), "text": clip(d.text, 200)})
    return rows, cited, data


def logicl_retrieve_demos(ws: Workspace, args: RetrieveDemosArgs) -> ToolOutput:
    """The k most useful labelled demonstrations (MMR over the nearest) for a log sample."""
    engine = _engine(ws)
    text, _ = _sample(ws, args)
    retrieved = engine.pool.retrieve(text, args.k, n=max(50, args.k), lam=engine.settings.lam,
                                     delta_weight=engine.settings.delta_weight)
    rows, cited, data = _demo_rows(retrieved)
    head = f"{len(rows)} labelled demonstration(s) for: {clip(text, 160)}"
    return ToolOutput("\n".join([head, *rows]), {"sample": text, "demos": data}, cited, count=len(rows))


def logicl_judge(ws: Workspace, args: JudgeArgs) -> ToolOutput:
    """Anomaly or normal for a log sample, by a similarity-weighted vote of its nearest labelled demonstrations."""
    engine = _engine(ws)
    text, lines = _sample(ws, args)
    v = engine.judge(text, lines, use_llm=False)
    rows, cited, data = _demo_rows(v.neighbours[: args.k])
    n_a = sum(r.demo.y for r in v.neighbours)
    head = (f"LogICL vote: {v.label.upper()} (P(anomaly) {v.vote:.2f} from {len(v.neighbours)} nearest demonstrations, "
            f"{n_a} anomalous) for: {clip(text, 160)}\nnearest demonstrations:")
    return ToolOutput("\n".join([head, *rows]), {"label": v.label, "p_anomaly": v.vote, "sample": text, "demos": data},
                      cited, count=len(rows))


TOOLS: tuple[Tool[Any], ...] = (
    Tool("logicl_retrieve_demos", "Retrieve labelled log demonstrations (anomaly/normal, from other systems and the "
                                  "target's few shots) similar to a log text or to the line at a file:line.",
         RetrieveDemosArgs, logicl_retrieve_demos),
    Tool("logicl_judge", "Judge a log text or the line (or window) at a file:line as anomaly or normal from its "
                         "nearest labelled demonstrations; returns the vote and the demonstrations with file:line.",
         JudgeArgs, logicl_judge),
)
