"""deployments/prefect.yaml: what it declares, and the tiny-cpu deployment deployed to a local
Prefect server and run through a real process worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"
TINY = [
    "model.hidden_size=32", "model.layers=1", "model.heads=2", "model.vocab_size=600",
    "model.max_position_embeddings=4096", "sft.max_steps=2", "sft.max_minutes=null", "grpo.max_steps=2",
    "grpo.max_minutes=null", "grpo.num_generations=4", "grpo.per_device_batch_size=4",
    "grpo.gradient_accumulation_steps=1", "grpo.max_completion_length=16", "data.seed=4",
    "evaluate.max_examples=6", "evaluate.n_bootstrap=20", "evaluate.max_new_tokens=16", "evaluate.greedy=false",
]


def deployments() -> dict[str, dict]:
    return {d["name"]: d for d in yaml.safe_load(PREFECT_FILE.read_text())["deployments"]}


def test_nightly_retraining_runs_on_the_gpu_pool_with_a_timezone_and_its_data_on_the_cpu_pool():
    found = deployments()
    nightly, cpu = found["nightly"], found["cpu"]
    assert nightly["work_pool"]["name"] == "shopr1-gpu" and cpu["work_pool"]["name"] == "shopr1-cpu"
    (schedule,) = nightly["schedules"]
    assert schedule["cron"] == "0 2 * * *" and schedule["timezone"] == "Europe/Berlin"
    variables = nightly["work_pool"]["job_variables"]
    assert variables["image"] and variables["gpu_count"] == 1 and variables["env"]["PREFECT_LOGGING_EXTRA_LOGGERS"] == "shopr1"
    params = nightly["parameters"]["params"]
    assert params["data_deployment"] == "prepare-data/cpu" and params["result_storage"]  # remote results for pods
    assert params["teacher"]["api_key_env"].isidentifier()  # a name, never the key
    assert found["cpu"]["entrypoint"] == "flows/retrain.py:prepare_data"
    from shopr1.stages import RetrainParams

    for deployment in found.values():  # every deployment's parameters are valid flow parameters
        RetrainParams.model_validate(deployment.get("parameters", {}).get("params", {}) | {"out": "/tmp/x"})
    # The GPU pool's base job template requests what the deployment's job variables set.
    template = json.loads((ROOT / "deployments" / "k8s-gpu-job-template.json").read_text())
    container = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "{{ gpu_count }}"
    assert {"gpu_count", "cpu_request", "memory_request", "volume_claim", "image", "env"} <= set(template["variables"]["properties"])


def _prefect(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "prefect", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_the_tiny_deployment_runs_through_a_real_process_worker(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from orchestration import fresh_store

    out = tmp_path / "run"
    fresh_store(out)
    env = {**os.environ, "PREFECT_API_URL": prefect_harness, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    _prefect("work-pool", "create", "shopr1-local", "--type", "process", env=env)
    _prefect("deploy", "--prefect-file", str(PREFECT_FILE), "--name", "tiny-cpu", "--no-prompt", env=env)
    params = {"params": {"recipe": "tiny-cpu", "overrides": TINY, "out": str(out), "data": {"sessions": 12},
                         "system_metrics": False}}
    flow_run = run_deployment("retrain/tiny-cpu", parameters=params, timeout=0)
    _prefect("worker", "start", "--pool", "shopr1-local", "--run-once", env=env, timeout=500)
    with get_client(sync_client=True) as client:
        finished = client.read_flow_run(flow_run.id)
    assert finished.state.is_completed(), finished.state
    assert finished.name == "retrain[tiny-cpu]"
    import mlflow

    uri = f"sqlite:///{out / 'mlflow.db'}"
    registry = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = registry.get_model_version_by_alias("shopr1-simulator", "champion")
    assert str(champion.version) == "1" and champion.tags["prefect.flow_run_id"] == str(flow_run.id)
