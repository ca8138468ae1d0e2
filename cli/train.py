"""`sleuth train ...`: train the embedded models (CPU is enough; the shipped checkpoints came from these). Every
command runs lab code (imported lazily; the lab is not in the wheel)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cli.common import lab, shared_data

app = typer.Typer(no_args_is_help=True,
                  help="Train the embedded models (CPU is enough; the shipped checkpoints came from these).")

DATA_HELP = "The shared data folder (default: $SLEUTH_SHARED_DATA, else ../shared/data beside the checkout)."


class LogiclDirection(str, Enum):
    bgl2openstack = "bgl2openstack"
    openstack2bgl = "openstack2bgl"
    both = "both"


def _given(**options: object) -> dict[str, object]:
    """The options that were given (None means "the trainer's own default")."""
    return {k: v for k, v in options.items() if v is not None}


@app.command("calm")
def train_calm(
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 6,
    out: Annotated[Path | None, typer.Option("--out", help="Checkpoint file, .json written beside it (default: the shipped one).")] = None,
    batch: Annotated[int, typer.Option("--batch", help="Windows per step.")] = 256,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (one-cycle schedule).")] = 2e-3,
    noise: Annotated[float, typer.Option("--noise", help="Gaussian noise on normalised contexts.")] = 0.02,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    threads: Annotated[int, typer.Option("--threads", help="Torch threads.")] = 1,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
) -> None:
    """Train CALM's patch quantile forecaster on NAB + SMD (label-free; about 3 minutes on one core)."""
    raise typer.Exit(lab("calm.train").train_command(**_given(
        data=shared_data(data), out=out, epochs=epochs, batch=batch, lr=lr, noise=noise, seed=seed, threads=threads)))


@app.command("icad")
def train_icad(
    steps: Annotated[int, typer.Option("--steps", help="Optimizer steps (each covers every modality once).")] = 300,
    out: Annotated[Path | None, typer.Option("--out", help="Checkpoint folder (icad.json, icad.safetensors; default: the shipped one).")] = None,
    batch: Annotated[int, typer.Option("--batch", help="Triplets per modality per step.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 1e-3,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    real_hard: Annotated[float, typer.Option("--real-hard", help="Share of hard negatives that are real fit-side anomalies (0: synthetic only).")] = 0.5,
    layers: Annotated[int, typer.Option("--layers", help="Backbone layers kept.")] = 6,
    backbone: Annotated[str, typer.Option("--backbone", help="smollm2, tiny, or a Hugging Face folder.")] = "smollm2",
    threads: Annotated[int | None, typer.Option("--threads", help="Torch threads (default: $OMP_NUM_THREADS, else 1).")] = None,
    schedule_steps: Annotated[int | None, typer.Option("--schedule-steps", help="Length of the LR schedule when it differs from --steps (a run stopped early).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/train_state.pt.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller pools (smoke runs).")] = False,
    init: Annotated[Path | None, typer.Option("--init", help="Continue training from this checkpoint folder's weights (its config; a fresh optimizer and LR schedule); --layers and --backbone are then taken from it.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
) -> None:
    """Train the ICAD-LLM checkpoint (contrastive, LoRA on SmolLM2; CPU)."""
    raise typer.Exit(lab("icad.train").train_command(**_given(
        out=out, data=shared_data(data), steps=steps, batch=batch, lr=lr, seed=seed, real_hard=real_hard,
        layers=layers, backbone=backbone, threads=threads, schedule_steps=schedule_steps, resume=resume, quick=quick,
        init=init)))


@app.command("logicl")
def train_logicl(
    direction: Annotated[LogiclDirection, typer.Option("--direction", help="Which encoder to distil.")] = LogiclDirection.both,
    queries: Annotated[int, typer.Option("--queries", help="Training queries in the delta matrix.")] = 16,
    m: Annotated[int, typer.Option("--m", help="MMR demonstrations scored per query.")] = 3,
    steps: Annotated[int, typer.Option("--steps", help="Training steps of the projection head.")] = 100,
    from_deltas: Annotated[bool, typer.Option("--from-deltas", help="Reuse the checkpoint's saved delta matrix instead of asking the LLM again (seconds, no LLM).")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    threads: Annotated[int, typer.Option("--threads", help="CPU threads for the local model.")] = 1,
    cache: Annotated[Path | None, typer.Option("--cache", help="Embedding cache folder (default: <tmp>/sleuth-logicl).")] = None,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="Score labels on an OpenAI-compatible server (vLLM's logprobs) instead of SmolLM2 on this machine.")] = None,
    llm_model: Annotated[str | None, typer.Option("--llm-model", help="The served model name (default: the server's only model).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
) -> None:
    """Distil SmolLM2's demonstration preferences into the LogICL retrieval encoder."""
    raise typer.Exit(lab("logicl_bench").train_command(**_given(
        direction=direction.value, queries=queries, m=m, steps=steps, from_deltas=from_deltas, seed=seed,
        threads=threads, data=shared_data(data), cache=cache, llm_url=llm_url, llm_model=llm_model)))
