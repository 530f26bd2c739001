"""Checking raw sessions against the `raw_sessions` contract, and the quarantine.

Each input row is reduced to flat check columns (counts of bad steps, ordering flags, ...), the
contract (GX) says which rows break which expectation, and broken rows go to the quarantine file
with every reason and the row exactly as it came in. Accepted + quarantined = input, always.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from shopr1.contracts import row_failures
from shopr1.data.readers import RawRecord, parse_timestamp
from shopr1.schema import ACTION_TYPES, Session

# A final click counts as a purchase when its element name says so (ShopWorld: product.buy_now,
# cart.checkout; real sites: place_order, purchase ...).
PURCHASE_NAME = re.compile(r"(^|[._\-])(buy_now|buy|checkout|place_order|purchase)([._\-]|$)", re.IGNORECASE)


def is_purchase_name(name: str | None) -> bool:
    """Whether an element's name says clicking it buys: the one definition of a purchase control
    (ShopWorld ends its sessions by it, the raw contract checks final clicks by it)."""
    return bool(PURCHASE_NAME.search(name or ""))


STEP_KEYS = ("page_html", "raw_html", "url", "timestamp", "action", "rationale")


def is_purchase(step: dict[str, Any]) -> bool:
    """A click on a purchase control: by element name, or OPeRA's `click_type == "purchase"`."""
    action = step.get("action") or {}
    if action.get("type") != "click":
        return False
    return step.get("click_type") == "purchase" or is_purchase_name(str(action.get("name") or ""))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_columns(record: RawRecord, seen_ids: dict[str, int]) -> dict[str, Any]:
    """The flat check columns of one raw row (the `raw_sessions` contract reads these)."""
    out: dict[str, Any] = {
        "read_ok": record.data is not None, "session_id": None, "dup_rank": 0, "n_steps": 1,
        "n_malformed_steps": 0, "n_unknown_type": 0, "n_click_without_name": 0,
        "n_input_without_name": 0, "n_input_without_text": 0, "n_bad_field_types": 0,
        "n_without_page": 0, "max_html_chars": 0, "n_bad_timestamps": 0, "timestamps_ordered": True,
        "n_duplicate_steps": 0, "n_early_terminate": 0, "ends_in_purchase_or_terminate": True,
    }
    data = record.data
    if data is None:
        return out
    sid = data.get("session_id")
    if not _blank(sid):
        sid = str(sid)
        out["session_id"] = sid
        out["dup_rank"] = seen_ids.get(sid, 0)
        seen_ids[sid] = out["dup_rank"] + 1
    steps = data.get("steps")
    steps = steps if isinstance(steps, list) else []
    out["n_steps"] = len(steps)
    stamps: list[float] = []
    seen_steps: set[str] = set()
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("action"), dict):
            out["n_malformed_steps"] += 1
            continue
        action = step["action"]
        kind = action.get("type")
        if kind not in ACTION_TYPES:
            out["n_unknown_type"] += 1
        if any(not (v is None or isinstance(v, str)) for v in (action.get("name"), action.get("text"))) or any(
            not (step.get(k) is None or isinstance(step.get(k), str)) for k in ("page_html", "raw_html", "rationale", "url")
        ):
            out["n_bad_field_types"] += 1
        out["n_click_without_name"] += kind == "click" and _blank(action.get("name"))
        out["n_input_without_name"] += kind == "type_and_submit" and _blank(action.get("name"))
        out["n_input_without_text"] += kind == "type_and_submit" and _blank(action.get("text"))
        out["n_early_terminate"] += kind == "terminate" and i < len(steps) - 1
        pages = [p for p in (step.get("page_html"), step.get("raw_html")) if isinstance(p, str) and p]
        out["n_without_page"] += not pages
        out["max_html_chars"] = max([out["max_html_chars"], *map(len, pages)])
        if step.get("timestamp") is not None:
            try:
                stamps.append(parse_timestamp(step["timestamp"]))
            except (ValueError, TypeError, OverflowError):
                out["n_bad_timestamps"] += 1
            key = json.dumps([step.get("timestamp"), action], sort_keys=True, default=str)
            out["n_duplicate_steps"] += key in seen_steps
            seen_steps.add(key)
    out["timestamps_ordered"] = all(a <= b for a, b in zip(stamps, stamps[1:], strict=False))
    if steps and isinstance(steps[-1], dict) and isinstance(steps[-1].get("action"), dict):
        out["ends_in_purchase_or_terminate"] = steps[-1]["action"].get("type") == "terminate" or is_purchase(steps[-1])
    return out


def to_session(data: dict[str, Any]) -> Session:
    """The canonical Session of a row that passed the contract (unknown keys are not carried)."""
    steps = [{k: s[k] for k in STEP_KEYS if s.get(k) is not None} for s in data["steps"]]
    for step in steps:
        step["action"] = {k: v for k, v in step["action"].items() if k in ("type", "name", "text") and v is not None}
    return Session(session_id=str(data["session_id"]), persona=data.get("persona"), steps=steps)


class Quarantine:
    """Append-only JSONL of rejected rows: where each came from, why, and the row itself."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.reasons: dict[str, int] = {}
        self._fh: IO[str] | None = None

    def add(self, row: int, session_id: str | None, reasons: list[str], raw: dict[str, str],
            detail: str | None = None, source: str | None = None) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w", encoding="utf-8")
        entry = {"source": source, "row": row, "session_id": session_id, "reasons": reasons,
                 **({"detail": detail} if detail else {}), **raw}
        self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.count += 1
        for reason in reasons:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def validate_chunk(
    records: Iterable[RawRecord], suite: dict[str, Any], seen_ids: dict[str, int], quarantine: Quarantine
) -> list[tuple[RawRecord, Session]]:
    """Run the contract over a chunk of rows; return the accepted ones as Sessions."""
    import pandas as pd

    records = list(records)
    checks = [check_columns(r, seen_ids) for r in records]
    accepted: list[tuple[RawRecord, Session]] = []
    failures = row_failures(pd.DataFrame(checks), suite)
    for record, reasons, sid in zip(records, failures, (c["session_id"] for c in checks), strict=True):
        if not reasons:
            try:
                accepted.append((record, to_session(record.data or {})))
                continue
            except (ValidationError, KeyError, TypeError) as exc:
                reasons = [f"schema: {_first_error(exc)}"]
        quarantine.add(record.row, sid, reasons, record.raw_for_quarantine(), detail=record.error, source=record.source)
    return accepted


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return str(exc)
