"""Shared fixtures: small canonical sessions written by the tests themselves (no network, no hub)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def make_session(sid: str, *, end: str = "terminate", rationales: bool = False, pages: int = 3) -> dict[str, Any]:
    """A small valid canonical session: search, click a result, then buy or leave."""
    steps: list[dict[str, Any]] = [
        {"page_html": '<header><input name="search_input" placeholder="Search"/></header>', "url": "/",
         "timestamp": 1.0, "action": {"type": "type_and_submit", "name": "search_input", "text": "red running shoes"}},
    ]
    for i in range(pages - 2):
        steps.append({"page_html": f'<ul><li><a name="search_results.shoe_{i}.title">Shoe {i}</a></li></ul>', "url": f"/s?p={i}",
                      "timestamp": 2.0 + i, "action": {"type": "click", "name": f"search_results.shoe_{i}.title"}})
    last = {"type": "terminate"} if end == "terminate" else {"type": "click", "name": "product.buy_now"}
    steps.append({"page_html": '<button name="product.buy_now">Buy now</button>', "url": "/p/shoe",
                  "timestamp": float(pages), "action": last})
    if rationales:
        for i, step in enumerate(steps):
            step["rationale"] = f"I take step {i + 1} because it gets me closer to shoes."
    return {"session_id": sid, "steps": steps}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


@pytest.fixture
def session_factory():
    return make_session


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One temporary Prefect server for the whole session (flow and deployment tests), with its own
    PREFECT_HOME and no analytics; yields its API URL."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with temporary_settings({PREFECT_HOME: str(home), PREFECT_SERVER_ANALYTICS_ENABLED: False}):
        with prefect_test_harness(server_startup_timeout=120):
            yield PREFECT_API_URL.value()
