"""The MLflow pyfunc of the simulator: what the registry versions and `mlflow models serve` runs.

The registered model carries the checkpoint folder (safetensors + tokenizer + simulator.json) as
the `checkpoint` artifact; this class is pickled by reference, so the serving environment needs
shopr1 installed (`--env-manager local` in a shopr1 environment).
"""

from __future__ import annotations

import json
from typing import Any

import mlflow.pyfunc

from shopr1.serving.contexts import ContextError, parse_contexts


def signature() -> Any:
    """Input `steps` (a list of steps or its JSON string); output rationale, action, error."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Object, Property, Schema

    action = Object([Property("type", "string"), Property("name", "string", required=False),
                     Property("text", "string", required=False)])
    return ModelSignature(
        inputs=Schema([ColSpec(AnyType(), "steps")]),
        outputs=Schema([ColSpec("string", "rationale", required=False), ColSpec(action, "action", required=False),
                        ColSpec("string", "error", required=False)]),
    )


def input_example() -> list[dict[str, str]]:
    """A one-record request: a shopper on the home page of a tiny store."""
    from shopr1.shopworld import iter_shopworld

    session, _ = next(iter_shopworld(1, seed=0))
    step = session.steps[0]
    return [{"steps": json.dumps([{"page_html": step.page_html, "url": step.url}])}]


def _records(model_input: Any) -> list[Any]:
    if hasattr(model_input, "to_dict"):
        return model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        return [model_input]
    return list(model_input)


class SimulatorModel(mlflow.pyfunc.PythonModel):
    """Records with `steps` → a frame of `rationale`, `action` (dict or null), `error` (null or why)."""

    def load_context(self, context: Any) -> None:
        from shopr1.serving.simulator import Simulator

        self.simulator = Simulator(context.artifacts["checkpoint"])

    # No type hints on predict: MLflow would read them as a second, conflicting signature.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        import pandas as pd
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        try:
            contexts = parse_contexts(_records(model_input))
        except ContextError as exc:  # a 400 whose message names the record, not a stack trace
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        rows = self.simulator.predict(contexts)
        return pd.DataFrame([{k: r[k] for k in ("rationale", "action", "error")} for r in rows])
