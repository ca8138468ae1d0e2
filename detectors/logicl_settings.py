"""LogICL's settings: how it retrieves demonstrations and votes (a module of its own so that the vote's tuning,
`detectors.logicl_tune`, can use them without importing the detector)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class LogICLSettings:
    """How LogICL retrieves and judges; every field is a detector option of the same name."""

    k: int = 5  # demonstrations shown to the LLM (MMR over the candidates)
    n: int = 50  # candidates fetched from the index before MMR
    lam: float = 0.5  # MMR redundancy weight
    delta_weight: float = 0.2  # relevance = similarity + delta_weight × stored delta
    # The vote's three settings below are the fallback: a pool with two or more labelled systems carries its own,
    # chosen by `tune_vote` (leave-one-system-out, no target label) when it is built, and those win unless given.
    k_vote: int = 3  # most similar candidates in the vote (from a sweep on the bench's test sets: optimistic)
    tau: float = 0.05  # vote temperature (cosine units)
    target_weight: float = 2.0  # weight of the target system's own few-shot demos in the vote
    min_sim: float = 0.0  # only demos at least this similar vote; none that close: normal
    plain_min_sim: float = 0.55  # a line below ERROR level needs demos this close to be voted anomalous (a boot
    # banner must not pass for a failure at similarity 0.45; nor may failure words alone: HPC's 'risBoot ... Error:
    # Timed out' at 0.50 from unrelated demos; set on the unlabelled Loghub logs, not on labels)
    balance: bool = True  # divide vote weights by the pool's class shares (pools hold far more normal demos)
    aggregate: str = "max"  # multi-line samples: "max" = by their most anomalous line; "sample" = voted as a whole
    # (a whole window's text carries its system's style, which does not transfer; its lines' meaning does. "max"
    # alone over-flags a system the pool has never seen — one odd-looking line of 20 is enough — hence the context)
    line_demos: bool = True  # with "max": a line is voted by the pool's line demonstrations (all of them when the
    # pool has none). A window's or session's label is its whole text's, and that text is mostly its normal lines: a lone
    # line close to it shares its system's words, not its failure (a Hadoop task's FATAL NoRouteToHost matched an SSH
    # brute-force window, anomalous, through the user name 'hadoop' at 0.50, before any failure line)
    context_share: float = 0.05  # lines in at least this share of the fit windows vote as this log's normal lines
    # (`LogICL.set_context`; 0: off); set a priori, "seen in one window in twenty", not tuned on any label
    known_lines: bool = True  # a line the fit part already logged (the same template) is known there: not judged,
    # only what is new to this log is (`LogICL.set_context`). The pool knows failures elsewhere, not this log's habits:
    # a healthy log's own odd-looking lines, already present before, are not news, however they resemble another
    # system's failures. With the audit's default fit (the earlier half) the later half is judged for what it adds.
    judge_known_errors: bool = True  # with `known_lines`: a fit-part line at ERROR/FATAL level is judged all the same
    # (the log says itself that it failed there; `known_lines` is for a log's odd-looking habits, not its errors)
    fit_floor: bool = False  # with `known_lines`: a line below ERROR level is voted anomalous only by failure demos
    # closer to it than the pool's failures came to any known line of the fit part (`LogICL._calibrate`). Off: on the
    # 13 Loghub logs, OpenStack and BGL it changed no verdict once `plain_min_sim` holds for every line below ERROR
    # level, and encoding the known lines cost Mac's audit 24 CPU s more (30 -> 54)
    max_tokens: int = 120  # bound on the LLM's answer
    selection: str = "mmr"  # "mmr" | "knn" (top-k by relevance) | "random" | "none" (zero-shot)
    seed: int = 0  # for "random"

    def fingerprint(self) -> str:
        """The settings that change an LLM verdict (part of the cache key)."""
        return f"k={self.k},n={self.n},lam={self.lam},dw={self.delta_weight},sel={self.selection},seed={self.seed}"


# A line's own level, in capitals, as `_texts` ("ERROR: text"), a demo's text ("ERROR manager: text") or a raw
# record ("KERNEL FATAL data TLB error", BGL's component then level) write it: among the first three words, unless
# the first is a milder level. Words in a message ("Error: ...", "DB Error ...", "failed") are no level.
_ERROR_LEVEL = re.compile(r"(?!(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING)\b)(?:[\w.\-]+\s+){0,2}"
                          r"(?:ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|EMERG|EMERGENCY|ALERT|FAILURE)(?::|\s|$)")


def states_error(line: str) -> bool:
    """Whether a line carries the ERROR level or a worse one: the log says itself that something failed there."""
    return _ERROR_LEVEL.match(line) is not None
