"""The MLflow model registry: simulator versions, the `challenger` and `champion` aliases, promotion.

A version is a pyfunc (shopr1.serving.pyfunc) carrying the checkpoint as an artifact, registered
with `create_model_version` (`mlflow.register_model` fails in MLflow 3 and leaves an empty model).
Registration is all or nothing: a version is tagged `shopr1.registered=true` last, a failure
before that deletes it, and versions a killed process left without that tag are swept away.
Promotion compares exact match on the same test split (its content hash is a version tag).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from shopr1.registry_settings import PromotionSettings
from shopr1.schema import ACTION_TYPES

logger = logging.getLogger(__name__)

CHALLENGER, CHAMPION = "challenger", "champion"
COMPLETE_TAG = "shopr1.registered"
SPLIT_HASH_TAG = "eval.split_hash"
# What of a checkpoint folder goes into the registered model: weights as safetensors, configs and
# tokenizer files. Optimizer states, pickles and code stay behind.
CHECKPOINT_FILES = ("*.safetensors", "*.json", "*.jinja", "*.txt", "*.model", "tokenizer*")
MODEL_CODE = (
    "# Written by shopr1.registry: the simulator pyfunc, loaded from code (no pickle).\n"
    "from mlflow.models import set_model\n\n"
    "from shopr1.serving.pyfunc import SimulatorModel\n\n"
    "set_model(SimulatorModel())\n"
)


class RegistryError(RuntimeError):
    """A registry operation cannot go ahead (unknown version, incomplete version, ...)."""


class EvalFigures(BaseModel):
    """The figures promotion compares: exact match overall and per gold action type, on a split."""

    model_config = ConfigDict(frozen=True)

    exact_match: float
    per_type: dict[str, float]
    split_hash: str
    split: str = "test"

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, float], split_hash: str, split: str = "test") -> EvalFigures:
        per_type = {t: float(metrics[f"exact_match/{t}"]) for t in ACTION_TYPES if f"exact_match/{t}" in metrics}
        return cls(exact_match=float(metrics["exact_match"]), per_type=per_type, split_hash=split_hash, split=split)

    def tags(self) -> dict[str, str]:
        return {"eval.exact_match": f"{self.exact_match:.6f}", SPLIT_HASH_TAG: self.split_hash, "eval.split": self.split,
                **{f"eval.exact_match/{t}": f"{v:.6f}" for t, v in self.per_type.items()}}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> EvalFigures:
        if "eval.exact_match" not in tags or SPLIT_HASH_TAG not in tags:
            raise RegistryError("the version carries no evaluation tags (eval.exact_match, eval.split_hash)")
        per_type = {t: float(tags[f"eval.exact_match/{t}"]) for t in ACTION_TYPES if f"eval.exact_match/{t}" in tags}
        return cls(exact_match=float(tags["eval.exact_match"]), per_type=per_type,
                   split_hash=tags[SPLIT_HASH_TAG], split=tags.get("eval.split", "test"))


class RegisteredVersion(BaseModel):
    """A complete version of the registered model."""

    name: str
    version: str
    model_uri: str
    run_id: str | None
    figures: EvalFigures


class PromotionDecision(BaseModel):
    """What promotion decided for one version, and the figures it decided on."""

    name: str
    version: str
    promoted: bool
    forced: bool = False
    reason: str
    champion_version: str | None = None
    challenger: EvalFigures
    champion: EvalFigures | None = None
    delta: float | None = None
    per_type_delta: dict[str, float] = {}
    margin: float
    per_type_tolerance: float

    def tags(self) -> dict[str, str]:
        tags = {
            "promotion.decision": "promoted" if self.promoted else "kept champion",
            "promotion.forced": str(self.forced).lower(),
            "promotion.reason": self.reason[:4000],
            "promotion.champion_version": self.champion_version or "none",
            "promotion.margin": f"{self.margin:g}",
            "promotion.per_type_tolerance": f"{self.per_type_tolerance:g}",
            "promotion.exact_match": f"{self.challenger.exact_match:.6f}",
        }
        if self.champion is not None:
            tags["promotion.champion_exact_match"] = f"{self.champion.exact_match:.6f}"
        if self.delta is not None:
            tags["promotion.delta"] = f"{self.delta:+.6f}"
        tags.update({f"promotion.delta/{t}": f"{d:+.6f}" for t, d in self.per_type_delta.items()})
        return tags

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(figure, challenger, champion, delta) rows for a report table."""
        champ = self.champion
        rows = [("exact_match", f"{self.challenger.exact_match:.4f}",
                 f"{champ.exact_match:.4f}" if champ else "-", f"{self.delta:+.4f}" if self.delta is not None else "-")]
        for t, value in self.challenger.per_type.items():
            other = champ.per_type.get(t) if champ else None
            rows.append((f"exact_match/{t}", f"{value:.4f}", f"{other:.4f}" if other is not None else "-",
                         f"{self.per_type_delta[t]:+.4f}" if t in self.per_type_delta else "-"))
        return rows

    def summary(self) -> str:
        verb = "promoted to champion" if self.promoted else "not promoted"
        return f"{self.name} v{self.version} {verb}{' (forced)' if self.forced else ''}: {self.reason}"


def decide(challenger: EvalFigures, champion: EvalFigures | None, settings: PromotionSettings) -> tuple[bool, str, float | None, dict[str, float]]:
    """(promote?, why, exact-match delta, per-type deltas): the rule, without the registry.

    >>> s = PromotionSettings(margin=0.01, per_type_tolerance=0.02)
    >>> a = EvalFigures(exact_match=0.30, per_type={"click": 0.10}, split_hash="h")
    >>> decide(a, EvalFigures(exact_match=0.25, per_type={"click": 0.15}, split_hash="h"), s)[:2]
    (False, 'exact_match/click drops by 0.0500, more than the tolerance 0.02')
    >>> decide(a, EvalFigures(exact_match=0.25, per_type={"click": 0.11}, split_hash="h"), s)[0]
    True
    """
    if champion is None:
        return True, "no champion yet", None, {}
    if champion.split_hash != challenger.split_hash:
        raise ValueError("champion and challenger were evaluated on different splits; evaluate both on one")
    delta = challenger.exact_match - champion.exact_match
    per_type = {t: v - champion.per_type[t] for t, v in challenger.per_type.items() if t in champion.per_type}
    regressions = [(t, -d) for t, d in per_type.items() if -d > settings.per_type_tolerance + 1e-12]
    if regressions:
        t, drop = max(regressions, key=lambda r: r[1])
        return False, f"exact_match/{t} drops by {drop:.4f}, more than the tolerance {settings.per_type_tolerance:g}", delta, per_type
    if delta > settings.margin + 1e-12:
        return True, f"exact match {challenger.exact_match:.4f} beats the champion's {champion.exact_match:.4f} by {delta:+.4f} (margin {settings.margin:g})", delta, per_type
    return False, f"exact match {challenger.exact_match:.4f} does not beat the champion's {champion.exact_match:.4f} by more than the margin {settings.margin:g} ({delta:+.4f})", delta, per_type


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def _ensure_registered_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name, description="Shop-R1 shopper simulator: session context → rationale + next action")
        except MlflowException:  # created meanwhile by another process
            client.get_registered_model(name)


def alias_version(name: str, alias: str) -> Any | None:
    """The version an alias points to, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def sweep_incomplete(name: str) -> list[str]:
    """Delete versions a killed registration left without the completion tag; return their numbers."""
    from mlflow.exceptions import MlflowException

    client = _client()
    swept = []
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    for v in versions:
        if v.tags.get(COMPLETE_TAG) == "true":
            continue
        if v.run_id:
            try:
                if client.get_run(v.run_id).info.status == "RUNNING":
                    continue  # a registration in progress elsewhere
            except MlflowException:
                pass
        client.delete_model_version(name, v.version)
        swept.append(str(v.version))
    if swept:
        logger.warning("deleted %d incomplete version(s) of %s: %s", len(swept), name, ", ".join(swept))
    return swept


def _stage_checkpoint(checkpoint: Path, into: Path, extra_files: Mapping[str, str]) -> Path:
    """Copy what serving needs of `checkpoint` into `into`, plus `extra_files` (name → text)."""
    from shopr1.serving.simulator import check_safetensors_only

    into.mkdir(parents=True)
    for pattern in CHECKPOINT_FILES:
        for path in checkpoint.glob(pattern):
            if path.is_file() and not (into / path.name).exists():
                shutil.copy2(path, into / path.name)
    for name, text in extra_files.items():
        (into / name).write_text(text, encoding="utf-8")
    check_safetensors_only(into)
    return into


def _pip_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for package in ("shopr1", "torch", "transformers", "tokenizers", "mlflow", "pandas"):
        try:
            reqs.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return reqs


def register_simulator(
    checkpoint: Path,
    figures: EvalFigures,
    settings: PromotionSettings,
    *,
    simulator_settings_json: str,
    tags: Mapping[str, str] | None = None,
    fault: Callable[[str], None] | None = None,
) -> RegisteredVersion:
    """Log the checkpoint as a pyfunc in the active MLflow run and register it as a new version
    with alias `challenger`. `fault(step)` is called between the steps (tests inject failures)."""
    import mlflow

    from shopr1.serving.pyfunc import input_example, signature
    from shopr1.serving.simulator import SETTINGS_FILE

    run = mlflow.active_run()
    if run is None:
        raise RegistryError("register_simulator needs an active MLflow run to log the model into")
    client = _client()
    name = settings.model_name
    _ensure_registered_model(client, name)
    sweep_incomplete(name)
    with tempfile.TemporaryDirectory(prefix="shopr1-register-") as tmp:
        staged = _stage_checkpoint(Path(checkpoint), Path(tmp) / "checkpoint", {SETTINGS_FILE: simulator_settings_json})
        code = Path(tmp) / "simulator_model.py"
        code.write_text(MODEL_CODE, encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name="simulator", python_model=str(code), artifacts={"checkpoint": str(staged)},
            signature=signature(), input_example=input_example(), pip_requirements=_pip_requirements(),
        )
    source = mlflow.get_logged_model(info.model_id).artifact_location
    all_tags = {**figures.tags(), **(tags or {})}
    previous = alias_version(name, CHALLENGER)
    version = client.create_model_version(name, source=source, run_id=run.info.run_id, model_id=info.model_id)
    try:
        if fault:
            fault("created")
        for key, value in all_tags.items():
            client.set_model_version_tag(name, version.version, key, value)
        if fault:
            fault("tagged")
        client.set_registered_model_alias(name, CHALLENGER, version.version)
        if fault:
            fault("aliased")
        client.set_model_version_tag(name, version.version, COMPLETE_TAG, "true")
    except BaseException:
        logger.error("registration of %s v%s failed; deleting the version", name, version.version)
        client.delete_model_version(name, version.version)
        if previous is not None:
            client.set_registered_model_alias(name, CHALLENGER, previous.version)
        raise
    mlflow.set_tags({"registry.model": name, "registry.version": version.version})
    logger.info("registered %s v%s (%s)", name, version.version, source)
    return RegisteredVersion(name=name, version=str(version.version), model_uri=f"models:/{name}/{version.version}",
                             run_id=run.info.run_id, figures=figures)


def version_info(name: str, version: str) -> Any:
    """A complete version, or RegistryError saying what is wrong with it."""
    from mlflow.exceptions import MlflowException

    try:
        v = _client().get_model_version(name, str(version))
    except MlflowException:
        raise RegistryError(f"{name} has no version {version}") from None
    if v.tags.get(COMPLETE_TAG) != "true":
        raise RegistryError(f"{name} v{version} is an incomplete registration; it cannot be promoted")
    return v


def promote(
    version: str,
    settings: PromotionSettings,
    *,
    force: bool = False,
    evaluate_on_split: Callable[[Any, EvalFigures], EvalFigures] | None = None,
) -> PromotionDecision:
    """Make `version` the champion if it beats the current one (or `force`); record the decision
    and its figures as tags of `version`.

    When the champion was evaluated on another split, `evaluate_on_split(champion_version,
    challenger_figures)` re-evaluates it on the challenger's; without it the version is not promoted.
    """
    client = _client()
    name = settings.model_name
    challenger_v = version_info(name, version)
    challenger = EvalFigures.from_tags(challenger_v.tags)
    champion_v = alias_version(name, CHAMPION)
    champion: EvalFigures | None = None
    common = dict(name=name, version=str(version), forced=force, challenger=challenger,
                  margin=settings.margin, per_type_tolerance=settings.per_type_tolerance)
    if champion_v is not None and str(champion_v.version) == str(version):
        decision = PromotionDecision(promoted=True, reason="already the champion", champion_version=str(version),
                                     champion=challenger, delta=0.0, **common)
        return decision
    if champion_v is not None:
        champion = EvalFigures.from_tags(champion_v.tags)
        if champion.split_hash != challenger.split_hash:
            if evaluate_on_split is None:
                decision = PromotionDecision(
                    promoted=force, champion_version=str(champion_v.version),
                    reason=f"the champion v{champion_v.version} was evaluated on another test split "
                           f"({champion.split_hash}); re-evaluate it on {challenger.split_hash}",
                    **common)
                return _record(client, decision)
            champion = evaluate_on_split(champion_v, challenger)
    promoted, reason, delta, per_type = decide(challenger, champion, settings)
    if force and not promoted:
        reason = f"forced by hand; the rule said: {reason}"
    decision = PromotionDecision(promoted=promoted or force, reason=reason, delta=delta, per_type_delta=per_type,
                                 champion_version=str(champion_v.version) if champion_v is not None else None,
                                 champion=champion, **common)
    return _record(client, decision)


def _record(client: Any, decision: PromotionDecision) -> PromotionDecision:
    for key, value in decision.tags().items():
        client.set_model_version_tag(decision.name, decision.version, key, value)
    if decision.promoted:
        client.set_registered_model_alias(decision.name, CHAMPION, decision.version)
    logger.info(decision.summary())
    return decision
