"""Reading session logs into raw records, one per input row, without losing any row.

Canonical JSONL is read line by line as bytes, so a malformed or non-UTF-8 line becomes a record
with an error (and later a quarantine row) instead of stopping the run or vanishing. Canonical
Parquet is read in row-group batches so memory stays flat; OPeRA Parquet must be sorted by
session and time, so its used columns are loaded whole. Timestamps may be numbers, ISO-8601
strings or Parquet datetimes; a timestamp without a zone is read as UTC. `resolve_inputs` checks
every input before a build starts (exists, readable, known format) and turns a folder into the
session files inside it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

OPERA_COLUMNS = ("session_id", "action_id", "timestamp", "action_type", "semantic_id", "simplified_html")
OPERA_ACTION_TYPES = {"click": "click", "input": "type_and_submit", "terminate": "terminate"}
#: What a folder's session files are named like; JSON files in a folder are metadata (catalog, manifest).
SESSION_SUFFIXES = (".jsonl", ".ndjson", ".parquet")
#: Files that sit beside sessions but hold something else: ShopWorld's per-step policy rows and its
#: metadata, a build's summary.
NOT_SESSIONS = {
    "policy.jsonl": "ShopWorld's shopper-policy rows",
    "catalog.json": "ShopWorld's product catalog",
    "manifest.json": "ShopWorld's manifest",
    "summary.json": "a build summary",
}

logger = logging.getLogger(__name__)


class InputError(ValueError):
    """An input that cannot be read as session logs; the message names it and what to do instead."""


@dataclass
class RawRecord:
    """One input row: its position, the parsed object (or the reason it has none), and the raw text."""

    row: int
    data: dict[str, Any] | None
    error: str | None = None
    raw_text: str | None = None
    raw_b64: str | None = None
    source: str | None = None

    def raw_for_quarantine(self) -> dict[str, str]:
        """The row as it came in, so a quarantined row can be fixed and replayed."""
        if self.raw_b64 is not None:
            return {"raw_b64": self.raw_b64}
        if self.raw_text is not None:
            return {"raw": self.raw_text}
        return {"raw": json.dumps(self.data, ensure_ascii=False, default=str)}


def parse_timestamp(value: Any) -> float:
    """Seconds since the epoch from a number, a numeric string, an ISO-8601 string or a datetime
    (naive values are UTC, so the result never depends on the machine's zone); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("boolean timestamp")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime | date):
        moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _jsonable(value: Any) -> Any:
    """Parquet datetimes become ISO strings, so a session is the same whichever file it came from."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def detect_format(path: Path) -> str:
    """'jsonl', 'parquet' (canonical, nested steps) or 'opera' (one row per action)."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        names = set(pq.read_schema(path).names)
        if "steps" in names:
            return "parquet"
        if set(OPERA_COLUMNS) <= names:
            return "opera"
        raise ValueError(
            f"{path}: Parquet file has neither a 'steps' column (canonical sessions) nor the OPeRA "
            f"columns {', '.join(OPERA_COLUMNS)}; found: {', '.join(sorted(names))}"
        )
    raise ValueError(f"{path}: unknown file type {suffix!r}; expected .jsonl or .parquet")


def read_jsonl(path: Path) -> Iterator[RawRecord]:
    """One record per non-blank line; bad UTF-8 and bad JSON become records with an error."""
    with open(path, "rb") as fh:
        for row, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield RawRecord(row, None, f"invalid UTF-8 at byte {exc.start}", raw_b64=base64.b64encode(line).decode(), source=str(path))
                continue
            try:
                obj = json.loads(text)
            except ValueError as exc:
                yield RawRecord(row, None, f"malformed JSON: {exc.msg} (column {exc.colno})", raw_text=text, source=str(path))
                continue
            if not isinstance(obj, dict):
                yield RawRecord(row, None, f"line is JSON {type(obj).__name__}, not an object", raw_text=text, source=str(path))
                continue
            yield RawRecord(row, obj, raw_text=text, source=str(path))


def read_parquet_sessions(path: Path, batch_rows: int = 1024) -> Iterator[RawRecord]:
    """Canonical sessions stored one per Parquet row (a nested `steps` list)."""
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for obj in batch.to_pylist():
            yield RawRecord(row, _jsonable(obj), source=str(path))
            row += 1


def _opera_step(r: dict[str, Any]) -> dict[str, Any]:
    kind = (r.get("action_type") or "").strip().lower()
    action: dict[str, Any] = {"type": OPERA_ACTION_TYPES.get(kind, kind or None)}
    if kind in ("click", "input"):
        action["name"] = r.get("semantic_id")
    if kind == "input":
        action["text"] = r.get("input_text")
    step = {"page_html": r.get("simplified_html"), "timestamp": _jsonable(r.get("timestamp")), "action": action}
    for key in ("rationale", "url", "click_type", "action_id"):
        if r.get(key):
            step[key] = r[key]  # click_type marks purchases; both are dropped once validated
    return step


def _natural(text: Any) -> tuple:
    """Sort key that orders "9" before "10" (and "a-9" before "a-10")."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(text or "")))


def _time_key(value: Any) -> tuple[int, float]:
    try:
        return (0, parse_timestamp(value))
    except (ValueError, TypeError, OverflowError):
        return (1, 0.0)  # unparseable stamps sort last; the contract reports them


def read_opera(path: Path) -> Iterator[RawRecord]:
    """OPeRA Parquet (one row per action, string columns) → one record per session.

    Rows are grouped by session (in order of first appearance) and ordered by parsed timestamp,
    then action_id in natural order, then file order (SPEC §4). Only the columns we use are read.
    """
    import polars as pl

    wanted = [*OPERA_COLUMNS, "input_text", "rationale", "click_type", "url"]
    available = set(pl.read_parquet_schema(path))
    frame = pl.scan_parquet(path).select([c for c in wanted if c in available]).with_row_index("_row").collect()
    # One session's rows become Python dicts at a time, so the HTML is not held twice.
    for row, (_, group) in enumerate(frame.group_by("session_id", maintain_order=True)):
        rows = sorted(group.to_dicts(), key=lambda r: (_time_key(r["timestamp"]), _natural(r["action_id"]), r["_row"]))
        obj = {"session_id": rows[0]["session_id"], "steps": [_opera_step(r) for r in rows]}
        yield RawRecord(row, obj, source=str(path))


def read_records(path: str | Path) -> Iterator[RawRecord]:
    """Every input row of `path` as a RawRecord, whatever the format."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    fmt = detect_format(path)
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "parquet":
        return read_parquet_sessions(path)
    return read_opera(path)


def session_files(folder: Path) -> list[Path]:
    """The session logs directly inside `folder`, by name: `*.jsonl`, `*.ndjson`, `*.parquet`, but not
    the files that only sit beside sessions (`policy.jsonl`, `*.missing.jsonl`, hidden temporaries)."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in SESSION_SUFFIXES and not p.name.startswith(".")
        and p.name not in NOT_SESSIONS and not p.name.endswith(".missing.jsonl")
    )


def _check_file(path: Path) -> None:
    """InputError unless `path` is a non-empty readable file of a known format."""
    if path.name in NOT_SESSIONS and (path.parent / "manifest.json").exists():
        raise InputError(f"{path} is {NOT_SESSIONS[path.name]}, not sessions; pass "
                         f"{path.parent / 'sessions.jsonl'} or the folder {path.parent}")
    try:
        with open(path, "rb") as fh:
            empty = not fh.read(1)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if empty:
        raise InputError(f"{path} is empty")
    try:
        detect_format(path)
    except InputError:
        raise
    except ValueError as exc:  # unknown suffix, a Parquet file of neither shape, or not Parquet at all
        message = str(exc)
        raise InputError(message if message.startswith(str(path)) else f"{path}: not a readable Parquet file ({message})") from None


def resolve_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """The session files to read, each checked; a folder stands for the session files inside it.

    Raises InputError naming the first input that is missing, unreadable, empty, of an unknown
    format, or a folder without session files. A file named twice is read once.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = session_files(path)
            if not found:
                present = ", ".join(sorted(p.name for p in path.iterdir() if not p.name.startswith("."))[:8]) or "nothing"
                raise InputError(f"{path} is a folder without session files (*.jsonl, *.ndjson or *.parquet other "
                                 f"than policy.jsonl and *.missing.jsonl); it holds: {present}")
            logger.info("%s: reading %s", path, ", ".join(p.name for p in found))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or folder. Generate sample data with `shopr1 data generate`.")
    unique: dict[Path, Path] = {}
    for path in files:
        if path.resolve() in unique:
            logger.warning("%s is named more than once; it is read once", path)
            continue
        _check_file(path)
        unique[path.resolve()] = path
    return list(unique.values())
