"""`shopr1 run`: the main job on the embedded defaults.

Today it is the data half of the pipeline — ShopWorld sessions → raw contract → heuristic
rationales → SFT/RL examples — and prints where every file is. Training, evaluation and the
Prefect/MLflow orchestration extend it as they land.
"""

from __future__ import annotations

from pathlib import Path

import typer

from shopr1.cli.data import print_report
from shopr1.cli.ui import console, fail, progress_bar


def run(
    out: Path = typer.Option(Path("runs/quickstart"), "--out", "-o", help="Folder for everything the run writes."),
    sessions: int = typer.Option(2000, "--sessions", "-n", min=1, help="ShopWorld sessions to generate."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the data and of the splits."),
    max_tokens: int = typer.Option(4096, help="Token budget of one context (a whole SFT session must fit; the oldest pages are dropped first)."),
) -> None:
    """Run the pipeline on the embedded defaults: generate ShopWorld sessions, validate them,
    synthesize rationales with the offline heuristic teacher, and build split SFT and RL examples."""
    from shopr1.contracts import ContractError
    from shopr1.data.build import BuildConfig, build_dataset
    from shopr1.rationales import make_backend, synthesize_file
    from shopr1.shopworld import ShopWorldConfig, write_shopworld

    raw, validated, dataset = out / "shopworld", out / "validated", out / "dataset"
    try:
        console.rule("1/4 generate ShopWorld sessions")
        with progress_bar("generating", sessions) as advance:
            manifest = write_shopworld(raw, sessions=sessions, seed=seed, config=ShopWorldConfig(), progress=advance)
        console.print(f"{manifest['sessions']:,} sessions, {manifest['steps']:,} steps → {raw}")
        console.rule("2/4 validate against the raw-sessions contract")
        with progress_bar("validating", manifest["sessions"]) as advance:
            summary = build_dataset([raw / "sessions.jsonl"], validated, BuildConfig(seed=seed, examples=False), progress=advance)
        console.print(f"{summary['sessions']['accepted']:,} accepted, {summary['sessions']['quarantined']:,} quarantined")
        console.rule("3/4 synthesize rationales (heuristic teacher)")
        with_rationales = validated / "sessions.rationales.jsonl"
        with progress_bar("rationales", summary["steps_accepted"]) as advance:
            result = synthesize_file(validated / "sessions.accepted.jsonl", with_rationales, make_backend("heuristic"),
                                     on_progress=lambda _: advance())
        console.print(f"{result.done:,} written, {result.cached:,} from cache, {result.failed:,} failed")
        console.rule("4/4 build SFT and RL examples")
        with progress_bar("building", summary["sessions"]["accepted"]) as advance:
            final = build_dataset([with_rationales], dataset, BuildConfig(seed=seed, max_context_tokens=max_tokens),
                                  policy=raw / "policy.jsonl", progress=advance)
    except ContractError as exc:
        raise fail(str(exc)) from None
    print_report(final)
    console.print(f"ShopWorld oracle ceiling (exact match of a predictor that knows the goal): {manifest['oracle_ceiling']:.3f}")
