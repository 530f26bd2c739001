"""Sessions out of ShopWorld: simulate shoppers step by step, stream sessions and per-step policy
distributions to files (the oracle ceiling of any subset comes from `oracle.py`).

Session i draws from its own random streams derived from (seed, i), and the catalog depends only
on the seed and config, so the first N sessions are the same whatever the total. Files are
written as sessions are made: memory does not grow with the number of sessions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from shopr1.schema import ACTION_TYPES, Action, Session, Step
from shopr1.shopworld.catalog import build_catalog
from shopr1.shopworld.config import ShopWorldConfig
from shopr1.shopworld.oracle import step_oracle
from shopr1.shopworld.pages import TERMINAL_NAMES, Browser, CartKey, HomeKey, PageKey, ProductKey
from shopr1.shopworld.policy import ActionKey, Policy
from shopr1.shopworld.render import render
from shopr1.shopworld.rng import derived_rng, sample_index
from shopr1.shopworld.shopper import sample_shopper
from shopr1.shopworld.store import Store

GENERATOR_VERSION = "shopworld-1.0"
PROGRESS_EVERY = 50
# Seconds spent on a page before acting (results pages take the default).
_DWELL = {HomeKey: (2.0, 12.0), CartKey: (4.0, 25.0), ProductKey: (10.0, 90.0)}
_DEFAULT_DWELL = (5.0, 40.0)
log = logging.getLogger(__name__)


def action_dict(action: ActionKey) -> dict[str, str]:
    kind, name, text = action
    return {
        "type": kind,
        **({"name": name} if name is not None else {}),
        **({"text": text} if text is not None else {}),
    }


def is_terminal(action: ActionKey) -> bool:
    return action[0] == "terminate" or action[1] in TERMINAL_NAMES


class World:
    """Catalog, store, policy and a page cache for one (seed, config)."""

    def __init__(self, seed: int, config: ShopWorldConfig) -> None:
        self.seed, self.config = seed, config
        self.catalog = build_catalog(seed, config.catalog_size, config.slug_words)
        self.store = Store(self.catalog, config)
        self.policy = Policy(config)
        # Realistic pages are ~40 KB in memory each: cache fewer so memory stays flat.
        self.html = lru_cache(maxsize=4096 if config.compact else 512)(self._html)

    def _html(self, key: PageKey, cart_count: int, can_back: bool) -> str:
        view = self.store.view(key)
        return render(
            view,
            compact=self.config.compact,
            seed=self.seed,
            cart_count=cart_count,
            can_back=can_back,
        )


@dataclass
class Simulated:
    """One session as generated: the canonical session (if rendered), policy rows, action keys."""

    session: Session | None
    policy_rows: list[dict[str, Any]]
    actions: list[ActionKey]


def simulate(
    world: World, index: int, *, purpose: str = "session", render_pages: bool = True
) -> Simulated:
    """Run shopper `index` from the home page until a purchase click or terminate."""
    rng = derived_rng(purpose, world.seed, index)
    clock = derived_rng(f"{purpose}-clock", world.seed, index)
    session_id = f"shopworld-{world.seed}-{index:06d}"
    shopper = sample_shopper(rng, world.catalog)
    browser = Browser()
    t = world.config.start_time + index * 900.0 + clock.uniform(0, 600)
    steps, rows, actions = [], [], []
    for step in range(world.config.max_steps):
        view = world.store.view(browser.page)
        can_back = bool(browser.history)
        dist = world.policy.distribution(view, shopper, step, can_back)
        taken = sample_index(rng, [p for _, p in dist])
        action = dist[taken][0]
        actions.append(action)
        rows.append(
            {
                "session_id": session_id,
                "step": step,
                "distribution": [{"action": action_dict(a), "p": round(p, 7)} for a, p in dist],
                "taken": taken,
            }
        )
        if render_pages:
            cart_count = sum(q for _, q, _ in browser.cart)
            html = world.html(browser.page, cart_count, can_back)
            steps.append(
                Step(
                    page_html=html,
                    url=world.store.url(browser.page),
                    timestamp=round(t, 3),
                    action=Action(**action_dict(action)),
                )
            )
        if is_terminal(action):
            break
        t += clock.uniform(*_DWELL.get(type(browser.page), _DEFAULT_DWELL))
        if action[1] == "search_input":
            shopper.used_queries.add(action[2] or "")
        world.store.navigate(browser, Action(**action_dict(action)))
        if isinstance(browser.page, ProductKey):
            shopper.visited.add(browser.page.product_id)
    persona = (
        shopper.record()
        if world.config.record_goal
        else {k: v for k, v in shopper.record().items() if k != "goal"}
    )
    session = Session(session_id=session_id, persona=persona, steps=steps) if render_pages else None
    return Simulated(session, rows, actions)


def _resolved(seed: int, config: ShopWorldConfig | None) -> ShopWorldConfig:
    config = config or ShopWorldConfig()
    if config.target_mix is not None:
        from shopr1.shopworld.mix import calibrate_type_weights

        config = config.model_copy(
            update={"type_weights": calibrate_type_weights(config, config.target_mix, seed)}
        )
    return config


def iter_shopworld(
    sessions: int, seed: int = 0, config: ShopWorldConfig | None = None
) -> Iterator[tuple[Session, list[dict]]]:
    """Yield (session, per-step policy rows) for sessions 0..sessions-1."""
    world = World(seed, _resolved(seed, config))
    for index in range(sessions):
        sim = simulate(world, index)
        yield sim.session, sim.policy_rows


class MixCounter:
    """Running action-type counts, oracle sum and page sizes over generated steps."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(ACTION_TYPES, 0)
        self.sessions = self.purchases = self.page_chars = 0
        self.oracle_sum = self.strict_oracle_sum = 0.0

    def add(
        self, actions: list[ActionKey], rows: list[dict], session: Session | None = None
    ) -> None:
        self.sessions += 1
        self.purchases += actions[-1][1] in TERMINAL_NAMES
        for action in actions:
            self.counts[action[0]] += 1
        self.oracle_sum += sum(step_oracle(row["distribution"])[1] for row in rows)
        self.strict_oracle_sum += sum(max(d["p"] for d in row["distribution"]) for row in rows)
        if session is not None:
            self.page_chars += sum(len(s.page_html or "") for s in session.steps)

    @property
    def steps(self) -> int:
        return sum(self.counts.values())

    def mix(self) -> dict[str, float]:
        return {k: round(n / max(self.steps, 1), 4) for k, n in self.counts.items()}

    def summary(self) -> dict[str, Any]:
        steps = max(self.steps, 1)
        return {
            "sessions": self.sessions,
            "steps": self.steps,
            "action_mix": self.mix(),
            "action_counts": self.counts,
            "oracle_ceiling": round(self.oracle_sum / steps, 4),
            "oracle_ceiling_strict": round(self.strict_oracle_sum / steps, 4),
            "purchase_rate": round(self.purchases / max(self.sessions, 1), 4),
            "mean_steps_per_session": round(self.steps / max(self.sessions, 1), 3),
            "mean_page_chars": round(self.page_chars / steps, 1),
        }


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
    config = _resolved(seed, config)
    world = World(seed, config)
    (out_dir / "catalog.json").write_text(
        json.dumps(world.catalog.to_json_dict(), ensure_ascii=False) + "\n", encoding="utf-8"
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
        "files": ["sessions.jsonl", "policy.jsonl", "catalog.json"],
        "config": config.model_dump(mode="json"),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info(
        "ShopWorld: %d sessions, %d steps, mix %s, oracle ceiling %.4f -> %s",
        counter.sessions,
        counter.steps,
        counter.mix(),
        manifest["oracle_ceiling"],
        out_dir,
    )
    return manifest
