"""The durable per-step rationale cache: content hash → accepted rationale, in SQLite (WAL).

Every accepted rationale is committed the moment it arrives, so a run killed part-way keeps all
finished steps and the next run pays only for the rest. WAL mode lets a second process read (or
write) while a run is going; `synchronous=NORMAL` makes a commit survive a killed process (not a
power cut), which is the failure that matters here. Only accepted rationales are stored: a step
that failed is tried again by the next run.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Self

SCHEMA = """
CREATE TABLE IF NOT EXISTS rationales (
    key TEXT PRIMARY KEY,
    rationale TEXT NOT NULL,
    teacher TEXT NOT NULL,
    created REAL NOT NULL
)
"""


class RationaleCache:
    """Get and put rationales by content key; usable as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: each put is its own transaction, durable as soon as it returns.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT rationale FROM rationales WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, rationale: str, teacher: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO rationales (key, rationale, teacher, created) VALUES (?, ?, ?, ?)",
            (key, rationale, teacher, time.time()),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM rationales").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
