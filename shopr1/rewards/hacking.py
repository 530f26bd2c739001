"""The reward-hacking check: what constant policies earn against predicting the gold action.

A reward can be gamed when a policy that ignores the page earns close to one that gets the
action right. For each step (gold action + the page it was taken on) this scores fixed
strategies — always terminate, always click the first named element, always search one text —
with the real reward functions, with and without DARS, under each name similarity.
`shopr1.rewards.siblings` does the same for near misses of a product click. docs/rewards.md
shows the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from shopr1.matching import exact_match
from shopr1.rewards.components import RewardParams
from shopr1.rewards.registry import rewards_for_setting
from shopr1.schema import Action, Prediction

FIXED_QUERY = "running shoes"
# Table columns: (key, reward setting, name similarity); the key is what `mean_reward` holds.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("shop_r1", "shop_r1", "rougeL"),
    ("shop_r1/item", "shop_r1", "item"),
    ("shop_r1/exact", "shop_r1", "exact"),
    ("no_dars", "no_dars", "rougeL"),
)
_COLUMN_TITLES = {
    "shop_r1": "Shop-R1 (DARS 1000), `rougeL` names",
    "shop_r1/item": "Shop-R1, `item` names",
    "shop_r1/exact": "Shop-R1, `exact` names",
    "no_dars": "no DARS, `rougeL` names",
}


@dataclass(frozen=True)
class HackingStep:
    """One gold step; `most_likely` is the generator's most probable action, when known."""

    gold: Action
    page_html: str
    most_likely: Action | None = None

    @cached_property
    def names(self) -> list[str]:
        """The page's element names in document order (parsed once)."""
        return named_elements(self.page_html)


def named_elements(page_html: str, within: str = "") -> list[str]:
    """`name` attributes in document order, optionally only inside the first `within` tag."""
    import lxml.html

    root = lxml.html.fromstring(page_html)
    scope = root.xpath(f"//{within}")[:1] if within else [root]
    return [el.get("name") for part in scope for el in part.iter() if el.get("name")]


def _first(names: Sequence[str], avoid: str | None = None) -> str:
    return next((n for n in names if n != avoid), "header.home")


Policy = Callable[[HackingStep], Action]


def _terminate(step: HackingStep) -> Action:
    return Action(type="terminate")


def _click_first(step: HackingStep) -> Action:
    return Action(type="click", name=_first(step.names))


def _click_first_in_main(step: HackingStep) -> Action:
    return Action(type="click", name=_first(named_elements(step.page_html, "main")))


def _search_fixed(step: HackingStep) -> Action:
    return Action(type="type_and_submit", name="search_input", text=FIXED_QUERY)


def _right_type_wrong_details(step: HackingStep) -> Action:
    """What a policy that learned the action type but not the details would say."""
    if step.gold.type == "click":
        return Action(
            type="click", name=_first(named_elements(step.page_html, "main"), avoid=step.gold.name)
        )
    if step.gold.type == "type_and_submit":
        return _search_fixed(step)
    return step.gold


POLICIES: dict[str, Policy] = {
    "always terminate": _terminate,
    "always click the first named element": _click_first,
    "always click the first named element of `<main>`": _click_first_in_main,
    f'always search "{FIXED_QUERY}"': _search_fixed,
    "right type, wrong details": _right_type_wrong_details,
}


@dataclass(frozen=True)
class HackingRow:
    policy: str
    exact_match: float
    mean_reward: dict[str, float]  # per `COLUMNS` key, rationale term excluded (α = 0)
    steps: int | None = None  # the steps the row was scored on, when not all of them


def _completion(action: Action) -> str:
    return Prediction(rationale="I am looking around.", action=action).to_json()


def score_predictions(
    predictions: Sequence[Action], golds: Sequence[Action], params: RewardParams | None = None
) -> tuple[float, dict[str, float]]:
    """(exact match, mean total reward per `COLUMNS` key) of predictions against gold actions.

    The rationale term is left out (α = 0): it needs the policy's logits and is at most a few
    hundredths here, against action rewards of 0.8 to 1001.
    """
    if not golds:
        raise ValueError("no steps to score")
    base = (params or RewardParams()).model_copy(update={"alpha": 0.0})
    completions = [_completion(p) for p in predictions]
    gold_json = [g.model_dump_json() for g in golds]
    totals = {}
    for key, setting, names in COLUMNS:
        column = base.model_copy(update={"name_similarity": names})
        per_component = [
            r(completions=completions, gold_action=gold_json)
            for r in rewards_for_setting(setting, column)
        ]
        totals[key] = sum(map(sum, per_component)) / len(golds)
    hits = sum(exact_match(p, g, base.tau) for p, g in zip(predictions, golds, strict=True))
    return hits / len(golds), totals


def score_policies(
    steps: Iterable[HackingStep], params: RewardParams | None = None
) -> list[HackingRow]:
    """Mean total reward (per `COLUMNS` key) and exact match of each policy; the first row
    predicts gold."""
    steps = list(steps)
    if not steps:
        raise ValueError("no steps to score")
    policies: dict[str, Policy] = {"predict the gold action": lambda s: s.gold}
    if all(s.most_likely is not None for s in steps):
        policies["the generator's most likely action (oracle)"] = lambda s: s.most_likely  # type: ignore[return-value]
    policies.update(POLICIES)
    golds = [s.gold for s in steps]
    rows = []
    for name, policy in policies.items():
        exact, totals = score_predictions([policy(s) for s in steps], golds, params)
        rows.append(HackingRow(name, exact, totals))
    return rows


def hacking_table_markdown(rows: Sequence[HackingRow], first: str = "policy") -> str:
    """Rows against the gold-predicting first row: mean reward (its share of gold's) per
    `COLUMNS` (with DARS under each name similarity, and without DARS)."""
    gold = rows[0].mean_reward
    counted = any(row.steps is not None for row in rows)
    columns = [first] + ["steps"] * counted + ["exact match"]
    columns += [_COLUMN_TITLES[key] for key, _, _ in COLUMNS]
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for row in rows:
        cells = [str(row.steps or "")] * counted + [f"{100 * row.exact_match:.1f}%"]
        for key, _, _ in COLUMNS:
            value = row.mean_reward[key]
            cells.append(f"{value:.3f} ({100 * value / gold[key]:.1f}%)")
        lines.append(f"| {row.policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
