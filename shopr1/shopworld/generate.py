"""Sessions out of ShopWorld: stream simulated visits (`simulate.py`) and their per-step policy
distributions to files (the oracle and goal-blind ceilings of any subset come from `oracle.py`).

Session i draws from its own random streams derived from (seed, i), and the catalog depends only
on the seed and config, so the first N sessions are the same whatever the total. Files are
written as sessions are made: memory does not grow with the number of sessions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from shopr1.schema import Session
from shopr1.shopworld.config import ShopWorldConfig
from shopr1.shopworld.mix import calibrate_type_weights
from shopr1.shopworld.oracle import ceilings
from shopr1.shopworld.simulate import MixCounter, World, simulate

GENERATOR_VERSION = "shopworld-2.0"
PROGRESS_EVERY = 50
log = logging.getLogger(__name__)


def resolved_config(seed: int, config: ShopWorldConfig | None) -> ShopWorldConfig:
    config = config or ShopWorldConfig()
    if config.target_mix is not None:
        config = config.model_copy(
            update={"type_weights": calibrate_type_weights(config, config.target_mix, seed)}
        )
    return config


def iter_shopworld(
    sessions: int, seed: int = 0, config: ShopWorldConfig | None = None
) -> Iterator[tuple[Session, list[dict]]]:
    """Yield (session, per-step policy rows) for sessions 0..sessions-1."""
    world = World(seed, resolved_config(seed, config))
    for index in range(sessions):
        sim = simulate(world, index)
        yield sim.session, sim.policy_rows


def write_shopworld(
    out_dir: Path,
    sessions: int,
    seed: int = 0,
    config: ShopWorldConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write sessions.jsonl, policy.jsonl, catalog.json and manifest.json; return the manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = resolved_config(seed, config)
    world = World(seed, config)
    (out_dir / "catalog.json").write_text(
        json.dumps(world.store.catalog.to_json_dict(), ensure_ascii=False) + "\n", encoding="utf-8"
    )
    counter, pending = MixCounter(), 0
    with (
        open(out_dir / "sessions.jsonl", "w", encoding="utf-8") as fs,
        open(out_dir / "policy.jsonl", "w", encoding="utf-8") as fp,
    ):
        for index in range(sessions):
            sim = simulate(world, index)
            fs.write(sim.session.model_dump_json(exclude_none=True) + "\n")
            fp.writelines(
                json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
                for row in sim.policy_rows
            )
            counter.add(sim.actions, sim.policy_rows, sim.session)
            pending += 1
            if progress is not None and (pending == PROGRESS_EVERY or index == sessions - 1):
                progress(pending)
                pending = 0
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        **counter.summary(),
        "ceilings": ceilings(out_dir / "policy.jsonl") if counter.steps else None,
        "files": ["sessions.jsonl", "policy.jsonl", "catalog.json"],
        "config": config.model_dump(mode="json"),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info(
        "ShopWorld: %d sessions, %d steps, mix %s, oracle %.4f, goal-blind %.4f, constant %.4f -> %s",
        counter.sessions,
        counter.steps,
        counter.mix(),
        manifest["oracle_ceiling"],
        (manifest["ceilings"] or {}).get("goal_blind", float("nan")),
        (manifest["ceilings"] or {}).get("constant", {}).get("exact", float("nan")),
        out_dir,
    )
    return manifest
