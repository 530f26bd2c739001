"""`shopr1 data ...`: generate ShopWorld sessions, validate logs, build training examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from shopr1.cli.rationales import rationales
from shopr1.cli.ui import console, fail, progress_bar

app = typer.Typer(help="Session data: generate, validate, build examples.", no_args_is_help=True)


def _count_rows(path: Path) -> int | None:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    return None


@app.command()
def generate(
    out: Path = typer.Option(Path("runs/shopworld"), "--out", "-o", help="Folder for sessions.jsonl, policy.jsonl, catalog.json, manifest.json."),
    sessions: int = typer.Option(2000, "--sessions", "-n", min=1, help="Number of sessions to generate."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed; the same seed gives the same files."),
    page_size: str = typer.Option("compact", help="compact (small pages for the CPU recipe) or realistic (tens of KB, like real stores)."),
) -> None:
    """Generate synthetic ShopWorld sessions (canonical logs without rationales, plus the shopper
    policy's action distribution at every step, from which the oracle ceiling is computed)."""
    from shopr1.shopworld import ShopWorldConfig, write_shopworld

    try:
        config = ShopWorldConfig(page_size=page_size)
    except ValueError as exc:
        raise fail(f"bad ShopWorld setting: {exc}") from None
    with progress_bar("generating sessions", sessions) as advance:
        manifest = write_shopworld(out, sessions=sessions, seed=seed, config=config, progress=advance)
    table = Table(title=f"ShopWorld → {out}", show_header=False)
    for key in ("sessions", "steps", "action_mix", "oracle_ceiling"):
        if key in manifest:
            value = manifest[key]
            table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


def _run_build(inputs: list[Path], out: Path, config: Any, label: str) -> dict[str, Any]:
    from shopr1.contracts import ContractError
    from shopr1.data.build import build_dataset

    for path in inputs:
        if not path.exists():
            raise fail(f"{path}: no such file. Generate sample data with `shopr1 data generate`.")
    total = sum(n for n in (_count_rows(p) for p in inputs) if n is not None) or None
    try:
        with progress_bar(label, total) as advance:
            summary = build_dataset(inputs, out, config, progress=advance)
    except ContractError as exc:
        summary_path = out / "summary.json"
        if summary_path.exists():
            print_report(json.loads(summary_path.read_text()))
        raise fail(str(exc)) from None
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    if summary["sessions"]["in"] == 0:
        raise fail(f"no sessions found in {', '.join(map(str, inputs))}")
    print_report(summary)
    return summary


def print_report(summary: dict[str, Any]) -> None:
    """A readable report of a validate/build summary."""
    s = summary["sessions"]
    share = s["accepted"] / s["in"] if s["in"] else 0.0
    console.print(
        f"[bold]sessions[/]: {s['in']:,} in → [green]{s['accepted']:,} accepted[/] ({share:.1%}), "
        f"[yellow]{s['quarantined']:,} quarantined[/]; {summary['steps_accepted']:,} steps; {summary['seconds']} s"
    )
    if s["reasons"]:
        table = Table(title="quarantine reasons (a session can have several)")
        table.add_column("reason")
        table.add_column("sessions", justify="right")
        for reason, n in s["reasons"].items():
            table.add_row(reason, f"{n:,}")
        console.print(table)
    splits = Table(title="splits")
    for col in ("split", "sessions", "click", "type_and_submit", "terminate", "oracle ceiling"):
        splits.add_column(col, justify="right" if col != "split" else "left")
    oracle = summary.get("oracle_ceiling") or {}
    for name, info in summary["splits"].items():
        mix = info["action_mix"]
        steps = sum(mix.values()) or 1
        splits.add_row(name, f"{info['sessions']:,}", *(f"{mix.get(t, 0) / steps:.1%}" for t in ("click", "type_and_submit", "terminate")),
                       f"{oracle[name]:.3f}" if name in oracle else "—")
    console.print(splits)
    ex = summary["examples"]
    if ex["built"]:
        console.print(f"[bold]examples[/]: {ex['built']:,} built, {ex['quarantined']:,} quarantined; written: "
                      + ", ".join(f"{k} {n:,}" for k, n in ex["written"].items()))
        for reason, n in ex["reasons"].items():
            console.print(f"  [yellow]{n:,}[/] {reason}")
    stubbed, turns = ex.get("sft_turns_without_page", 0), ex.get("sft_turns", 0)
    if turns and stubbed / turns > 0.05:
        console.print(f"[yellow]{stubbed / turns:.0%} of SFT assistant turns are trained with their own page dropped[/] "
                      "to fit the token budget; raise --max-tokens if the model should see them.")
    if ex.get("sessions_without_rationales"):
        console.print(f"[yellow]{ex['sessions_without_rationales']:,} sessions have no rationales, so no SFT "
                      "examples were built for them[/]: run `shopr1 data rationales` on the accepted sessions first.")
    files = Table(title="files", show_header=False)
    for key, value in summary["files"].items():
        if value:
            files.add_row(key, value)
    files.add_row("summary", str(Path(summary["out_dir"]) / "summary.json"))
    console.print(files)


def _config(**kwargs: Any) -> Any:
    from shopr1.data.build import BuildConfig
    from shopr1.data.splits import parse_fractions

    try:
        if "splits" in kwargs:
            kwargs["splits"] = parse_fractions(kwargs["splits"])
        return BuildConfig(**kwargs)
    except ValueError as exc:
        raise fail(str(exc)) from None


@app.command()
def validate(
    paths: list[Path] = typer.Argument(..., help="Session logs: canonical .jsonl / .parquet, or OPeRA .parquet."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: <first input's folder>/validated)."),
    min_accepted: float = typer.Option(0.9, help="Stop with an error when a smaller share of sessions passes."),
    max_html_chars: int = typer.Option(2_000_000, help="Pages longer than this are 'oversized'."),
) -> None:
    """Check session logs against the raw-sessions data contract. Accepted sessions are written to
    OUT/sessions.accepted.jsonl; every rejected row goes to OUT/quarantine/raw_sessions.jsonl with its
    reasons, unchanged, so nothing is lost."""
    out = out or paths[0].parent / "validated"
    _run_build(paths, out, _config(min_accepted_share=min_accepted, max_html_chars=max_html_chars, examples=False), "validating")


@app.command()
def build(
    paths: list[Path] = typer.Argument(..., help="Session logs: canonical .jsonl / .parquet, or OPeRA .parquet."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: <first input's folder>/dataset)."),
    max_tokens: int = typer.Option(4096, help="Token budget of one context; the oldest pages' HTML is dropped first."),
    seed: int = typer.Option(0, help="Seed of the session-level split."),
    splits: str = typer.Option("train=0.8,val=0.1,test=0.1", help="Split fractions by session."),
    min_accepted: float = typer.Option(0.9, help="Stop with an error when a smaller share passes a contract."),
    max_html_chars: int = typer.Option(2_000_000, help="Pages longer than this are 'oversized'."),
    html_rules: str = typer.Option(None, help="Simplifier rules for raw_html steps: generic, shopworld or a YAML path."),
) -> None:
    """Validate session logs and build SFT (whole sessions) and RL (context → next action) examples
    as Parquet parts under OUT/sft/<split>/ and OUT/rl/<split>/."""
    out = out or paths[0].parent / "dataset"
    config = _config(max_context_tokens=max_tokens, seed=seed, splits=splits, min_accepted_share=min_accepted,
                     max_html_chars=max_html_chars, html_rules=html_rules)
    _run_build(paths, out, config, "building")


app.command("rationales")(rationales)
