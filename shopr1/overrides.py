"""`--set a.b=value` overrides of nested settings, applied to plain data before validation.

Values are read as YAML scalars or flow collections (`3e-3`, `true`, `null`, `[a, b]`,
`{x: 1}`), so an override means what the same text would mean inside the recipe file. The
keys are checked by the schema that validates the result, not here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class OverrideError(ValueError):
    """An override that is not of the form `a.b=value` or cannot be applied."""


def parse_override(text: str) -> tuple[list[str], Any]:
    """`"sft.learning_rate=3e-3"` → (["sft", "learning_rate"], 0.003).

    >>> parse_override("grpo.rewards.alpha=0")
    (['grpo', 'rewards', 'alpha'], 0)
    """
    import yaml

    key, sep, raw = text.partition("=")
    path = [part.strip() for part in key.strip().split(".")]
    if not sep or not all(path):
        raise OverrideError(f"override {text!r} is not of the form section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise OverrideError(f"override {text!r}: the value is not valid YAML ({exc})") from None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads `3e-3` (no dot) as a string
    return path, value


def apply_overrides(data: dict[str, Any], sets: Iterable[str]) -> dict[str, Any]:
    """A copy of `data` with every `a.b=value` of `sets` applied in order (later ones win).

    Missing intermediate sections are created, so the schema reports an unknown key by name.

    >>> apply_overrides({"sft": {"learning_rate": 1e-3}}, ["sft.learning_rate=3e-3", "grpo.beta=0"])
    {'sft': {'learning_rate': 0.003}, 'grpo': {'beta': 0}}
    """
    out = copy.deepcopy(data)
    for text in sets:
        path, value = parse_override(text)
        node = out
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise OverrideError(f"override {text!r}: {where} is a value ({child!r}), not a section")
            node = child
        node[path[-1]] = value
    return out
