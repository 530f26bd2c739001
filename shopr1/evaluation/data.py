"""What an evaluation reads from a built dataset: one split's RL examples and its ceilings.

RL examples are ⟨context, next action⟩ pairs (`rl/<split>/part-*.parquet`). Each carries the step
kind it was taken on: the build's `step_kind` column when present, else derived from the prompt's
current page with `shopr1.schema.step_kind` where that exists, else "all".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_PAGE_HEADER = re.compile(r"\APage \d+(?: \((?P<url>[^\n]*)\))?:\n")


class DatasetError(ValueError):
    """A dataset folder or split that cannot be evaluated; the message says what to do."""


def rl_split_dir(dataset_dir: Path, split: str) -> Path:
    """The folder of a split's RL examples; raises DatasetError naming what exists instead."""
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(
            f"dataset folder {dataset_dir} does not exist: pass the folder `shopr1 data build` "
            "(or `shopr1 run`) wrote, the one holding summary.json and rl/"
        )
    folder = dataset_dir / "rl" / split
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        rl = dataset_dir / "rl"
        found = sorted(p.name for p in rl.iterdir() if p.is_dir()) if rl.is_dir() else []
        hint = f"splits with RL examples: {', '.join(found)}" if found else "it has no rl/ examples: rebuild it with examples on"
        raise DatasetError(f"{folder} has no RL examples of split {split!r} ({hint})")
    return folder


def _current_page(prompt: list[dict[str, str]]) -> tuple[str | None, str | None]:
    """(url, html) of the page the prompt ends on (its last user turn, see `prompts.page_turn`)."""
    last = next((m["content"] for m in reversed(prompt) if m.get("role") == "user"), "")
    match = _PAGE_HEADER.match(last)
    if match is None:
        return None, last
    return match.group("url"), last[match.end() :]


def derive_step_kind(prompt: list[dict[str, str]]) -> str:
    """The step kind of an example without a `step_kind` column ("all" when nothing can tell)."""
    try:
        from shopr1.schema import step_kind  # type: ignore[attr-defined]
    except ImportError:
        return "all"
    url, html = _current_page(prompt)
    return step_kind(url, html)


def load_rl_examples(dataset_dir: Path, split: str, max_examples: int | None = None) -> list[dict[str, Any]]:
    """The split's RL examples ordered by (session_id, step_index), the first `max_examples`.

    Each row: session_id, step_index, prompt (messages), gold_action (dict), step_kind.
    """
    import pyarrow.parquet as pq

    folder = rl_split_dir(dataset_dir, split)
    columns = ["session_id", "step_index", "prompt", "gold_action"]
    rows: list[dict[str, Any]] = []
    for part in sorted(folder.glob("*.parquet")):
        names = set(pq.read_schema(part).names)
        missing = [c for c in columns if c not in names]
        if missing:
            raise DatasetError(f"{part} lacks column(s) {', '.join(missing)}: rebuild the dataset with this version")
        rows += pq.read_table(part, columns=columns + (["step_kind"] if "step_kind" in names else [])).to_pylist()
    if not rows:
        raise DatasetError(f"split {split!r} of {dataset_dir} has no RL examples (the parquet parts are empty)")
    rows.sort(key=lambda r: (r["session_id"], r["step_index"]))
    if max_examples is not None:
        rows = rows[:max_examples]
    for row in rows:
        row["gold_action"] = json.loads(row["gold_action"])
        if not row.get("step_kind"):
            row["step_kind"] = derive_step_kind(row["prompt"])
    return rows


def count_rl_examples(dataset_dir: Path, split: str, max_examples: int | None = None) -> int:
    """How many examples `load_rl_examples` would return (reads the Parquet footers only)."""
    import pyarrow.parquet as pq

    folder = rl_split_dir(dataset_dir, split)
    n = sum(pq.read_metadata(part).num_rows for part in folder.glob("*.parquet"))
    return n if max_examples is None else min(n, max_examples)


def split_ceilings(dataset_dir: Path, split: str) -> dict[str, Any] | None:
    """The split's ceilings from summary.json: the full `ceilings[split]` dict (oracle, goal_blind,
    constant, headroom, by_kind) when the build wrote one, else {"oracle": x} from the older
    `oracle_ceiling`, else None."""
    path = Path(dataset_dir) / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    ceilings = (summary.get("ceilings") or {}).get(split)
    if ceilings:
        return ceilings
    oracle = (summary.get("oracle_ceiling") or {}).get(split)
    return {"oracle": oracle} if oracle is not None else None
