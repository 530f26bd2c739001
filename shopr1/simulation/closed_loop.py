"""Simulated shoppers in a live store: an agent shops from the page a visitor lands on until a
purchase, `terminate`, the step cap or too many invalid actions.

Two agents share one loop: `GroundTruthAgent` (ShopWorld's own shoppers, the reference) and
`ModelAgent` (a simulator checkpoint that sees the context the recipe's prompts build — pages and
actions so far — and answers rationale + action, sampled at a temperature, batched across every
visit still going). The output is a folder:

- `sessions.jsonl` — the visits in the canonical format (SPEC §4), rationales included;
- `outcomes.jsonl` — per visit: how it ended, invalid and unparsed outputs;
- `summary.json` — who shopped where, and the headline rates.

Visitors are numbered: visitor i of a world is the same person (goal, persona, entry page) for
every agent and every store variant, and `first_visitor` defaults far above any training index,
so simulated shoppers are people the model never saw.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shopr1.atomic import atomic_write_text
from shopr1.schema import parse_prediction
from shopr1.shopworld.config import ShopWorldConfig
from shopr1.shopworld.env import STUCK, GroundTruthShopper, ShopWorldEnv
from shopr1.shopworld.simulate import World, action_dict

log = logging.getLogger(__name__)

FIRST_VISITOR = 1_000_000  # far above any index `data generate` writes for training
SESSIONS_FILE, OUTCOMES_FILE, SUMMARY_FILE = "sessions.jsonl", "outcomes.jsonl", "summary.json"


@dataclass
class Move:
    """What an agent answered for one visit: an action (None when its output did not parse)."""

    action: dict[str, Any] | None
    rationale: str | None = None
    error: str | None = None


class Agent(Protocol):
    name: str

    def act(self, envs: Sequence[ShopWorldEnv]) -> list[Move]: ...


class GroundTruthAgent:
    """ShopWorld's own shoppers: each visitor's true policy (they know their hidden goal)."""

    name = "ground-truth"

    def __init__(self) -> None:
        self._shoppers: dict[int, GroundTruthShopper] = {}

    def act(self, envs: Sequence[ShopWorldEnv]) -> list[Move]:
        moves = []
        for env in envs:
            shopper = self._shoppers.setdefault(id(env), GroundTruthShopper())
            moves.append(Move(action_dict(shopper.act(env))))
        return moves


class ModelAgent:
    """A simulator checkpoint (`serving.Simulator`) acting on what a model sees: the pages and
    actions of the visit so far, fitted to its context budget, no goal."""

    def __init__(self, simulator: Any, *, temperature: float = 1.0, name: str = "model") -> None:
        self.simulator, self.temperature, self.name = simulator, temperature, name

    def act(self, envs: Sequence[ShopWorldEnv]) -> list[Move]:
        from shopr1.serving.contexts import Context

        contexts = []
        for env in envs:
            steps, now = env.steps, env.observation
            # The population's persona of this visitor, never the goal (used by persona-conditioned models).
            persona = env.persona(goal=False) if hasattr(env, "persona") else None
            contexts.append(Context(pages=[(s.page_html or "", s.url) for s in steps] + [(now.page_html or "", now.url)],
                                    past_actions=[s.action for s in steps], persona=persona))
        texts = self.simulator.generate([self.simulator.prompt_text(c) for c in contexts], self.temperature)
        moves = []
        for text in texts:
            parsed = parse_prediction(text)
            if parsed.prediction is None:
                moves.append(Move(None, None, parsed.error or "output did not parse"))
            elif parsed.prediction.action.missing_fields():  # e.g. a search with no text: nothing to do
                missing = ", ".join(parsed.prediction.action.missing_fields())
                moves.append(Move(None, None, f"{parsed.prediction.action.type} action without {missing}"))
            else:
                moves.append(Move(parsed.prediction.action.to_json_dict(), parsed.prediction.rationale))
        return moves


def is_bounce(outcome: dict[str, Any]) -> bool:
    """A visit that left from its landing page without doing anything else."""
    return outcome["steps"] == 1 and outcome["end"] == "terminate"


@dataclass
class Run:
    """The visits of one closed-loop run, with their outcomes."""

    sessions: list[Any] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        n = max(len(self.outcomes), 1)
        attempts = sum(o["steps"] + o["unparsed"] for o in self.outcomes)
        bad = sum(len(o["invalid_steps"]) + o["unparsed"] for o in self.outcomes)
        ends: dict[str, int] = {}
        for o in self.outcomes:
            ends[o["end"]] = ends.get(o["end"], 0) + 1
        return {
            "sessions": len(self.outcomes),
            "steps": sum(o["steps"] for o in self.outcomes),
            "purchase_rate": round(sum(o["purchase"] for o in self.outcomes) / n, 4),
            "bounce_rate": round(sum(map(is_bounce, self.outcomes)) / n, 4),
            "mean_steps": round(sum(o["steps"] for o in self.outcomes) / n, 3),
            "invalid_rate": round(bad / max(attempts, 1), 4),
            "ends": ends,
            "seconds": round(self.seconds, 1),
        }


def run_closed_loop(
    world: World,
    agent: Agent,
    sessions: int,
    *,
    first_visitor: int = FIRST_VISITOR,
    max_invalid: int = 3,
    session_prefix: str = "sim",
    progress: Callable[[int], None] | None = None,
    make_env: Callable[[], Any] | None = None,
) -> Run:
    """Visitors first_visitor .. first_visitor + sessions - 1 shop with `agent` in `world`.
    Every round, each visit still going takes one step (a model answers them as one batch).
    `make_env` builds another store's environment instead (the adapter interface of
    docs/simulation.md: reset, step, observation, steps, run_of_invalid, end_visit, session,
    outcome); `world` is then unused."""
    started = time.perf_counter()
    envs = []
    for i in range(sessions):
        env = make_env() if make_env else ShopWorldEnv(world=world, max_invalid=max_invalid, session_prefix=session_prefix)
        env.reset(first_visitor + i)
        envs.append(env)
    unparsed = [0] * sessions
    run_of_unparsed = [0] * sessions
    active = list(range(sessions))
    while active:
        moves = agent.act([envs[i] for i in active])
        still = []
        for i, move in zip(active, moves, strict=True):
            env = envs[i]
            if move.action is None:  # nothing to take: counted; the visit ends after max_invalid in a row
                unparsed[i] += 1
                run_of_unparsed[i] += 1
                if run_of_unparsed[i] + env.run_of_invalid >= max_invalid:
                    env.end_visit(STUCK)  # with no step logged, the visit leaves no session
                    if progress:
                        progress(1)
                else:
                    still.append(i)
                continue
            run_of_unparsed[i] = 0
            result = env.step(move.action, move.rationale)
            if result.done:
                if progress:
                    progress(1)
            else:
                still.append(i)
        active = still
    run = Run(seconds=time.perf_counter() - started)
    for i, env in enumerate(envs):
        outcome = {**env.outcome(), "unparsed": unparsed[i], "agent": agent.name}
        run.outcomes.append(outcome)
        if env.steps:
            run.sessions.append(env.session())
    return run


def write_run(run: Run, out: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """sessions.jsonl, outcomes.jsonl and summary.json under `out` (each written atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / SESSIONS_FILE, "".join(s.model_dump_json(exclude_none=True) + "\n" for s in run.sessions))
    atomic_write_text(out / OUTCOMES_FILE, "".join(json.dumps(o) + "\n" for o in run.outcomes))
    summary = {**meta, **run.summary()}
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return summary


def world_for(seed: int, config: ShopWorldConfig | None = None) -> World:
    from shopr1.shopworld.generate import resolved_config

    return World(seed, resolved_config(seed, config))
