"""The one door to Great Expectations: load a data contract and find the rows that break it.

Contracts are GX expectation suites stored as JSON in `data_contracts/` (shipped inside the
package). Each expectation carries `meta.reason`, the sentence a quarantined row is tagged with.
GX validates flat scalar columns of a pandas frame (it does not take polars or nested data), so
callers first reduce each row to check columns. GX's API churns between releases: keep it here.
"""

from __future__ import annotations

import functools
import json
import logging
from importlib import resources
from typing import Any

logger = logging.getLogger(__name__)

CONTRACTS = ("raw_sessions", "training_examples")


class ContractError(RuntimeError):
    """Raised when a run must stop because of its data (too much quarantined, unusable suite)."""


def load_contract(name: str, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The suite `name` as a dict; `overrides` maps an expectation's column to kwargs to replace."""
    if name not in CONTRACTS:
        raise ValueError(f"unknown data contract {name!r}; known: {', '.join(CONTRACTS)}")
    text = resources.files("shopr1").joinpath("data_contracts", f"{name}.json").read_text()
    suite = json.loads(text)
    for column, kwargs in (overrides or {}).items():
        hits = [e for e in suite["expectations"] if e["kwargs"].get("column") == column]
        if not hits:
            raise ValueError(f"contract {name!r} has no expectation on column {column!r}")
        for e in hits:
            e["kwargs"].update(kwargs)
    return suite


@functools.lru_cache(maxsize=1)
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX pins one of its loggers to INFO at import and narrates its setup there.
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = ctx.data_sources.add_pandas("shopr1").add_dataframe_asset("rows")
    return ctx, asset.add_batch_definition_whole_dataframe("all")


@functools.lru_cache(maxsize=16)
def _validation(suite_json: str) -> Any:
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    ctx, batch = _context()
    suite_dict = json.loads(suite_json)
    key = f"{suite_dict['name']}-{abs(hash(suite_json))}"
    suite = ctx.suites.add(ExpectationSuite(**{**suite_dict, "name": key}))
    return ctx.validation_definitions.add(gx.ValidationDefinition(name=key, data=batch, suite=suite))


def row_failures(frame: Any, suite: dict[str, Any]) -> list[list[str]]:
    """For each row of the pandas `frame` (any index), the reasons of the expectations it breaks."""
    failures: list[list[str]] = [[] for _ in range(len(frame))]
    if len(frame) == 0:
        return failures
    frame = frame.reset_index(drop=True)
    missing = {e["kwargs"]["column"] for e in suite["expectations"]} - set(frame.columns)
    if missing:
        raise ContractError(f"contract {suite['name']!r} checks columns the data lacks: {sorted(missing)}")
    run = _validation(json.dumps(suite, sort_keys=True)).run(
        batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"}
    )
    for result in run.results:
        if result.success:
            continue
        config = result.expectation_config
        if result.exception_info and result.exception_info.get("raised_exception"):
            raise ContractError(
                f"contract {suite['name']!r}: expectation {config.type} on {config.kwargs.get('column')!r} "
                f"could not run: {result.exception_info.get('exception_message')}"
            )
        reason = (config.meta or {}).get("reason") or f"{config.type}({config.kwargs.get('column')})"
        for index in result.result.get("unexpected_index_list") or []:
            failures[int(index)].append(reason)
    return failures


def enforce_min_share(accepted: int, total: int, min_share: float, what: str, quarantine: str) -> None:
    """Stop the run when too little of the input passed its contract."""
    if total and accepted / total < min_share:
        raise ContractError(
            f"only {accepted:,} of {total:,} {what} ({accepted / total:.1%}) passed the data contract, "
            f"below the required {min_share:.0%}. Nothing was dropped: the rejected rows and the reason "
            f"for each are in {quarantine}. Fix the input (or lower --min-accepted) and run again."
        )
