"""Near misses of a product click, and how often a wrong element on the page earns name credit.

A name similarity that pays for a name *close* to the gold one pays for the wrong element when
the page holds one that close: sibling products share `search_results.` and `.title`. This
scores near misses of item clicks (another product, the same product's other control, a wrong
separator or case) with the real rewards under each name similarity (`hacking.COLUMNS`), and
measures the *sibling share*: of the gold clicks, the share where some wrong element on the page
scores ≥ τ. docs/rewards.md shows both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from shopr1.matching import name_similarity_for, present, rouge_l, split_name
from shopr1.rewards.components import RewardParams
from shopr1.rewards.hacking import HackingRow, HackingStep, score_predictions
from shopr1.schema import Action

RESULTS_SECTION = "search_results"
_OTHER_CONTROL = {"title": "image", "image": "title"}


def is_item_click(step: HackingStep) -> bool:
    """The gold action clicks a control of one listed item (`<section>.<item>.<control>`)."""
    name = step.gold.name
    return step.gold.type == "click" and present(name) and split_name(name or "")[2] != ""


def siblings(step: HackingStep) -> list[str]:
    """The page's names for the same control of the other items of the gold's list, in order."""
    section, item, control = split_name(step.gold.name or "")
    return [
        n
        for n in step.names
        if (parts := split_name(n))[0] == section and parts[2] == control and parts[1] != item
    ]


def _with_item(name: str, item: str) -> str:
    section, _, control = split_name(name)
    return ".".join(p for p in (section, item, control) if p)


def _most_similar_sibling(step: HackingStep) -> str | None:
    gold = step.gold.name or ""
    return max(siblings(step), key=lambda n: rouge_l(n, gold), default=None)


def _next_sibling(step: HackingStep) -> str | None:
    # The next item's control after the gold in document order (else the first): what a policy
    # that is off by one result says.
    gold, others = step.gold.name or "", siblings(step)
    at = step.names.index(gold) if gold in step.names else len(step.names)
    after = [n for n in others if step.names.index(n) > at]
    return (after or others or [None])[0]


def _other_control(step: HackingStep) -> str | None:
    # Another control of the same item on the page, else `.image` for `.title` (and back): on
    # compact pages there is no image link, but a model can still say its name.
    section, item, control = split_name(step.gold.name or "")
    same_item = [
        n
        for n in step.names
        if (parts := split_name(n))[:2] == (section, item) and parts[2] not in ("", control)
    ]
    if same_item:
        return same_item[0]
    other = _OTHER_CONTROL.get(control)
    return f"{section}.{item}.{other}" if other else None


def _wrong_separator(step: HackingStep) -> str | None:
    item = split_name(step.gold.name or "")[1]
    swapped = item.replace("-", "_") if "-" in item else item.replace("_", "-")
    return _with_item(step.gold.name or "", swapped) if swapped != item else None


def _wrong_case(step: HackingStep) -> str | None:
    item = split_name(step.gold.name or "")[1]
    cased = item.title()
    return _with_item(step.gold.name or "", cased) if cased != item else None


NearMiss = Callable[[HackingStep], str | None]  # the name clicked instead; None: does not apply

NEAR_MISSES: dict[str, NearMiss] = {
    "another product on the page: the most similar name": _most_similar_sibling,
    "another product on the page: the next one": _next_sibling,
    "the right product's other control (`.image` for `.title`)": _other_control,
    "the right product, the other separator (`_` ↔ `-`) in its slug": _wrong_separator,
    "the right product, its slug in Title Case": _wrong_case,
}


def score_near_misses(
    steps: Iterable[HackingStep], params: RewardParams | None = None
) -> list[HackingRow]:
    """Mean reward of each near miss on the gold item clicks that have a sibling on the page;
    the first row clicks the gold element. `HackingRow.steps` counts the steps a row applies to
    (a slug without `-` has no wrong separator)."""
    clicks = [s for s in steps if is_item_click(s) and siblings(s)]
    if not clicks:
        raise ValueError("no item click with a sibling on its page to score")
    exact, totals = score_predictions([s.gold for s in clicks], [s.gold for s in clicks], params)
    rows = [HackingRow("click the gold element", exact, totals, steps=len(clicks))]
    for label, near_miss in NEAR_MISSES.items():
        pairs = [(name, s.gold) for s in clicks if (name := near_miss(s)) is not None]
        if not pairs:
            continue
        predictions = [Action(type="click", name=name) for name, _ in pairs]
        exact, totals = score_predictions(predictions, [g for _, g in pairs], params)
        rows.append(HackingRow(label, exact, totals, steps=len(pairs)))
    return rows


@dataclass(frozen=True)
class SiblingShare:
    """Of the gold clicks, how many have a wrong element on their page that scores ≥ τ."""

    name_similarity: str
    clicks: int
    exposed: int
    result_clicks: int  # gold clicks on a result (`search_results.<item>.<control>`)
    result_exposed: int
    # ... by an element of another item (not the right item's other control, `.image`)
    result_other_item_exposed: int

    @property
    def share(self) -> float:
        return self.exposed / self.clicks if self.clicks else 0.0

    @property
    def result_share(self) -> float:
        return self.result_exposed / self.result_clicks if self.result_clicks else 0.0

    @property
    def result_other_item_share(self) -> float:
        return self.result_other_item_exposed / self.result_clicks if self.result_clicks else 0.0


def sibling_share(
    steps: Iterable[HackingStep], name_similarity: str = "rougeL", tau: float = 0.75
) -> SiblingShare:
    """The sibling share of `steps` under one name similarity at threshold `tau`."""
    similarity = name_similarity_for(name_similarity)
    clicks = exposed = result_clicks = result_exposed = other_item = 0
    for step in steps:
        gold = step.gold.name
        if step.gold.type != "click" or not present(gold):
            continue
        section, item, control = split_name(gold or "")
        above = [n for n in set(step.names) - {gold} if similarity(n, gold or "") >= tau]
        clicks += 1
        exposed += bool(above)
        if section == RESULTS_SECTION and control:
            result_clicks += 1
            result_exposed += bool(above)
            other_item += any(split_name(n)[:2] != (section, item) for n in above)
    return SiblingShare(name_similarity, clicks, exposed, result_clicks, result_exposed, other_item)


def sibling_table_markdown(rows: Sequence[tuple[str, Sequence[SiblingShare]]]) -> str:
    """One row per world (label, its shares under each name similarity): the share of all gold
    clicks and of result clicks where some wrong element on the page scores ≥ τ, and in
    brackets the share of result clicks where it is another product's element."""
    kinds = [s.name_similarity for s in rows[0][1]]
    columns = ["world", "gold clicks (results)"]
    columns += [f"`{k}`: all / results (another product)" for k in kinds]
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for label, shares in rows:
        first = shares[0]
        cells = [label, f"{first.clicks} ({first.result_clicks})"]
        cells += [
            f"{100 * s.share:.0f}% / {100 * s.result_share:.0f}% "
            f"({100 * s.result_other_item_share:.0f}%)"
            for s in shares
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
