"""ShopWorld as an environment: a visitor arrives (`reset`), an agent acts on the page it sees
(`step`), the store answers with the next page, until a purchase, `terminate` or the step cap.

Pages are exactly the HTML ShopWorld logs, and the session an episode leaves behind is a
canonical `Session`. The generator itself runs ShopWorld's own shopper through this loop
(`GroundTruthShopper`, `run_ground_truth`), so `data generate` and a ground-truth episode are the
same code and the same bytes for the same seed.

Visitor `index` of a world is always the same person (goal, persona, entry page, arrival time):
two worlds that differ only in `ShopWorldConfig.site` (an A/B variant) meet the same visitors.

An action the page does not offer (an element that is not there, typing into a link, clicking a
text box, a quantity that is not a number) is an **invalid action**: it is logged as a step, the
page stays as it was, and it is counted; `max_invalid` consecutive invalid actions end the visit.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from shopr1.schema import Action, Session, Step
from shopr1.shopworld.config import ShopWorldConfig
from shopr1.shopworld.pages import Browser, ProductKey
from shopr1.shopworld.policy import ActionKey
from shopr1.shopworld.rng import derived_rng, sample_index
from shopr1.shopworld.shopper import Shopper, sample_shopper
from shopr1.shopworld.simulate import (
    _DEFAULT_DWELL,
    _DWELL,
    Simulated,
    World,
    _enter,
    action_dict,
    is_terminal,
    page_kind,
)

# Why an episode ended.
PURCHASE, TERMINATE, STEP_CAP, STUCK = "purchase", "terminate", "step_cap", "invalid_actions"
ENDS = (PURCHASE, TERMINATE, STEP_CAP, STUCK)

_NAMED = re.compile(r'<(a|button|input|select|textarea)\b[^>]*?\bname="([^"]+)"')
_INPUTS = frozenset({"input", "select", "textarea"})


@dataclass(frozen=True)
class Observation:
    """The page the visitor is on: its HTML (None when pages are not rendered), URL, step index
    (0-based), step kind (`home`, `results`, `product`, `cart`) and whether `nav.back` works."""

    page_html: str | None
    url: str
    step: int
    step_kind: str
    can_back: bool


@dataclass(frozen=True)
class StepResult:
    """What one action did: the page now (unchanged after an invalid action; the last page when
    the visit ended), whether the visit ended and why, and whether the action was valid."""

    observation: Observation
    done: bool
    end: str | None = None
    valid: bool = True
    error: str | None = None


@dataclass
class Visit:
    """The state of one episode (what the env keeps between steps)."""

    index: int
    session_id: str
    shopper: Shopper
    rng: random.Random  # the visitor's own stream: ShopWorld's shopper samples its moves from it
    clock: random.Random
    browser: Browser
    t: float
    context: Any  # blake2b over what a model has seen (pages, actions), for the goal-blind ceiling
    steps: list[Step] = field(default_factory=list)  # as logged (only when pages are rendered)
    taken: int = 0  # actions taken so far
    invalid: list[int] = field(default_factory=list)  # step indices of invalid actions
    run_of_invalid: int = 0
    done: bool = False
    end: str | None = None


def as_action_key(action: Action | dict[str, Any] | ActionKey) -> ActionKey:
    if isinstance(action, tuple):
        return action
    if isinstance(action, dict):
        action = Action(**action)
    return (action.type, action.name, action.text)


def offered(page_html: str) -> dict[str, str]:
    """Element name → tag of every named element on a ShopWorld page."""
    return {name: tag for tag, name in _NAMED.findall(page_html)}


def check_action(action: ActionKey, page_html: str | None) -> str | None:
    """None if the page offers `action`, else why not (no page: every action is taken on trust)."""
    kind, name, text = action
    if kind == "terminate" or page_html is None:
        return None
    tag = offered(page_html).get(name or "")
    if tag is None:
        return f"the page has no element named {name!r}"
    if kind == "click" and tag in _INPUTS:
        return f"{name!r} is a text box: type into it (type_and_submit) rather than click it"
    if kind == "type_and_submit":
        if tag not in _INPUTS:
            return f"{name!r} is not a text box: click it rather than type into it"
        if not (text or "").strip():
            return f"nothing typed into {name!r}"
        if name == "product.quantity" and not ((text or "").isdigit() and 1 <= int(text) <= 99):
            return f"quantity {text!r} is not a whole number from 1 to 99"
    return None


class ShopWorldEnv:
    """One ShopWorld store as an environment (see the module docstring).

    >>> env = ShopWorldEnv(seed=0)
    >>> obs = env.reset(0)
    >>> obs.step, obs.step_kind in ("home", "results", "product")
    (0, True)
    """

    def __init__(
        self,
        seed: int = 0,
        config: ShopWorldConfig | None = None,
        *,
        world: World | None = None,
        purpose: str = "session",
        render_pages: bool = True,
        max_invalid: int | None = 3,
        session_prefix: str = "shopworld",
    ) -> None:
        if world is None:
            from shopr1.shopworld.generate import resolved_config

            world = World(seed, resolved_config(seed, config))
        self.world = world
        self.purpose, self.render_pages = purpose, render_pages
        self.max_invalid, self.session_prefix = max_invalid, session_prefix
        self.visit: Visit | None = None

    # -- what agents may read -------------------------------------------------------------
    @property
    def config(self) -> ShopWorldConfig:
        return self.world.config

    @property
    def view(self) -> Any:
        return self.world.store.view(self._visit.browser.page)

    @property
    def step_index(self) -> int:
        return self._visit.taken

    @property
    def steps(self) -> list[Step]:
        """The steps logged so far (page, action, rationale), as a model's context reads them."""
        return self._visit.steps

    @property
    def done(self) -> bool:
        return self._visit.done

    @property
    def run_of_invalid(self) -> int:
        """Invalid actions in a row at the end of the visit so far."""
        return self._visit.run_of_invalid

    def end_visit(self, end: str) -> None:
        """End the visit from outside (the loop gives up on an agent whose outputs never parse)."""
        if end not in ENDS:
            raise ValueError(f"end must be one of {', '.join(ENDS)}")
        self._visit.done, self._visit.end = True, end

    @property
    def can_back(self) -> bool:
        return bool(self._visit.browser.history)

    @property
    def observation(self) -> Observation:
        v, world = self._visit, self.world
        page, can_back = v.browser.page, bool(v.browser.history)
        html = None
        if self.render_pages:
            cart_count = sum(q for _, q, _ in v.browser.cart)
            # Compact pages state no dates: one cached page serves every day.
            today = datetime.fromtimestamp(v.t, timezone.utc).date()
            day = world.opened if world.config.compact else today
            html = world.html(page, cart_count, can_back, day)
        return Observation(html, world.store.url(page), v.taken, page_kind(page), can_back)

    def persona(self, *, goal: bool | None = None) -> dict[str, Any]:
        """The visitor as the session log records them; `goal=False` leaves the hidden goal out
        (what a persona-conditioned simulator may see). Default: as `record_goal` says."""
        record = self._visit.shopper.record()
        keep_goal = self.config.record_goal if goal is None else goal
        return record if keep_goal else {k: v for k, v in record.items() if k != "goal"}

    def session(self) -> Session:
        """The canonical session of the episode so far (every step with its action)."""
        v = self._visit
        return Session(session_id=v.session_id, persona=self.persona(), steps=list(v.steps))

    @property
    def _visit(self) -> Visit:
        if self.visit is None:
            raise RuntimeError("call reset(index) before acting in the environment")
        return self.visit

    # -- the loop --------------------------------------------------------------------------
    def reset(self, index: int) -> Observation:
        """Visitor `index` arrives; returns the page they land on."""
        world, purpose = self.world, self.purpose
        rng = derived_rng(purpose, world.seed, index)
        clock = derived_rng(f"{purpose}-clock", world.seed, index)
        b = world.config.behaviour
        shopper = sample_shopper(rng, world.catalog, b.decisiveness, b.stocked, b.wishes)
        browser = _enter(world, shopper, derived_rng(f"{purpose}-entry", world.seed, index))
        t = world.config.start_time + index * 900.0 + clock.uniform(0, 600)
        self.visit = Visit(
            index, f"{self.session_prefix}-{world.seed}-{index:06d}", shopper, rng, clock, browser, t,
            hashlib.blake2b(digest_size=8),
        )
        self._saw_page()
        return self.observation

    def _saw_page(self) -> None:
        v = self._visit
        cart_count = sum(q for _, q, _ in v.browser.cart)
        # What a model sees of this page, less the calendar (dates say nothing about the goal).
        v.context.update(repr((v.browser.page, cart_count, bool(v.browser.history))).encode())

    def context_digest(self) -> str:
        return self._visit.context.hexdigest()

    def step(
        self, action: Action | dict[str, Any] | ActionKey, rationale: str | None = None
    ) -> StepResult:
        """Take `action` on the current page (logged with `rationale`)."""
        v = self._visit
        if v.done:
            raise RuntimeError(f"visit {v.session_id} has ended ({v.end}); reset to start another")
        key = as_action_key(action)
        incomplete = Action(**action_dict(key)).missing_fields()
        if incomplete:
            raise ValueError(f"a {key[0]} action needs {', '.join(incomplete)}: nothing to take")
        now, page = self.observation, v.browser.page
        error = check_action(key, now.page_html)
        v.taken += 1
        if self.render_pages:
            v.steps.append(
                Step(page_html=now.page_html, url=now.url, timestamp=round(v.t, 3),
                     action=Action(**action_dict(key)), rationale=rationale)
            )
        v.context.update(repr(key).encode())
        if error is None and is_terminal(key):
            v.done, v.end = True, PURCHASE if key[0] == "click" else TERMINATE
            return StepResult(now, True, v.end)
        if error is None:
            if key[1] == "search_input":
                v.shopper.used_queries.add(key[2] or "")
                v.shopper.last_query = key[2] or ""
            try:
                self.world.store.navigate(v.browser, Action(**action_dict(key)))
            except (ValueError, KeyError, IndexError) as exc:  # named on the page, leads nowhere
                error = f"the store cannot follow {key[1]!r}: {exc}"
            else:
                if isinstance(v.browser.page, ProductKey):
                    v.shopper.visited.add(v.browser.page.product_id)
        if error is None:
            v.run_of_invalid = 0
        else:
            v.invalid.append(v.taken - 1)
            v.run_of_invalid += 1
        if v.taken >= self.world.config.max_steps:
            v.done, v.end = True, STEP_CAP
        elif error is not None and self.max_invalid and v.run_of_invalid >= self.max_invalid:
            v.done, v.end = True, STUCK
        if v.done:
            return StepResult(now, True, v.end, error is None, error)
        # The dwell time depends on the page the action was taken on.
        v.t += v.clock.uniform(*_DWELL.get(type(page), _DEFAULT_DWELL))
        self._saw_page()
        return StepResult(self.observation, False, None, error is None, error)

    def outcome(self) -> dict[str, Any]:
        """A summary of the episode for the simulation's outcomes file."""
        v = self._visit
        return {
            "session_id": v.session_id,
            "index": v.index,
            "steps": v.taken,
            "end": v.end,
            "purchase": v.end == PURCHASE,
            "invalid_steps": list(v.invalid),
        }


class GroundTruthShopper:
    """ShopWorld's own shopper acting through the environment: the policy's distribution at
    every step, sampled from the visitor's own random stream. `rows` collects the per-step policy
    rows `data generate` writes to policy.jsonl."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def act(self, env: ShopWorldEnv) -> ActionKey:
        visit, view = env.visit, env.view
        assert visit is not None
        policy = env.world.policy
        dist = policy.distribution(view, visit.shopper, env.step_index, env.can_back)
        taken = sample_index(visit.rng, [p for _, p in dist])
        self.rows.append(
            {
                "session_id": visit.session_id,
                "step": env.step_index,
                "step_kind": page_kind(visit.browser.page),
                "fit": policy.fits(view, visit.shopper),
                "context": env.context_digest(),
                "distribution": [{"action": action_dict(a), "p": round(p, 7)} for a, p in dist],
                "taken": taken,
            }
        )
        return dist[taken][0]


def run_ground_truth(
    world: World, index: int, *, purpose: str = "session", render_pages: bool = True
) -> Simulated:
    """Visitor `index` shopping with ShopWorld's own policy, start to end (what `data generate`
    writes for session `index`)."""
    env = ShopWorldEnv(world=world, purpose=purpose, render_pages=render_pages, max_invalid=None)
    env.reset(index)
    shopper, actions = GroundTruthShopper(), []
    while True:
        action = shopper.act(env)
        actions.append(action)
        result = env.step(action)
        if not result.valid:
            raise AssertionError(f"ShopWorld's own shopper took an invalid action: {result.error}")
        if result.done:
            break
    session = env.session() if render_pages else None
    return Simulated(session, shopper.rows, actions)
