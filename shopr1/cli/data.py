"""`shopr1 data ...`: generate ShopWorld sessions, validate logs, build training examples.

Every command checks its inputs and settings before writing anything and writes its output folder
atomically (`shopr1.atomic`): a command that fails leaves what an earlier run wrote as it was.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from shopr1.cli.options import SettingsError, config_from_cli, field_choices, field_help
from shopr1.cli.rationales import rationales
from shopr1.cli.ui import console, fail, progress_bar
from shopr1.shopworld.config import ActionMix, ShopWorldConfig

app = typer.Typer(help="Session data: generate, validate, build examples.", no_args_is_help=True)

#: What `data generate` writes; anything else already in its folder (e.g. a dataset built there) is kept.
SHOPWORLD_FILES = frozenset({"sessions.jsonl", "policy.jsonl", "catalog.json", "manifest.json"})


def _count_rows(path: Path) -> int | None:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    return None


def _choices(name: str) -> Any:
    """An Enum of a ShopWorldConfig Literal field's values, so `--help` lists them and typer checks
    them (plain `str` where this version of ShopWorld has no such field)."""
    choices = field_choices(ShopWorldConfig, name)
    return enum.Enum(name.title().replace("_", ""), {c: c for c in choices}, type=str) if choices else str


def _choice_option(name: str, help_text: str) -> Any:
    """A `--name` option for a Literal field (hidden where the field does not exist)."""
    exists = field_choices(ShopWorldConfig, name) is not None
    return typer.Option(None, "--" + name.replace("_", "-"), hidden=not exists, show_default=False,
                        help=field_help(ShopWorldConfig, name, help_text) if exists else "")


Preset, PageSize, NameStyle = _choices("preset"), _choices("page_size"), _choices("name_style")


def _value(choice: Any) -> Any:
    return choice.value if isinstance(choice, enum.Enum) else choice


def parse_mix(text: str | None) -> dict[str, float] | None:
    """`click=0.38,type_and_submit=0.35,terminate=0.27` → a target mix; SettingsError otherwise."""
    if text is None:
        return None
    kinds = list(ActionMix.model_fields)
    example = ",".join(f"{k}={v.default}" for k, v in ActionMix.model_fields.items())
    shares: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        kind, sep, value = item.partition("=")
        kind = kind.strip()
        if not sep or kind not in kinds:
            raise SettingsError(f"--mix: {item!r} is not a share of an action type; expected e.g. {example}")
        try:
            shares[kind] = float(value)
        except ValueError:
            raise SettingsError(f"--mix: {kind}={value!r} is not a number") from None
    if sorted(shares) != sorted(kinds):
        raise SettingsError(f"--mix: give a share for each of {', '.join(kinds)} (e.g. {example}); missing: "
                            f"{', '.join(k for k in kinds if k not in shares)}")
    return shares


def generate_shopworld(out: Path, *, sessions: int, seed: int, config: Any, progress: Any = None) -> dict[str, Any]:
    """`write_shopworld` into a temporary folder beside `out`, swapped in when complete; other files
    already in `out` (a dataset built there, say) are kept."""
    from shopr1.atomic import atomic_dir
    from shopr1.shopworld import write_shopworld

    with atomic_dir(out, carry=lambda name: name not in SHOPWORLD_FILES) as work:
        return write_shopworld(work, sessions=sessions, seed=seed, config=config, progress=progress)


@app.command()
def generate(
    out: Path = typer.Option(Path("runs/shopworld"), "--out", "-o", help="Folder for sessions.jsonl, policy.jsonl, catalog.json, manifest.json."),
    sessions: int = typer.Option(2000, "--sessions", "-n", min=1, help="Number of sessions to generate."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed; the same seed and settings give the same files."),
    preset: Preset = _choice_option("preset", "Named defaults for the settings not given (paper-like: the paper's shape, every visit from the home page)"),
    page_size: PageSize = _choice_option("page_size", "compact (small pages for the CPU recipe) or realistic (tens of KB, like real stores)"),
    results_per_page: int = typer.Option(None, help=field_help(ShopWorldConfig, "results_per_page", "Results on one results page (default: 4 compact, 24 realistic)")),
    slug_words: int = typer.Option(None, help=field_help(ShopWorldConfig, "slug_words", "Most words in a product slug, i.e. in element names")),
    catalog_size: int = typer.Option(None, help=field_help(ShopWorldConfig, "catalog_size", "Products in the catalog")),
    name_style: NameStyle = _choice_option("name_style", "Item names: slug (search_results.<slug>.title), short (at most two words) or index (search_results.3.title)"),
    mix: str = typer.Option(None, "--mix", metavar="TYPE=SHARE,...", help="Target action mix the generator fits, e.g. click=0.38,type_and_submit=0.35,terminate=0.27 (shares are normalised)."),
    config_file: Path = typer.Option(None, "--config", metavar="FILE.yaml", help="The whole ShopWorld config as YAML (the options above and --set override it)."),
    sets: list[str] = typer.Option([], "--set", metavar="KEY.SUB=VALUE", help="Override any ShopWorld setting, e.g. --set behaviour.bounce=0.2 (repeatable; values are YAML)."),
) -> None:
    """Generate synthetic ShopWorld sessions (canonical logs without rationales, plus the shopper
    policy's action distribution at every step, from which the oracle ceiling is computed).

    Settings come from --config, then the named options, then --set (later ones win); a bad value stops the command before anything is written. The output folder is replaced only when generation finished; other files in it (a dataset built there, say) are kept.
    """
    try:
        config = config_from_cli(
            ShopWorldConfig, config_file, sets,
            options={"preset": _value(preset), "page_size": _value(page_size), "results_per_page": results_per_page,
                     "slug_words": slug_words, "catalog_size": catalog_size, "name_style": _value(name_style),
                     "target_mix": parse_mix(mix)},
            labels={"target_mix": "--mix"},
        )
    except SettingsError as exc:
        raise fail(str(exc)) from None
    try:
        with progress_bar("generating sessions", sessions) as advance:
            manifest = generate_shopworld(out, sessions=sessions, seed=seed, config=config, progress=advance)
    except (NotADirectoryError, ValueError) as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"ShopWorld → {out}", show_header=False)
    for key in ("sessions", "steps", "action_mix", "oracle_ceiling"):
        if key in manifest:
            value = manifest[key]
            table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


def _run_build(paths: list[Path], out: Path | None, default_name: str, config: Any, label: str,
               policy: Path | None = None) -> dict[str, Any]:
    from shopr1.contracts import ContractError
    from shopr1.data.build import BuildFailed, build_dataset
    from shopr1.data.readers import InputError, resolve_inputs

    try:
        inputs = resolve_inputs(paths)
    except InputError as exc:
        raise fail(str(exc)) from None
    out = out or inputs[0].parent / default_name
    if len(inputs) > len(paths):
        console.print(f"reading {len(inputs)} session files: {', '.join(map(str, inputs))}")
    total = sum(n for n in (_count_rows(p) for p in inputs) if n is not None) or None
    try:
        with progress_bar(label, total) as advance:
            summary = build_dataset(inputs, out, config, policy=policy, progress=advance)
    except BuildFailed as exc:
        print_report(exc.summary)
        raise fail(str(exc)) from None
    except (ContractError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
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
        if ex.get("context_budget"):
            console.print(f"context budget: {ex['context_budget']['max_tokens']:,} tokens ({ex['context_budget']['source']})")
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
    paths: list[Path] = typer.Argument(..., help="Session logs: canonical .jsonl / .parquet, OPeRA .parquet, or a folder of them (e.g. a `data generate` folder)."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: <first input's folder>/validated)."),
    min_accepted: float = typer.Option(0.9, help="Stop with an error when a smaller share of sessions passes."),
    max_html_chars: int = typer.Option(2_000_000, help="Pages longer than this are 'oversized'."),
) -> None:
    """Check session logs against the raw-sessions data contract. Accepted sessions are written to
    OUT/sessions.accepted.jsonl; every rejected row goes to OUT/quarantine/raw_sessions.jsonl with its
    reasons, unchanged, so nothing is lost.

    OUT is replaced only when validation succeeds; when too few sessions pass, OUT stays as it was and this attempt's quarantine and summary are kept in OUT.failed/."""
    _run_build(paths, out, "validated", _config(min_accepted_share=min_accepted, max_html_chars=max_html_chars, examples=False), "validating")


@app.command()
def build(
    paths: list[Path] = typer.Argument(..., help="Session logs: canonical .jsonl / .parquet, OPeRA .parquet, or a folder of them (e.g. a `data generate` folder)."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: <first input's folder>/dataset)."),
    max_tokens: int = typer.Option(None, min=1, help="Token budget of one context (default: chosen from the pages: 4,096 for compact, 32,768 for realistic ShopWorld pages); the oldest pages' HTML is stubbed first, then the current page trimmed."),
    tokenizer: str = typer.Option(None, help="Local Hugging Face folder whose tokenizer counts the budget (default: a character estimate)."),
    seed: int = typer.Option(0, help="Seed of the session-level split."),
    splits: str = typer.Option("train=0.8,val=0.1,test=0.1", help="Split fractions by session."),
    min_accepted: float = typer.Option(0.9, help="Stop with an error when a smaller share passes a contract."),
    max_html_chars: int = typer.Option(2_000_000, help="Pages longer than this are 'oversized'."),
    html_rules: str = typer.Option(None, help="Simplifier rules for raw_html steps: generic, shopworld or a YAML path."),
    policy: Path = typer.Option(None, exists=True, dir_okay=False, help="ShopWorld policy.jsonl for the ceilings of each split (default: the one beside a single input, if any)."),
    persona: bool = typer.Option(False, "--persona/--no-persona", help="Prompts carry each session's persona, less its goal (persona conditioning, the recipe key data.persona); a model trained on it needs the same at evaluation and serving."),
) -> None:
    """Validate session logs and build SFT (whole sessions) and RL (context → next action) examples
    as Parquet parts under OUT/sft/<split>/ and OUT/rl/<split>/.

    OUT is replaced only when the build succeeds (other files kept there, such as a rationale cache, stay); when too little passes a contract, OUT stays as it was and this attempt's quarantine and summary are kept in OUT.failed/."""
    config = _config(max_context_tokens=max_tokens, seed=seed, splits=splits, min_accepted_share=min_accepted,
                     max_html_chars=max_html_chars, html_rules=html_rules, tokenizer=tokenizer, persona=persona)
    _run_build(paths, out, "dataset", config, "building", policy=policy)


app.command("rationales")(rationales)
