"""The shopper's stochastic policy: given the page (a view) and the hidden state, an explicit
probability distribution over concrete actions, from which the step's action is sampled.

Behaviours get weights (click a fitting result, refine, paginate, search again, choose options,
buy, go back, ...); leaving (`terminate`) gets a hazard that depends on whether what is shown
fits the goal, and grows once patience runs out or nothing fits the budget; then the per-type
multipliers of the config tilt the mix. The recorded distribution is therefore exactly what
generated the data: max_a P(a) is the oracle's chance.
"""

from __future__ import annotations

from shopr1.shopworld.config import ShopWorldConfig
from shopr1.shopworld.naming import item_names, suggestion_name
from shopr1.shopworld.pages import CartView, HomeView, ProductView, ResultsView, View
from shopr1.shopworld.shopper import Shopper

ActionKey = tuple[str, str | None, str | None]  # (type, name, text)
TERMINATE: ActionKey = ("terminate", None, None)
BACK: ActionKey = ("click", "nav.back", None)
MIN_P = 1e-6


def _click(name: str) -> ActionKey:
    return ("click", name, None)


def _search(text: str) -> ActionKey:
    return ("type_and_submit", "search_input", text)


class Policy:
    """Action distributions for one config; stateless apart from the shopper passed in."""

    def __init__(self, config: ShopWorldConfig) -> None:
        self.config = config
        self.b = config.behaviour
        tw = config.type_weights
        self.type_weight = {
            "click": tw.click,
            "type_and_submit": tw.type_and_submit,
            "terminate": tw.terminate,
        }

    def fits(self, view: View, shopper: Shopper) -> bool | None:
        """Whether what the page shows fits the goal: a fitting unseen result on a results page,
        a fitting product on its page (None on pages without products to judge)."""
        if isinstance(view, ResultsView):
            return any(
                shopper.misses(p) == 0 and p.id not in shopper.visited for p in view.items
            )
        if isinstance(view, ProductView):
            return shopper.misses(view.product) == 0
        return None

    def distribution(
        self, view: View, shopper: Shopper, step: int, can_back: bool
    ) -> list[tuple[ActionKey, float]]:
        """[(action, probability), ...] in a fixed order, probabilities summing to 1, none zero."""
        if step >= self.config.max_steps - 1:
            return [(TERMINATE, 1.0)]
        weights: dict[ActionKey, float] = {}

        def add(action: ActionKey, w: float) -> None:
            if w > 0 and (can_back or action != BACK):
                weights[action] = weights.get(action, 0.0) + w

        if isinstance(view, HomeView):
            self._home(view, shopper, add)
        elif isinstance(view, ResultsView):
            self._results(view, shopper, add)
        elif isinstance(view, ProductView):
            self._product(view, shopper, add)
        else:
            self._cart(view, add)
        if not isinstance(view, HomeView):
            add(BACK, self.b.back * 0.1 * self.b.noise)
        hazard = self._hazard(view, shopper, step) if weights else 1.0
        total = sum(weights.values())
        tilted = [
            (a, (1 - hazard) * w / total * self.type_weight[a[0]]) for a, w in weights.items()
        ]
        tilted.append((TERMINATE, hazard * self.type_weight["terminate"]))
        norm = sum(p for _, p in tilted)
        # Far down a long results list the position bias leaves chances below what a policy row
        # records (7 decimals): such moves are dropped rather than written as probability 0.
        kept = [(a, p) for a, p in tilted if p / norm >= MIN_P]
        norm = sum(p for _, p in kept)
        return [(a, p / norm) for a, p in kept]

    def _hazard(self, view: View, shopper: Shopper, step: int) -> float:
        b = self.b
        if isinstance(view, HomeView):
            base = b.bounce
        elif isinstance(view, CartView):
            base = b.abandon_cart
        else:
            base = b.terminate_when_fits if self.fits(view, shopper) else b.terminate_base
        overdue = max(0, step + 1 - shopper.persona.patience)
        stay = (1 - base) * (1 - b.impatience) ** overdue
        if isinstance(view, ResultsView) and all(
            p.price > shopper.goal.max_price for p in view.items
        ):
            stay *= 1 - b.over_budget_leave  # nothing affordable shown (or no results at all)
        return 1 - stay

    def _home(self, view: HomeView, shopper: Shopper, add) -> None:
        for query, w in shopper.queries:
            add(_search(query), self.b.search_on_home * w)
        add(_click(f"home.categories.{shopper.goal.category}"), 1 - self.b.search_on_home)
        names = item_names(view.deals, self.config.name_style)
        for product, name in zip(view.deals, names, strict=True):
            if shopper.misses(product) == 0:
                add(_click(f"deals.{name}.title"), 0.1)

    def _results(self, view: ResultsView, shopper: Shopper, add) -> None:
        b, pickiness, compact = self.b, shopper.persona.pickiness, self.config.compact
        good = close = False
        names = item_names(view.items, self.config.name_style)
        for rank, (product, name) in enumerate(zip(view.items, names, strict=True)):
            misses, seen = shopper.misses(product), product.id in shopper.visited
            good |= misses == 0 and not seen
            close |= misses <= 1 and not seen
            if misses == 0:
                w = 0.08 if seen else b.fitting_click
            elif misses == 1:
                w = b.distractor_click * (1 - pickiness) * (0.2 if seen else 1.0)
            else:
                w = 0.02 * b.noise
            w *= b.position_bias**rank
            add(_click(f"search_results.{name}.title"), w if compact else 0.8 * w)
            if not compact:
                add(_click(f"search_results.{name}.image"), 0.2 * w)
        req = view.key.request
        helpful = [
            (f.key, v.value)
            for f in view.facets
            for v in f.values
            if shopper.helps(f.key, v.value) and req.filter_value(f.key) != v.value
        ]
        refine = b.refine * (0.5 + pickiness) * (1.0 if not good else 0.12)
        for facet, value in helpful:
            add(_click(f"refinements.{facet}.{value}"), refine / len(helpful))
        if (
            not good
            and view.items
            and min(p.price for p in view.items) > shopper.goal.max_price
            and req.sort == "relevance"
        ):
            add(_click("sort.price_low_to_high"), 0.3)
        if req.page < view.pages:
            add(_click("pagination.next"), b.paginate if not good else 0.04 * b.noise)
        research = (
            b.research if not close else b.research_when_close if not good else b.research_when_good
        )
        # A "related searches" link that names something they want is a shortcut to typing it.
        for query, key, value in view.suggestions:
            if shopper.goal.want(key) == value and query not in shopper.used_queries:
                add(_click(suggestion_name(query)), 0.15 * research)
        for query, w in shopper.next_queries(req.query, b.refine_query):
            add(_search(query), research * w)

    def _product(self, view: ProductView, shopper: Shopper, add) -> None:
        b, goal, persona = self.b, shopper.goal, shopper.persona
        product, misses = view.product, shopper.misses(view.product)
        needed = [
            (o, v)
            for o, v, offered in (
                ("color", goal.want("color"), product.colors),
                ("size", goal.size, product.sizes),
            )
            if v and v in offered and view.chosen(o) != v
        ]
        want_to_buy = 1.0 if misses == 0 else (1 - persona.pickiness) * 0.35 if misses == 1 else 0.0
        if needed:
            option, value = needed[0]
            add(_click(f"product.options.{option}.{value}"), want_to_buy)
            for option, value in needed[1:]:
                add(_click(f"product.options.{option}.{value}"), want_to_buy * 0.25)
        elif goal.quantity > 1 and view.key.quantity != goal.quantity:
            add(("type_and_submit", "product.quantity", str(goal.quantity)), want_to_buy)
        else:
            add(_click("product.buy_now"), 1.2 * want_to_buy * persona.decisiveness)
            add(_click("product.add_to_cart"), 1.2 * want_to_buy * (1 - persona.decisiveness))
        if view.reviews and not view.key.reviews_open:
            add(
                _click("product.reviews"),
                b.read_reviews * persona.pickiness * (1.0 if misses == 0 else 0.3),
            )
        if misses:
            add(BACK, b.back * (1.0 if misses == 1 else 1.4))
            for query, w in shopper.next_queries(shopper.last_query, b.refine_query):
                add(_search(query), b.research * (0.2 if misses == 1 else 0.45) * w)
            names = item_names(view.related, self.config.name_style)
            for rank, (related, name) in enumerate(zip(view.related, names, strict=True)):
                if shopper.misses(related) == 0 and related.id not in shopper.visited:
                    add(_click(f"related.{name}.title"), 0.15 * 0.8**rank)

    def _cart(self, view: CartView, add) -> None:
        if view.lines:
            add(_click("cart.checkout"), 1.0)
        add(_click("cart.continue_shopping"), 0.06)
