"""The pipeline's stages, one function each, typed in and out: what `shopr1 run`, the Prefect flow
and the CLI subcommands all call.

Stages exchange `Ref`s (a path and its content hash), never models. `fingerprint(stage, ...)`
names a stage's work: the content of its inputs, the recipe keys it reads (so a changed GRPO key
leaves SFT cached) and the library's code version; the flow caches on it, and a stage folder
remembers it (`stage.json`), so a re-run with the same inputs resumes there while changed inputs
start clean.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

import shopr1

logger = logging.getLogger(__name__)

STAGES = ("generate", "validate", "rationales", "build", "sft", "grpo", "evaluate", "register", "promote")
STAGE_FILE = "stage.json"
Progress = Callable[..., None] | None

# The recipe keys each stage reads; a change elsewhere leaves it cached.
RECIPE_VIEWS: dict[str, tuple[str, ...]] = {
    "generate": ("shopworld", "data.sessions", "data.seed"),
    "build": ("data", "model"),
    "sft": ("data", "model", "runtime", "sft"),
    "grpo": ("data", "model", "runtime", "grpo"),
    "evaluate": ("data", "runtime", "evaluate"),
    "register": ("data", "evaluate", "promotion"),
    "promote": ("promotion",),
}


class StageError(RuntimeError):
    """A stage cannot run with what it was given (the message says what and what to do)."""


class TransientStageError(StageError):
    """A fault that may pass (an unreachable teacher endpoint, a busy registry): worth a retry."""


_TRANSIENT_WORDS = ("temporarily_unavailable", "resource_exhausted", "database is locked", "max retries exceeded",
                    "connection refused", "connection reset", "timed out", "503", "502", "504")


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the stage may help: an unreachable or busy teacher or registry, yes; bad
    data, a bad recipe or a rejected key, no.

    >>> is_transient(TransientStageError("teacher down")), is_transient(ValueError("bad recipe"))
    (True, False)
    >>> is_transient(ConnectionRefusedError()), is_transient(FileNotFoundError("x"))
    (True, False)
    """
    if isinstance(exc, TransientStageError):
        return True
    if isinstance(exc, StageError):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if type(exc).__name__ in ("MlflowException", "RestException", "OperationalError"):
        text = f"{getattr(exc, 'error_code', '')} {exc}".lower()
        return any(word in text for word in _TRANSIENT_WORDS)
    return False


# --- content hashes ------------------------------------------------------------------------------


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, sorted).

    Hidden entries and `stage.json` bookkeeping are left out; a rationale cache is not content.
    """
    path = Path(path)
    if path.is_file():
        return _file_sha(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: nothing to hash (no such file or folder)")
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts) or rel.name in (STAGE_FILE, "rationale_cache.sqlite"):
            continue
        digest.update(f"{rel.as_posix()}\0{_file_sha(file)}\n".encode())
    return digest.hexdigest()


class Ref(BaseModel):
    """A file or folder and the hash of its content when the stage wrote it."""

    model_config = ConfigDict(frozen=True)

    path: Path
    sha256: str

    @classmethod
    def of(cls, path: Path) -> Ref:
        return cls(path=Path(path).resolve(), sha256=content_hash(path))

    def intact(self) -> bool:
        """True when the path still holds what was hashed (a cached result is only as good as this)."""
        try:
            return content_hash(self.path) == self.sha256
        except FileNotFoundError:
            return False


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """shopr1's version plus a hash of the package's source and data files.

    A task's own source (Prefect's TASK_SOURCE) does not see the library it calls; this does.
    The command line (`shopr1/cli/`) only calls stages, so a change there keeps every cache.
    """
    root = Path(shopr1.__file__).parent
    digest = hashlib.sha256()
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root)
        if rel.parts[0] in ("cli", "__pycache__") or "__pycache__" in rel.parts:
            continue
        if file.is_file() and file.suffix in (".py", ".yaml", ".yml", ".json", ".jinja"):
            digest.update(f"{file.relative_to(root).as_posix()}\0".encode() + file.read_bytes())
    return f"{shopr1.__version__}+{digest.hexdigest()[:16]}"


def recipe_view(recipe: Any, stage: str) -> dict[str, Any]:
    """The part of a recipe that `stage` reads, as plain data."""
    data = recipe.model_dump(mode="json", exclude={"source", "description"})
    view: dict[str, Any] = {}
    for key in RECIPE_VIEWS.get(stage, ()):
        node: Any = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        view[key] = node
    return view


def _normal(value: Any, stage: str) -> Any:
    if isinstance(value, Ref):
        return {"sha256": value.sha256}  # content, not location: a moved input is the same input
    if type(value).__name__ == "Recipe":
        return recipe_view(value, stage)
    if isinstance(value, BaseModel):
        return _normal(value.model_dump(mode="json"), stage)
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, Mapping):
        return {str(k): _normal(v, stage) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_normal(v, stage) for v in value]
    return value


def fingerprint(stage: str, **inputs: Any) -> str:
    """The identity of a stage's work: its name, normalised inputs and the code version."""
    payload = json.dumps({"stage": stage, "code": code_version(), "inputs": _normal(inputs, stage)},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def prepare_stage_dir(out_dir: Path, key: str) -> Path:
    """Make `out_dir` the home of the work `key`: kept when it already is (resume), else emptied."""
    out_dir = Path(out_dir)
    marker = out_dir / STAGE_FILE
    if out_dir.exists():
        previous = json.loads(marker.read_text()).get("fingerprint") if marker.exists() else None
        if previous != key:
            logger.info("%s held other work (%s); starting it afresh", out_dir, previous or "unmarked")
            shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"fingerprint": key, "code": code_version()}) + "\n")
    return out_dir


# --- settings the flow takes --------------------------------------------------------------------

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DataSource(BaseModel):
    """Where sessions come from: ShopWorld (generated) or files in the canonical/OPeRA format."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["shopworld", "files"] = "shopworld"
    paths: list[Path] = Field(default_factory=list, description="files: session files or folders")
    sessions: int | None = Field(None, ge=1, description="shopworld: sessions (default: the recipe's data.sessions)")
    seed: int | None = Field(None, description="shopworld: seed (default: the recipe's data.seed)")

    @field_validator("paths")
    @classmethod
    def _exists(cls, paths: list[Path]) -> list[Path]:
        missing = [str(p) for p in paths if not Path(p).exists()]
        if missing:
            raise ValueError(f"no such session file(s): {', '.join(missing)}")
        return paths


class TeacherSpec(BaseModel):
    """The rationale teacher. The API key is never a value here, only the NAME of the environment
    variable that holds it, so no parameter, tag or log line can carry the secret."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["heuristic", "openai", "local"] = "heuristic"
    model: str | None = Field(None, description="openai: the served model; local: a folder or 'smollm2'")
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the environment variable holding the key")
    temperature: float | None = None
    max_tokens: int = Field(80, ge=8)
    concurrency: int = Field(8, ge=1)
    timeout: float = Field(60.0, gt=0)
    attempts: int = Field(4, ge=1, description="tries per step inside the stage")
    max_context_tokens: int = Field(6000, ge=256)
    max_missing_share: float = Field(0.01, ge=0, le=1, description="above this share of failed steps the stage fails (and is retried)")

    @field_validator("api_key_env")
    @classmethod
    def _is_a_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("api_key_env is the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                             "not the key itself; put the key in that variable")
        return value

    def backend(self) -> Any:
        from shopr1.rationales import make_backend

        if self.kind == "heuristic":
            return make_backend("heuristic")
        if not self.model:
            raise StageError(f"teacher kind {self.kind!r} needs teacher.model")
        options: dict[str, Any] = {} if self.temperature is None else {"temperature": self.temperature}
        if self.kind == "openai":
            return make_backend("openai", base_url=self.base_url, model=self.model, api_key_env=self.api_key_env,
                                max_tokens=self.max_tokens, timeout=self.timeout, max_connections=self.concurrency, **options)
        model, gguf = self.model, None
        if model == "smollm2":
            from shopr1.rationales.backends.local import packaged_smollm2

            model, gguf = (str(p) for p in packaged_smollm2())
        return make_backend("local", model_path=model, gguf_file=gguf, max_new_tokens=self.max_tokens,
                            timeout=self.timeout, **options)


# --- stage results ------------------------------------------------------------------------------


class StageResult(BaseModel):
    """What every stage returns: its outputs as Refs, figures worth tracking, files worth keeping."""

    def refs(self) -> list[Ref]:
        return [v for v in self.__dict__.values() if isinstance(v, Ref)]

    def intact(self) -> bool:
        return all(r.intact() for r in self.refs())

    def metrics(self) -> dict[str, float]:
        return {}

    def artifacts(self) -> list[Path]:
        return []


class SessionsResult(StageResult):
    sessions: Ref
    policy: Ref | None = None
    manifest: dict[str, Any] = {}

    def metrics(self) -> dict[str, float]:
        return {k: float(self.manifest[k]) for k in ("sessions", "steps") if isinstance(self.manifest.get(k), (int, float))}


class ValidateResult(StageResult):
    accepted: Ref
    summary: dict[str, Any]

    @property
    def quarantined(self) -> int:
        return int(self.summary["sessions"]["quarantined"])

    def metrics(self) -> dict[str, float]:
        s = self.summary["sessions"]
        return {"sessions_in": s["in"], "sessions_accepted": s["accepted"], "sessions_quarantined": s["quarantined"],
                "accepted_share": s["accepted"] / s["in"] if s["in"] else 0.0}

    def artifacts(self) -> list[Path]:
        return [p for p in (self.accepted.path.parent / "summary.json", self.accepted.path.parent / "quarantine") if p.exists()]


class RationalesResult(StageResult):
    sessions: Ref
    summary: dict[str, Any]

    def metrics(self) -> dict[str, float]:
        return {f"rationales_{k}": float(self.summary[k]) for k in ("steps", "done", "cached", "present", "failed", "retried", "calls")}


class BuildResult(StageResult):
    dataset: Ref
    summary: dict[str, Any]
    split_hashes: dict[str, str]

    def metrics(self) -> dict[str, float]:
        ex = self.summary.get("examples", {})
        out = {"examples_built": ex.get("built", 0), "examples_quarantined": ex.get("quarantined", 0)}
        out.update({f"examples/{k}": v for k, v in ex.get("written", {}).items()})
        for split, value in (self.summary.get("oracle_ceiling") or {}).items():
            out[f"oracle_ceiling/{split}"] = value
        return {k: float(v) for k, v in out.items()}

    def artifacts(self) -> list[Path]:
        return [p for p in (self.dataset.path / "summary.json", self.dataset.path / "quarantine") if p.exists()]


class TrainStageResult(StageResult):
    checkpoint: Ref
    metrics_: dict[str, float] = Field(default_factory=dict, alias="train_metrics")
    history: Path | None = None
    seconds: float = 0.0

    model_config = ConfigDict(populate_by_name=True)

    def metrics(self) -> dict[str, float]:
        return {**self.metrics_, "seconds": self.seconds}

    def artifacts(self) -> list[Path]:
        return [p for p in (self.history,) if p is not None and p.exists()]


class EvaluateResult(StageResult):
    report: Ref
    split: str
    split_hash: str
    scores: dict[str, float]
    files: dict[str, Path] = {}
    ceilings: dict[str, Any] = {}

    def metrics(self) -> dict[str, float]:
        return dict(self.scores)

    def artifacts(self) -> list[Path]:
        return [p for p in self.files.values() if Path(p).exists()]


class RegisterResult(StageResult):
    name: str
    version: str
    model_uri: str
    run_id: str | None = None

    def intact(self) -> bool:
        from shopr1.registry import RegistryError, version_info

        try:
            version_info(self.name, self.version)
            return True
        except RegistryError:
            return False
        except Exception:  # the registry is unreachable: let the task run and retry
            return False


class PromoteResult(StageResult):
    decision: dict[str, Any]

    @property
    def promoted(self) -> bool:
        return bool(self.decision["promoted"])

    def metrics(self) -> dict[str, float]:
        out = {"promoted": float(self.promoted)}
        if self.decision.get("delta") is not None:
            out["delta_exact_match"] = float(self.decision["delta"])
        return out


# --- the stages ---------------------------------------------------------------------------------


def generate(out_dir: Path, *, sessions: int, seed: int, config: Any = None, progress: Progress = None) -> SessionsResult:
    """ShopWorld sessions (canonical logs without rationales) and the policy behind every step."""
    from shopr1.atomic import atomic_dir
    from shopr1.shopworld import write_shopworld

    with atomic_dir(Path(out_dir)) as work:
        manifest = write_shopworld(work, sessions=sessions, seed=seed, config=config, progress=progress)
    out_dir = Path(out_dir)
    return SessionsResult(sessions=Ref.of(out_dir / "sessions.jsonl"), policy=Ref.of(out_dir / "policy.jsonl"),
                          manifest={k: v for k, v in manifest.items() if k != "config"})


def ingest(paths: list[Path]) -> SessionsResult:
    """Session files given by the user, hashed as they are (canonical JSONL/Parquet or OPeRA)."""
    if len(paths) != 1:
        raise StageError("give one session file or folder (several: put them in one folder)")
    return SessionsResult(sessions=Ref.of(paths[0]))


def validate(inputs: Ref, out_dir: Path, *, seed: int = 0, min_accepted_share: float = 0.9,
             progress: Progress = None) -> ValidateResult:
    """Sessions through the raw-sessions contract: accepted ones written, the rest quarantined."""
    from shopr1.data.build import BuildConfig, build_dataset

    config = BuildConfig(seed=seed, examples=False, min_accepted_share=min_accepted_share)
    summary = build_dataset([inputs.path], Path(out_dir), config, progress=progress)
    return ValidateResult(accepted=Ref.of(Path(out_dir) / "sessions.accepted.jsonl"), summary=summary)


def rationales(accepted: Ref, out_dir: Path, teacher: TeacherSpec, *, progress: Progress = None) -> RationalesResult:
    """A teacher's first-person rationale for every step; replies cached in out_dir across runs.

    An unreachable teacher, or more failed steps than `teacher.max_missing_share`, raises
    TransientStageError: what the teacher did answer stays cached, so a retry pays only for the
    rest. A teacher that refuses the key or the model raises StageError (no retry can help).
    """
    from shopr1.rationales import RetryPolicy, SynthesisSettings, TeacherUnavailable, TooManyFailures, synthesize_file
    from shopr1.rationales.backends import TeacherFatalError

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "sessions.rationales.jsonl"
    settings = SynthesisSettings(concurrency=teacher.concurrency, timeout=teacher.timeout,
                                 retry=RetryPolicy(max_attempts=teacher.attempts),
                                 max_context_tokens=teacher.max_context_tokens, max_failed=teacher.max_missing_share)
    on_progress = (lambda _outcome: progress()) if progress else None
    try:
        summary = synthesize_file(accepted.path, out, teacher.backend(), cache_path=out_dir / "rationale_cache.sqlite",
                                  settings=settings, on_progress=on_progress)
    except (TeacherUnavailable, TooManyFailures) as exc:
        raise TransientStageError(str(exc)) from None
    except TeacherFatalError as exc:
        raise StageError(str(exc)) from None
    return RationalesResult(sessions=Ref.of(out), summary=summary.to_dict())


def token_counter(recipe: Any, tokenizer_dir: Path | None) -> Any:
    """What counts the context budget: the recipe model's tokenizer, or the character estimate."""
    from shopr1.tokens import approx_tokens, load_token_counter

    if getattr(recipe.data, "tokenizer", "approx") == "model" and tokenizer_dir is not None:
        return load_token_counter(tokenizer_dir)
    return approx_tokens


def build(sessions: Ref, out_dir: Path, recipe: Any, *, policy: Ref | None = None, tokenizer: Ref | None = None,
          progress: Progress = None) -> BuildResult:
    """Split SFT and RL examples under the recipe's context budget."""
    from shopr1.data.build import build_dataset

    out_dir = Path(out_dir)
    count = token_counter(recipe, tokenizer.path if tokenizer else None)
    summary = build_dataset([sessions.path], out_dir, recipe.build_config(), count=count,
                            policy=policy.path if policy else None, progress=progress)
    splits = {}
    for split_dir in sorted((out_dir / "rl").glob("*")):
        if split_dir.is_dir():
            splits[split_dir.name] = content_hash(split_dir)
    return BuildResult(dataset=Ref.of(out_dir), summary=summary, split_hashes=splits)


def _train_result(result: Any) -> TrainStageResult:
    return TrainStageResult(checkpoint=Ref.of(Path(result.checkpoint)), train_metrics=dict(result.metrics),
                            history=Path(result.history_path) if result.history_path else None,
                            seconds=float(result.seconds))


def sft(recipe: Any, dataset: Ref, out_dir: Path, *, progress: Progress = None) -> TrainStageResult:
    """Supervised fine-tuning on whole sessions (resumes from a checkpoint of the same work)."""
    from shopr1.train.sft import train_sft

    out_dir = prepare_stage_dir(out_dir, fingerprint("sft", recipe=recipe, dataset=dataset))
    return _train_result(train_sft(recipe, dataset.path, out_dir, progress=progress))


def grpo(recipe: Any, dataset: Ref, init: Ref | None, out_dir: Path, *, progress: Progress = None) -> TrainStageResult:
    """GRPO with the Shop-R1 rewards from `init` (the SFT checkpoint)."""
    from shopr1.train.grpo import train_grpo

    out_dir = prepare_stage_dir(out_dir, fingerprint("grpo", recipe=recipe, dataset=dataset, init=init))
    return _train_result(train_grpo(recipe, dataset.path, out_dir, init_checkpoint=init.path if init else None,
                                    progress=progress))


def eval_split_hash(dataset: Ref | Path, split: str, settings: Any) -> str:
    """The identity of an evaluation set: the split's RL examples and how many of them are scored."""
    root = dataset.path if isinstance(dataset, Ref) else Path(dataset)
    limit = getattr(settings, "max_examples", None)
    return hashlib.sha256(f"{content_hash(root / 'rl' / split)}:{limit}".encode()).hexdigest()[:24]


def evaluate(recipe: Any, checkpoint: Ref | Path, dataset: Ref, out_dir: Path, *, split: str = "test",
             progress: Progress = None) -> EvaluateResult:
    """Exact match, type accuracy/F1, per-type figures with intervals, ceilings, report and plots."""
    from shopr1.atomic import atomic_dir
    from shopr1.evaluation import evaluate_checkpoint

    path = checkpoint.path if isinstance(checkpoint, Ref) else Path(checkpoint)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as work:
        summary = evaluate_checkpoint(path, dataset.path, split=split, settings=recipe.evaluate, out_dir=work,
                                      progress=progress)
    files = {k: out_dir / Path(p).relative_to(work) if Path(p).is_relative_to(work) else Path(p)
             for k, p in summary.files.items()}
    return EvaluateResult(report=Ref.of(out_dir), split=split, split_hash=eval_split_hash(dataset, split, recipe.evaluate),
                          scores=dict(summary.metrics), files=files, ceilings=dict(summary.ceilings or {}))


def simulator_settings(recipe: Any) -> str:
    """The serving settings saved with a registered model (its context budget and decoding)."""
    from shopr1.serving.simulator import SimulatorSettings

    return SimulatorSettings(
        max_context_tokens=recipe.data.max_context_tokens,
        counter="model" if getattr(recipe.data, "tokenizer", "approx") == "model" else "approx",
        max_new_tokens=recipe.evaluate.max_new_tokens,
        batch_tokens=recipe.evaluate.batch_tokens,
        persona=getattr(recipe.data, "persona", False),
    ).model_dump_json(indent=2)


def register(recipe: Any, checkpoint: Ref, evaluation: EvaluateResult, *, tags: Mapping[str, str] | None = None,
             fault: Callable[[str], None] | None = None) -> RegisterResult:
    """A new version of the recipe's registered model with alias `challenger` (needs an active MLflow run)."""
    from shopr1.registry import EvalFigures, register_simulator

    figures = EvalFigures.from_metrics(evaluation.scores, evaluation.split_hash, evaluation.split)
    version = register_simulator(
        checkpoint.path, figures, recipe.promotion, simulator_settings_json=simulator_settings(recipe),
        tags={"recipe": recipe.name, "checkpoint.sha256": checkpoint.sha256, **(tags or {})}, fault=fault,
    )
    return RegisterResult(name=version.name, version=version.version, model_uri=version.model_uri, run_id=version.run_id)


def promote(recipe: Any, version: str, *, force: bool = False, dataset: Ref | None = None,
            work_dir: Path | None = None) -> PromoteResult:
    """Champion if better on the same test split; a champion scored on another split is re-evaluated
    on this one when `dataset` is given (its checkpoint comes from the registry)."""
    from shopr1.registry import EvalFigures, promote as promote_version

    def on_this_split(champion_version: Any, challenger: EvalFigures) -> EvalFigures:
        import mlflow

        assert dataset is not None and work_dir is not None
        local = Path(mlflow.artifacts.download_artifacts(f"{champion_version.source}/artifacts/checkpoint",
                                                         dst_path=str(work_dir / f"champion-v{champion_version.version}")))
        result = evaluate(recipe, local, dataset, work_dir / f"champion-v{champion_version.version}-eval", split=challenger.split)
        return EvalFigures.from_metrics(result.scores, result.split_hash, result.split)

    decision = promote_version(version, recipe.promotion, force=force,
                               evaluate_on_split=on_this_split if dataset is not None and work_dir is not None else None)
    return PromoteResult(decision=decision.model_dump(mode="json"))


# --- running a stage under tracking ---------------------------------------------------------------


class TrackingContext(BaseModel):
    """What a stage needs to nest its MLflow run under the pipeline's parent run."""

    model_config = ConfigDict(frozen=True)

    uri: str
    experiment_id: str
    parent_run_id: str | None = None
    flow_run_id: str | None = None
    system_metrics: bool = True
    system_metrics_interval: float = 2.0


@contextmanager
def tracked(ctx: TrackingContext | None, stage: str, run_name: str | None = None,
            params: Mapping[str, Any] | None = None) -> Iterator[Callable[[StageResult], None]]:
    """A nested MLflow run around a stage; yields `log(result)` for its metrics and artifacts.

    With `ctx=None` nothing is tracked (a plain library or CLI call).
    """
    if ctx is None:
        yield lambda result: None
        return
    import mlflow

    from shopr1 import tracking

    mlflow.set_tracking_uri(ctx.uri)
    tags = {tracking.FLOW_RUN_TAG: ctx.flow_run_id} if ctx.flow_run_id else {}
    with tracking.stage_run(stage, experiment_id=ctx.experiment_id, parent_run_id=ctx.parent_run_id,
                            run_name=run_name, params=tracking.as_params(dict(params or {})), tags=tags,
                            system_metrics=ctx.system_metrics, system_metrics_interval=ctx.system_metrics_interval):

        def log(result: StageResult) -> None:
            metrics = tracking.finite_metrics(result.metrics())
            if metrics:
                mlflow.log_metrics(metrics)
            for ref in result.refs():
                mlflow.set_tag(f"output.{ref.path.name}.sha256", ref.sha256)
            for path in result.artifacts():
                if path.is_dir():
                    mlflow.log_artifacts(str(path), artifact_path=path.name)
                else:
                    mlflow.log_artifact(str(path))
            if isinstance(result, TrainStageResult) and result.history is not None:
                tracking.log_history(result.history)
                png = tracking.plot_history(result.history, result.history.with_name(f"{stage}_curves.png"))
                if png is not None:
                    mlflow.log_artifact(str(png))

        yield log


# --- the retrain pipeline's parameters and summary ----------------------------------------------


class RetrainParams(BaseModel):
    """The parameters of the `retrain` flow (and of `shopr1 run`): plain data, no secrets."""

    model_config = ConfigDict(extra="forbid")

    recipe: str = Field("tiny-cpu", description="a packaged recipe name or a YAML path")
    overrides: list[str] = Field(default_factory=list, description="`section.key=value` recipe overrides")
    data: DataSource = DataSource()
    teacher: TeacherSpec = TeacherSpec()
    out: Path = Field(Path("runs/quickstart"), description="the run folder (shared storage for multi-pool deployments)")
    min_accepted_share: float = Field(0.9, ge=0, le=1, description="least share of sessions that must pass the contract")
    tracking_uri: str | None = Field(None, description="MLflow store (default: $MLFLOW_TRACKING_URI, else <out>/mlflow.db)")
    experiment: str = "shopr1"
    system_metrics: bool = True
    result_storage: str | None = Field(None, description="a Prefect storage block slug (remote, for pods); default <out>/prefect-results")
    data_deployment: str | None = Field(None, description="run the data stages as this deployment (e.g. on a CPU pool)")
    promote: bool = Field(True, description="promote the new version when it beats the champion")

    def load_recipe(self) -> Any:
        from shopr1.recipes import load_recipe

        return load_recipe(self.recipe, self.overrides)


class RetrainSummary(BaseModel):
    """What one pipeline run did, for the console, the Prefect artifacts and tests."""

    recipe: str
    flow_run_id: str | None = None
    flow_run_url: str | None = None
    mlflow_uri: str
    mlflow_run_id: str
    mlflow_ui: str
    stages: dict[str, str] = Field(default_factory=dict, description="stage → Completed / Cached")
    cache_hits: int = 0
    validation: dict[str, Any] = {}
    evaluation: dict[str, float] = {}
    ceilings: dict[str, Any] = {}
    version: str | None = None
    model_uri: str | None = None
    decision: dict[str, Any] | None = None
    outputs: dict[str, str] = {}


def evaluation_rows(scores: Mapping[str, float]) -> list[dict[str, Any]]:
    """The evaluation table: one row per figure, with its 95% interval when there is one."""
    rows = []
    for key in sorted(scores):
        if key.endswith(("_ci_low", "_ci_high")):
            continue
        low, high = scores.get(f"{key}_ci_low"), scores.get(f"{key}_ci_high")
        rows.append({"metric": key, "value": round(scores[key], 4),
                     "ci95": f"[{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""})
    return rows


def validation_markdown(summary: Mapping[str, Any]) -> str:
    """The validation summary with quarantine counts and reasons, as Markdown."""
    s = summary["sessions"]
    lines = ["# Validation", "", "| sessions | count |", "|---|---|",
             f"| in | {s['in']:,} |", f"| accepted | {s['accepted']:,} |", f"| quarantined | {s['quarantined']:,} |", ""]
    if s.get("reasons"):
        lines += ["| quarantine reason | rows |", "|---|---|"]
        lines += [f"| {reason} | {n:,} |" for reason, n in s["reasons"].items()]
    quarantine = (summary.get("files") or {}).get("quarantine")
    if quarantine:
        lines += ["", f"Quarantined rows with their reasons: `{quarantine}`"]
    return "\n".join(lines)


def decision_markdown(decision: Mapping[str, Any]) -> str:
    """The promotion decision and its figures, as Markdown."""
    from shopr1.registry import PromotionDecision

    d = PromotionDecision.model_validate(dict(decision))
    lines = [f"# Promotion: {d.summary()}", "", "| figure | challenger | champion | delta |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {e} |" for a, b, c, e in d.rows()]
    lines += ["", f"margin {d.margin:g}, per-type tolerance {d.per_type_tolerance:g}; test split {d.challenger.split_hash}"]
    return "\n".join(lines)
