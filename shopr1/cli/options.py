"""Settings models from the command line: a YAML file holding the whole model, named options, and
dotted `--set a.b=value` overrides (later sources win: file, then options, then `--set`).

Whatever pydantic rejects becomes one line that names where the bad value came from (`--slug-words`,
`--set behaviour.bounce=2`, `world.yaml`) and what is allowed, never a traceback. Choices and
ranges shown in `--help` are read from the model's fields, so they cannot drift from it.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shopr1.overrides import OverrideError, apply_overrides, parse_override

M = TypeVar("M", bound=BaseModel)


class SettingsError(ValueError):
    """A setting given on the command line that the model rejects; the message is one line."""


def field_choices(model_cls: type[BaseModel], name: str) -> tuple[str, ...] | None:
    """The allowed values of a `Literal[...]` field (None when the model has no such field)."""
    field = model_cls.model_fields.get(name)
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return tuple(str(a) for a in args) if typing.get_origin(field.annotation) is typing.Literal else None


def field_help(model_cls: type[BaseModel], name: str, text: str | None = None) -> str:
    """`text` (default: the field's description) with its range and default, for `--help`."""
    field = model_cls.model_fields[name]
    bounds = {type(m).__name__: m for m in field.metadata}
    low = next((getattr(bounds[k], k.lower()) for k in ("Ge", "Gt") if k in bounds), None)
    high = next((getattr(bounds[k], k.lower()) for k in ("Le", "Lt") if k in bounds), None)
    parts = [(text or field.description or name.replace("_", " ")).rstrip(".")]
    if low is not None and high is not None:
        parts.append(f"{low:,} to {high:,}")
    if field.default is not None and not isinstance(field.default, BaseModel):
        parts.append(f"default {field.default!r}" if isinstance(field.default, str) else f"default {field.default}")
    return parts[0] + (f" ({'; '.join(parts[1:])})" if len(parts) > 1 else "")


def load_settings_file(path: Path) -> dict[str, Any]:
    """A YAML mapping of settings; SettingsError naming the file when it is missing or not a mapping."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"--config {path}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"--config {path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"--config {path}: expected a mapping of settings, got a YAML {type(data).__name__}")
    return data


def _fields_at(model_cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The field names of the (nested) model at `loc`, for 'known: ...' hints."""
    cls: Any = model_cls
    for part in loc:
        field = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        cls = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if cls is None:
            return None
    return list(cls.model_fields) if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def one_line_error(exc: ValidationError, model_cls: type[BaseModel], sources: Mapping[tuple[str, ...], str],
                   default_source: str | None = None) -> str:
    """The first problem of `exc` as one line: the source of the value, the setting, what is allowed.

    `sources` maps a setting's path to the option that set it; the longest matching prefix of the
    error's location wins, else `default_source` (e.g. the config file).
    """
    errors = exc.errors()
    first = errors[0]
    loc = tuple(str(p) for p in first["loc"])
    n = next((n for n in range(len(loc), 0, -1) if loc[:n] in sources), 0)
    # A value set below the error's location (`--set entry.home=0` breaking `entry`) is its source too.
    below = [label for path, label in sources.items() if path[:len(loc)] == loc]
    if n:
        source = sources[loc[:n]]
    elif loc and below:
        source, n = below[-1], len(loc)
    elif not loc and sources:  # a check of the whole model: every value given is a suspect
        source = ", ".join([*([default_source] if default_source else []), *sources.values()])
    else:
        source = default_source
    rest = ".".join(loc[n:])  # the part of the location the source does not already name
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        known = _fields_at(model_cls, first["loc"][:-1])
        msg = f"unknown setting {'.'.join(loc)}" + (f"; known: {', '.join(known)}" if known else "")
    else:
        got = first.get("input")
        if loc and not isinstance(got, dict):
            msg += f" (got {got!r})"
        if rest:
            msg = f"{rest}: {msg}"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{source}: {msg}{more}" if source else f"{msg}{more}"


def config_from_cli(
    model_cls: type[M],
    config_file: Path | None = None,
    sets: Iterable[str] = (),
    *,
    options: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> M:
    """`model_cls` from a YAML file, named options (dotted key → value; None = not given) and
    `--set a.b=value` overrides, in that order. SettingsError carries a one-line message.

    `labels` names the option behind an options key in messages (default `--key-with-dashes`).

    >>> from shopr1.shopworld import ShopWorldConfig
    >>> config_from_cli(ShopWorldConfig, options={"slug_words": 4}, sets=["behaviour.bounce=0.2"]).behaviour.bounce
    0.2
    >>> try:
    ...     config_from_cli(ShopWorldConfig, options={"slug_words": 40})
    ... except SettingsError as exc:
    ...     print(exc)
    --slug-words: Input should be less than or equal to 12 (got 40)
    """
    sets = list(sets)
    data = load_settings_file(config_file) if config_file is not None else {}
    sources: dict[tuple[str, ...], str] = {}
    given = {k: v for k, v in (options or {}).items() if v is not None}
    data = apply_overrides(data, [])  # a copy: values set below never reach the caller's mapping
    for key, value in given.items():
        path = tuple(key.split("."))
        sources[path] = (labels or {}).get(key, "--" + path[-1].replace("_", "-"))
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    try:
        data = apply_overrides(data, sets)
        for item in sets:
            sources[tuple(parse_override(item)[0])] = f"--set {item}"
    except OverrideError as exc:
        raise SettingsError(f"--set: {' '.join(str(exc).split())}") from None
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        default = f"--config {config_file}" if config_file is not None else None
        raise SettingsError(one_line_error(exc, model_cls, sources, default)) from None
