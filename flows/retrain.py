"""The `retrain` flow: generate/ingest → validate → rationales → build → SFT → GRPO → evaluate →
register → promote, one library call per task (shopr1.stages).

Tasks cache on the stage's fingerprint (input hashes, the recipe keys the stage reads, the library's
code version) plus their own source, and a cached result is used only while its files are intact.
Transient faults (teacher endpoint, registry) are retried with backoff; GPU stages hold a slot of
the global concurrency limit `gpu`. Deploy with `prefect deploy --prefect-file deployments/prefect.yaml`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.concurrency.sync import concurrency
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from shopr1 import stages, tracking
from shopr1.stages import RetrainParams, RetrainSummary, TrackingContext

GPU_SLOT = "gpu"


def _cache(stage: str) -> CachePolicy:
    """Cache on the library's fingerprint of the stage's inputs (not the tracking context) + task source."""

    def key(_ctx: Any, inputs: dict[str, Any]) -> str:
        return stages.fingerprint(stage, **{k: v for k, v in inputs.items() if k != "ctx"})

    return CachePolicy.from_cache_key_fn(key) + TASK_SOURCE


def _transient(_task: Any, _run: Any, state: Any) -> bool:
    """Retry what may pass: a teacher or registry that did not answer, a dropped connection."""
    try:
        state.result()
    except Exception as exc:
        return stages.is_transient(exc)
    return False


RETRY = dict(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2), retry_jitter_factor=0.2,
             retry_condition_fn=_transient)


@task(task_run_name="generate[{sessions} sessions]", cache_policy=_cache("generate"))
def generate(out_dir: Path, sessions: int, seed: int, config: Any, ctx: TrackingContext) -> stages.SessionsResult:
    with stages.tracked(ctx, "generate", params={"sessions": sessions, "seed": seed}) as log:
        result = stages.generate(out_dir, sessions=sessions, seed=seed, config=config)
        log(result)
    return result


@task(task_run_name="validate", cache_policy=_cache("validate"))
def validate(inputs: stages.Ref, out_dir: Path, seed: int, min_accepted_share: float, ctx: TrackingContext) -> stages.ValidateResult:
    with stages.tracked(ctx, "validate", params={"input.sha256": inputs.sha256, "min_accepted_share": min_accepted_share}) as log:
        result = stages.validate(inputs, out_dir, seed=seed, min_accepted_share=min_accepted_share)
        log(result)
    return result


@task(task_run_name="rationales[{teacher.kind}]", cache_policy=_cache("rationales"), **RETRY)
def rationales(accepted: stages.Ref, out_dir: Path, teacher: stages.TeacherSpec, ctx: TrackingContext) -> stages.RationalesResult:
    with stages.tracked(ctx, "rationales", params={"teacher": teacher.model_dump(mode="json")}) as log:
        result = stages.rationales(accepted, out_dir, teacher)
        log(result)
    return result


@task(task_run_name="build[{recipe.name}]", cache_policy=_cache("build"))
def build(sessions: stages.Ref, out_dir: Path, recipe: Any, policy: stages.Ref | None, ctx: TrackingContext) -> stages.BuildResult:
    with stages.tracked(ctx, "build", run_name=f"build[{recipe.name}]") as log:
        result = stages.build(sessions, out_dir, recipe, policy=policy)
        log(result)
    return result


@task(task_run_name="sft[{recipe.name}]", cache_policy=_cache("sft"))
def sft(recipe: Any, dataset: stages.Ref, out_dir: Path, ctx: TrackingContext) -> stages.TrainStageResult:
    with concurrency(GPU_SLOT, strict=True), stages.tracked(ctx, "sft", run_name=f"sft[{recipe.name}]") as log:
        result = stages.sft(recipe, dataset, out_dir)
        log(result)
    return result


@task(task_run_name="grpo[{recipe.name}]", cache_policy=_cache("grpo"))
def grpo(recipe: Any, dataset: stages.Ref, init: stages.Ref, out_dir: Path, ctx: TrackingContext) -> stages.TrainStageResult:
    with concurrency(GPU_SLOT, strict=True), stages.tracked(ctx, "grpo", run_name=f"grpo[{recipe.name}]") as log:
        result = stages.grpo(recipe, dataset, init, out_dir)
        log(result)
    return result


@task(task_run_name="evaluate[{recipe.name}]", cache_policy=_cache("evaluate"))
def evaluate(recipe: Any, checkpoint: stages.Ref, dataset: stages.Ref, out_dir: Path, ctx: TrackingContext) -> stages.EvaluateResult:
    with concurrency(GPU_SLOT, strict=True), stages.tracked(ctx, "evaluate", run_name=f"evaluate[{recipe.name}]") as log:
        result = stages.evaluate(recipe, checkpoint, dataset, out_dir)
        log(result)
    return result


@task(task_run_name="register[{recipe.promotion.model_name}]", cache_policy=_cache("register"), **RETRY)
def register(recipe: Any, checkpoint: stages.Ref, evaluation: stages.EvaluateResult, ctx: TrackingContext) -> stages.RegisterResult:
    with stages.tracked(ctx, "register", run_name=f"register[{recipe.name}]") as log:
        result = stages.register(recipe, checkpoint, evaluation,
                                 tags={tracking.FLOW_RUN_TAG: ctx.flow_run_id or ""})
        log(result)
    return result


@task(task_run_name="promote[v{version}]", cache_policy=_cache("promote"), **RETRY)
def promote(recipe: Any, version: str, dataset: stages.Ref, work_dir: Path, ctx: TrackingContext) -> stages.PromoteResult:
    with stages.tracked(ctx, "promote", run_name=f"promote[v{version}]") as log:
        result = stages.promote(recipe, version, dataset=dataset, work_dir=work_dir)
        log(result)
    return result


class _Runner:
    """Calls tasks, re-runs a cached one whose files are gone, and counts the cache hits."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    def __call__(self, name: str, fn: Any, **kwargs: Any) -> Any:
        state = fn(**kwargs, return_state=True)
        result = state.result()
        if state.name == "Cached" and not result.intact():
            get_run_logger().warning("%s: the cached result's files changed or vanished; running it again", name)
            state = fn.with_options(refresh_cache=True)(**kwargs, return_state=True)
            result = state.result()
        self.states[name] = state.name
        return result

    @property
    def hits(self) -> int:
        return sum(1 for s in self.states.values() if s == "Cached")


def _storage(params: RetrainParams, out: Path) -> Any:
    """Where task results (and cache records) persist: a storage block, else a folder in the run."""
    if params.result_storage:
        from prefect.filesystems import WritableFileSystem

        return WritableFileSystem.load(params.result_storage)
    return (out / "prefect-results").resolve()


def _ensure_gpu_slot() -> None:
    """Create the global concurrency limit `gpu` (1 slot) when it does not exist yet."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(GPU_SLOT)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=GPU_SLOT, limit=1))
            except ObjectAlreadyExists:
                pass


def _data_stages(params: RetrainParams, recipe: Any, out: Path, ctx: TrackingContext, run: _Runner,
                 storage: Any) -> tuple[stages.ValidateResult, stages.BuildResult]:
    def t(fn: Any) -> Any:
        return fn.with_options(result_storage=storage)

    if params.data.kind == "shopworld":
        source = run("generate", t(generate), out_dir=out / "shopworld",
                     sessions=params.data.sessions or recipe.data.sessions,
                     seed=params.data.seed if params.data.seed is not None else recipe.data.seed,
                     config=recipe.shopworld, ctx=ctx)
    else:
        source = stages.ingest(params.data.paths)
    validated = run("validate", t(validate), inputs=source.sessions, out_dir=out / "validated", seed=recipe.data.seed,
                    min_accepted_share=params.min_accepted_share, ctx=ctx)
    with_rationales = run("rationales", t(rationales), accepted=validated.accepted, out_dir=out / "rationales",
                          teacher=params.teacher, ctx=ctx)
    dataset = run("build", t(build), sessions=with_rationales.sessions, out_dir=out / "dataset", recipe=recipe,
                  policy=source.policy, ctx=ctx)
    create_markdown_artifact(stages.validation_markdown(validated.summary), key="validation-summary",
                             description="Sessions accepted and quarantined by the raw-sessions contract")
    return validated, dataset


def _open_tracking(params: RetrainParams, recipe: Any, out: Path) -> tuple[TrackingContext, tracking.TrackingTarget]:
    target = tracking.resolve_target(
        tracking.TrackingSettings(uri=params.tracking_uri, experiment=params.experiment), out)
    experiment_id = tracking.use(target)
    flow_run_id = str(flow_run.id) if flow_run.id else None
    parent = tracking.start_parent(
        experiment_id, f"retrain[{recipe.name}]",
        params={**tracking.as_params(recipe.model_dump(mode="json", exclude={"description"})),
                **tracking.as_params(params.teacher.model_dump(mode="json"), "teacher"),
                **tracking.as_params(params.data.model_dump(mode="json"), "data_source"),
                "code_version": stages.code_version()},
        tags={tracking.FLOW_RUN_TAG: flow_run_id or "", "recipe": recipe.name},
    )
    ctx = TrackingContext(uri=target.uri, experiment_id=experiment_id, parent_run_id=parent, flow_run_id=flow_run_id,
                          system_metrics=params.system_metrics)
    return ctx, target


def _flow_run_name() -> str:
    params = flow_run.parameters.get("params") or {}
    recipe = params.get("recipe", "tiny-cpu") if isinstance(params, dict) else getattr(params, "recipe", "tiny-cpu")
    return f"retrain[{Path(str(recipe)).stem}]"


@flow(name="retrain", flow_run_name=_flow_run_name, validate_parameters=True)
def retrain(params: RetrainParams = RetrainParams()) -> RetrainSummary:
    """Retrain the simulator on fresh data, evaluate it, register it and promote it when better."""
    logger = get_run_logger()
    recipe = params.load_recipe()
    out = Path(params.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    storage = _storage(params, out)
    _ensure_gpu_slot()
    ctx, target = _open_tracking(params, recipe, out)
    run = _Runner()
    status = "FAILED"
    try:
        if params.data_deployment:
            validated, dataset = _remote_data_stages(params, ctx)
        else:
            validated, dataset = _data_stages(params, recipe, out, ctx, run, storage)

        def t(fn: Any) -> Any:
            return fn.with_options(result_storage=storage)

        tuned = run("sft", t(sft), recipe=recipe, dataset=dataset.dataset, out_dir=out / "sft", ctx=ctx)
        trained = run("grpo", t(grpo), recipe=recipe, dataset=dataset.dataset, init=tuned.checkpoint,
                      out_dir=out / "grpo", ctx=ctx)
        scored = run("evaluate", t(evaluate), recipe=recipe, checkpoint=trained.checkpoint, dataset=dataset.dataset,
                     out_dir=out / "eval", ctx=ctx)
        create_table_artifact(stages.evaluation_rows(scored.scores), key="evaluation",
                              description=f"{recipe.name} on the {scored.split} split ({scored.split_hash})")
        registered = run("register", t(register), recipe=recipe, checkpoint=trained.checkpoint, evaluation=scored, ctx=ctx)
        decision = None
        if params.promote:
            decision = run("promote", t(promote), recipe=recipe, version=registered.version, dataset=dataset.dataset,
                           work_dir=out / "promotion", ctx=ctx).decision
            create_markdown_artifact(stages.decision_markdown(decision), key="promotion-decision",
                                     description="Challenger against champion on the same test split")
        mlflow_url = tracking.run_url(target, ctx.experiment_id, ctx.parent_run_id or "")
        create_link_artifact(mlflow_url, link_text="MLflow parent run", key="mlflow-run",
                             description=f"Start the UI with: {target.ui_command()}")
        status = "FINISHED"
        logger.info("retrain[%s]: %d of %d stages from cache", recipe.name, run.hits, len(run.states))
        return RetrainSummary(
            recipe=recipe.name, flow_run_id=ctx.flow_run_id, flow_run_url=flow_run.ui_url,
            mlflow_uri=target.uri, mlflow_run_id=ctx.parent_run_id or "", mlflow_ui=target.ui_command(),
            stages=run.states, cache_hits=run.hits, validation=validated.summary["sessions"],
            evaluation=scored.scores, ceilings=scored.ceilings, version=registered.version,
            model_uri=registered.model_uri, decision=decision,
            outputs={"dataset": str(dataset.dataset.path), "checkpoint": str(trained.checkpoint.path),
                     "report": str(scored.report.path)},
        )
    finally:
        tracking.end_parent(ctx.parent_run_id or "", status,
                            tags={"cache_hits": str(run.hits), "stages": ",".join(f"{k}={v}" for k, v in run.states.items())})


DATA_OUTPUTS = "data-stages.json"


@flow(name="prepare-data", flow_run_name=_flow_run_name, validate_parameters=True)
def prepare_data(params: RetrainParams = RetrainParams(), ctx: TrackingContext | None = None) -> dict[str, Any]:
    """The data stages alone (for a CPU work pool): generate/ingest → validate → rationales → build.

    Their results also go to `<out>/data-stages.json`, which `retrain` reads from the shared run
    folder when it ran this flow as a deployment.
    """
    from shopr1.atomic import atomic_write_text

    recipe = params.load_recipe()
    out = Path(params.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if ctx is None:
        ctx, _ = _open_tracking(params, recipe, out)
    validated, dataset = _data_stages(params, recipe, out, ctx, _Runner(), _storage(params, out))
    outputs = {"validated": validated.model_dump(mode="json"), "dataset": dataset.model_dump(mode="json")}
    atomic_write_text(out / DATA_OUTPUTS, json.dumps(outputs, indent=2) + "\n")
    return outputs


def _remote_data_stages(params: RetrainParams, ctx: TrackingContext) -> tuple[stages.ValidateResult, stages.BuildResult]:
    """Run `prepare-data` as its deployment (another pool) and wait; the run folder must be shared."""
    from prefect.deployments import run_deployment

    out = Path(params.out).resolve()
    (out / DATA_OUTPUTS).unlink(missing_ok=True)
    child = run_deployment(params.data_deployment, parameters={"params": params.model_dump(mode="json"),
                                                               "ctx": ctx.model_dump(mode="json")}, timeout=None)
    if not child.state or not child.state.is_completed():
        raise stages.StageError(f"data deployment {params.data_deployment} ended "
                                f"{child.state.name if child.state else 'without a state'}: {child.state.message if child.state else ''}")
    if not (out / DATA_OUTPUTS).is_file():
        raise stages.StageError(f"data deployment {params.data_deployment} finished but {out / DATA_OUTPUTS} is missing: "
                                "do both pools mount the same run folder?")
    outputs = json.loads((out / DATA_OUTPUTS).read_text())
    validated = stages.ValidateResult.model_validate(outputs["validated"])
    dataset = stages.BuildResult.model_validate(outputs["dataset"])
    if not (validated.intact() and dataset.intact()):
        raise stages.StageError(f"the data stages' outputs under {out} do not match their hashes")
    return validated, dataset
