"""The `retrain` flow end to end on tiny settings under Prefect's test harness: MLflow parent and
nested runs, the registered version and its aliases, a transient teacher fault retried, no secret
anywhere, an unchanged re-run all cache hits, a changed GRPO key re-running only what follows it,
and permanent failures that stop with a clear message and register nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("prefect")
mlflow = pytest.importorskip("mlflow")

from chat_server import ChatServer  # noqa: E402
from conftest import make_session, write_jsonl  # noqa: E402
from orchestration import fresh_store  # noqa: E402

from shopr1 import stages  # noqa: E402

pytestmark = pytest.mark.slow

SECRET = "sk-test-" + "7f3a9c" * 4
KEY_ENV = "SHOPR1_TEST_TEACHER_KEY"
TINY = [
    "model.hidden_size=32", "model.layers=1", "model.heads=2", "model.vocab_size=600",
    "model.max_position_embeddings=4096", "sft.max_steps=2", "sft.save_steps=1", "sft.max_minutes=null",
    "grpo.max_steps=2", "grpo.save_steps=1", "grpo.max_minutes=null", "grpo.num_generations=4",
    "grpo.per_device_batch_size=4", "grpo.gradient_accumulation_steps=1", "grpo.max_completion_length=16",
    "data.seed=4", "evaluate.max_examples=6", "evaluate.n_bootstrap=20", "evaluate.max_new_tokens=16", "evaluate.greedy=false",
]
STAGE_NAMES = ["generate", "validate", "rationales", "build", "sft", "grpo", "evaluate", "register", "promote"]


@pytest.fixture(scope="module")
def retrain(prefect_harness):
    from shopr1.cli.run import load_flow, quiet_environment

    quiet_environment()
    return load_flow()


@pytest.fixture(scope="module")
def teacher():
    """An OpenAI-compatible teacher that wants the key and answers 503 the first time it sees a step."""
    seen: set[str] = set()

    def first_time_503(_index: int, body: dict) -> str | None:
        digest = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()
        if digest in seen:
            return None
        seen.add(digest)
        return "503"

    server = ChatServer(api_key=SECRET, fault_for=first_time_503).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    fresh_store(out)
    return out


@pytest.fixture(scope="module")
def params(run_dir, teacher):
    def make(*sets: str, **changes) -> stages.RetrainParams:
        base = dict(
            recipe="tiny-cpu", overrides=[*TINY, *sets], out=run_dir, system_metrics=False,
            data=stages.DataSource(sessions=12),  # data.seed=4 puts 3 of the 12 sessions in the test split
            teacher=stages.TeacherSpec(kind="openai", model="teacher", base_url=teacher.url, api_key_env=KEY_ENV,
                                       attempts=1, concurrency=4),
        )
        return stages.RetrainParams(**{**base, **changes})

    return make


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _task_runs(flow_run_id: str) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with _client() as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def _logs(flow_run_id: str) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with _client() as client:
        return [log.message for log in client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))]


def _versions(summary_uri: str) -> list[str]:
    client = mlflow.MlflowClient(tracking_uri=summary_uri, registry_uri=summary_uri)
    try:
        return sorted(str(v.version) for v in client.search_model_versions("name = 'shopr1-simulator'"))
    except Exception:
        return []


def test_a_fresh_run_trains_evaluates_registers_promotes_and_tracks_everything(retrain, params, teacher, run_dir):
    summary = retrain(params=params())
    assert summary.stages == {name: "Completed" for name in STAGE_NAMES}
    assert summary.cache_hits == 0
    # The teacher's 503s failed every step once: the task failed, was retried and succeeded.
    runs = {t.name: t for t in _task_runs(summary.flow_run_id)}
    assert runs["rationales[openai]"].run_count == 2, {n: t.run_count for n, t in runs.items()}
    assert all(t.run_count == 1 for n, t in runs.items() if n != "rationales[openai]")
    assert all(r.headers.get("Authorization") == f"Bearer {SECRET}" for r in teacher.requests)

    client = mlflow.MlflowClient(tracking_uri=summary.mlflow_uri)
    parent = client.get_run(summary.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["prefect.flow_run_id"] == summary.flow_run_id
    assert parent.data.params["sft.max_steps"] == "2" and parent.data.params["teacher.api_key_env"] == KEY_ENV
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    by_stage: dict[str, list] = {}
    for child in children:
        by_stage.setdefault(child.data.tags["shopr1.stage"], []).append(child)
    assert set(by_stage) == set(STAGE_NAMES)
    assert sorted(r.info.status for r in by_stage["rationales"]) == ["FAILED", "FINISHED"]  # the retried attempt
    assert all(r.info.status == "FINISHED" for s in STAGE_NAMES if s != "rationales" for r in by_stage[s])
    assert by_stage["sft"][0].info.run_name == "sft[tiny-cpu]"
    assert any(k.startswith("train/") for k in by_stage["grpo"][0].data.metrics)
    evaluated = by_stage["evaluate"][0].data.metrics
    assert {"exact_match", "exact_match_ci_low", "exact_match_ci_high", "type_accuracy"} <= set(evaluated)
    assert evaluated["exact_match"] == summary.evaluation["exact_match"]
    assert by_stage["validate"][0].data.metrics["sessions_accepted"] == 12

    assert summary.version == "1" and summary.decision["promoted"]
    registry = mlflow.MlflowClient(tracking_uri=summary.mlflow_uri, registry_uri=summary.mlflow_uri)
    for alias in ("challenger", "champion"):
        assert str(registry.get_model_version_by_alias("shopr1-simulator", alias).version) == "1"
    tags = registry.get_model_version("shopr1-simulator", "1").tags
    assert tags["eval.split_hash"] and tags["promotion.decision"] == "promoted"
    assert tags["prefect.flow_run_id"] == summary.flow_run_id

    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with _client() as prefect:
        artifacts = {a.key: a for a in prefect.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[summary.flow_run_id])))}
    assert {"validation-summary", "evaluation", "promotion-decision", "mlflow-run"} <= set(artifacts)
    assert "| quarantined | 0 |" in artifacts["validation-summary"].data
    assert "promoted to champion" in artifacts["promotion-decision"].data
    assert summary.mlflow_run_id in artifacts["mlflow-run"].data

    # No secret in MLflow (params, tags, metrics, artifacts: the whole store) nor in Prefect.
    stored = [run_dir / "mlflow.db", *(p for p in (run_dir / "mlartifacts").rglob("*") if p.is_file())]
    assert not [str(p) for p in stored if SECRET.encode() in p.read_bytes()]
    with _client() as prefect:
        assert SECRET not in json.dumps(prefect.read_flow_run(summary.flow_run_id).parameters, default=str)
    logs = _logs(summary.flow_run_id)
    assert logs and not [m for m in logs if SECRET in m]


def test_an_unchanged_rerun_is_all_cache_hits_and_registers_nothing(retrain, params, teacher):
    asked = len(teacher.requests)
    summary = retrain(params=params())
    assert summary.stages == {name: "Cached" for name in STAGE_NAMES}
    assert summary.cache_hits == len(STAGE_NAMES)
    assert summary.version == "1" and _versions(summary.mlflow_uri) == ["1"]
    assert len(teacher.requests) == asked


def test_a_changed_grpo_key_reruns_only_grpo_and_what_follows(retrain, params):
    summary = retrain(params=params("grpo.learning_rate=1e-4"))
    assert [n for n, s in summary.stages.items() if s == "Cached"] == ["generate", "validate", "rationales", "build", "sft"]
    assert [n for n, s in summary.stages.items() if s == "Completed"] == ["grpo", "evaluate", "register", "promote"]
    assert summary.version == "2" and _versions(summary.mlflow_uri) == ["1", "2"]
    assert summary.decision["champion_version"] == "1"  # compared with v1 on the same split


def _failed(retrain, params) -> tuple[str, str]:
    state = retrain(params=params, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception) as err:
        state.result()
    return state.state_details.flow_run_id, str(err.value)


def test_a_bad_recipe_fails_the_flow_run_with_a_clear_message(retrain, params):
    flow_run_id, message = _failed(retrain, params("sft.learning_rate=-1"))
    assert "sft.learning_rate" in message and "greater than 0" in message
    assert _task_runs(str(flow_run_id)) == []  # it stopped before any stage


def test_data_below_the_accepted_share_fails_and_registers_nothing(retrain, params, run_dir, tmp_path):
    rows = [make_session(f"ok-{i}") for i in range(4)] + ['{"session_id": "broken"}'] * 4
    data = write_jsonl(tmp_path / "sessions.jsonl", rows)
    before = _versions(f"sqlite:///{run_dir / 'mlflow.db'}")
    fresh_store(tmp_path / "out")
    flow_run_id, message = _failed(retrain, params(data=stages.DataSource(kind="files", paths=[data]),
                                                   out=tmp_path / "out"))
    assert "passed the data contract" in message and "quarantine" in message
    runs = {t.name: t for t in _task_runs(str(flow_run_id))}
    assert runs["validate"].state.is_failed() and runs["validate"].run_count == 1  # not retried: it cannot pass
    assert set(runs) == {"validate"}
    assert _versions(f"sqlite:///{run_dir / 'mlflow.db'}") == before
    assert _versions(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}") == []


def test_the_main_job_command_runs_the_flow_and_ends_with_a_promoted_champion(prefect_harness, tmp_path):
    """`shopr1 run` as a user types it (a separate process, the heuristic teacher), on tiny settings."""
    fresh_store(tmp_path)
    env = {**os.environ, "PREFECT_API_URL": prefect_harness, "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    sets = [arg for item in TINY for arg in ("--set", item)]
    done = subprocess.run([str(Path(sys.executable).with_name("shopr1")), "run", "--out", str(tmp_path), "--sessions", "12", *sets],
                          capture_output=True, text=True, env=env, timeout=500)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    summary = json.loads((tmp_path / "dataset" / "summary.json").read_text())
    assert summary["sessions"]["accepted"] == 12 and summary["examples"]["sessions_without_rationales"] == 0
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    registry = mlflow.MlflowClient(tracking_uri=store, registry_uri=store)
    assert str(registry.get_model_version_by_alias("shopr1-simulator", "champion").version) == "1"
    assert "models:/shopr1-simulator@champion" in out and "mlflow models serve" in out
