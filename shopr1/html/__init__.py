"""Raw store pages -> simplified HTML with a stable dotted `name` on every control (SPEC §1)."""

from shopr1.html.rules import RulesError, SiteRules, load_rules
from shopr1.html.simplify import SimplifiedPage, simplify

__all__ = ["RulesError", "SimplifiedPage", "SiteRules", "load_rules", "simplify"]
