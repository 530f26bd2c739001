"""MLflow tracking: explicit stores, parent and nested stage runs, and how a stage run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from shopr1 import tracking  # noqa: E402
from orchestration import fresh_store  # noqa: E402


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite store under tmp_path; returns (target, experiment id)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fresh_store(tmp_path / "run")
    target = tracking.resolve_target(tracking.TrackingSettings(), tmp_path / "run")
    return target, tracking.use(target)


def test_default_store_is_sqlite_under_the_run_folder_and_env_or_option_override(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    target = tracking.resolve_target(tracking.TrackingSettings(), tmp_path / "run")
    assert target.uri == f"sqlite:///{(tmp_path / 'run' / 'mlflow.db').resolve()}"
    assert target.artifact_location == (tmp_path / "run" / "mlartifacts").resolve().as_uri()
    assert target.ui_command() == f"mlflow ui --backend-store-uri {target.uri}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.resolve_target(tracking.TrackingSettings(), tmp_path).uri == "http://127.0.0.1:5999"
    explicit = tracking.TrackingSettings(uri=f"sqlite:///{tmp_path}/other.db")
    assert tracking.resolve_target(explicit, tmp_path).uri.endswith("other.db")


def test_stage_runs_nest_under_the_parent_with_params_metrics_and_tags(store, tmp_path):
    target, experiment_id = store
    parent = tracking.start_parent(experiment_id, "retrain[tiny]", params=tracking.as_params({"sft": {"lr": 0.003}}),
                                   tags={tracking.FLOW_RUN_TAG: "flow-123"})
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(json.dumps({"step": s, "loss": 2.0 / s, "rewards/format/mean": 0.1 * s}) for s in (1, 2, 3)))
    with tracking.stage_run("sft", experiment_id=experiment_id, parent_run_id=parent, params={"stage.x": "1"},
                            tags={tracking.FLOW_RUN_TAG: "flow-123"}, system_metrics=True, system_metrics_interval=0.2) as run:
        assert tracking.log_history(history) == 3
        png = tracking.plot_history(history, tmp_path / "curves.png")
        time.sleep(0.6)  # let the system-metrics sampler take a few samples
    tracking.end_parent(parent, "FINISHED")
    client = mlflow.MlflowClient()
    child = client.get_run(run.info.run_id)
    assert child.info.status == "FINISHED"
    assert child.data.tags["mlflow.parentRunId"] == parent
    assert child.data.tags[tracking.FLOW_RUN_TAG] == "flow-123"
    assert child.data.params["stage.x"] == "1"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "train/loss")] == [2.0, 1.0, 2.0 / 3]
    assert any(k.startswith("system/") for k in child.data.metrics), child.data.metrics.keys()
    assert png is not None and png.stat().st_size > 0
    assert client.get_run(parent).data.params["sft.lr"] == "0.003"


def test_a_failing_stage_run_ends_failed_and_ctrl_c_ends_killed(store):
    _, experiment_id = store
    with pytest.raises(ValueError):
        with tracking.stage_run("sft", experiment_id=experiment_id, system_metrics=False) as failed:
            raise ValueError("loss is nan\nmore detail")
    with pytest.raises(KeyboardInterrupt):
        with tracking.stage_run("grpo", experiment_id=experiment_id, system_metrics=False) as killed:
            raise KeyboardInterrupt
    client = mlflow.MlflowClient()
    run = client.get_run(failed.info.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["shopr1.error"] == "ValueError: loss is nan"
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    assert mlflow.active_run() is None


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from shopr1 import tracking
    target = tracking.resolve_target(tracking.TrackingSettings(), Path(sys.argv[1]))
    experiment_id = tracking.use(target)
    with tracking.stage_run("sft", experiment_id=experiment_id, system_metrics=False) as run:
        print(run.info.run_id, flush=True)
        time.sleep(60)
""")


def test_a_killed_stage_leaves_its_run_failed(tmp_path, monkeypatch):
    """SIGTERM: the stage records FAILED itself. SIGKILL: the next pipeline run marks it FAILED."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fresh_store(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = {sig: subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
             for sig in (signal.SIGTERM, signal.SIGKILL)}
    runs = {}
    try:
        for sig, proc in procs.items():
            runs[sig] = proc.stdout.readline().strip()
            assert runs[sig], "the child did not start its run"
        for sig, proc in procs.items():
            proc.send_signal(sig)
            proc.wait(timeout=30)
    finally:
        for proc in procs.values():
            proc.kill()
    experiment_id = tracking.use(tracking.resolve_target(tracking.TrackingSettings(), tmp_path))
    client = mlflow.MlflowClient()
    assert client.get_run(runs[signal.SIGTERM]).info.status == "FAILED"
    assert client.get_run(runs[signal.SIGKILL]).info.status == "RUNNING"  # nobody could say otherwise yet
    tracking.start_parent(experiment_id, "retrain[next]")
    for run_id in runs.values():
        run = client.get_run(run_id)
        assert run.info.status == "FAILED"
        assert "shopr1.error" in run.data.tags


def test_params_are_flat_strings_within_mlflow_limits():
    params = tracking.as_params({"a": {"b": [1, {"c": None}]}, "long": "x" * 7000})
    assert params["a.b.0"] == "1" and params["a.b.1.c"] == ""
    assert len(params["long"]) == tracking.MAX_PARAM_CHARS
    assert tracking.finite_metrics({"x": 1, "y": float("nan"), "z": "s", "b": True}) == {"x": 1.0}
