"""Serving: request records → contexts, safetensors-only loading, the registered pyfunc, `mlflow
models serve` answering /invocations, and `shopr1 simulate`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from orchestration import free_port, register_champion, tiny_checkpoint
from shopr1.serving.contexts import ContextError, parse_contexts
from shopr1.shopworld import iter_shopworld


def session_so_far(steps: int = 2) -> list[dict]:
    """The first `steps` steps of the first ShopWorld session that is at least that long."""
    session = next(s for s, _ in iter_shopworld(50, seed=0) if len(s.steps) >= steps)
    return [s.model_dump(mode="json", exclude_none=True) for s in session.steps[:steps]]


def test_a_context_is_the_session_so_far_as_a_list_or_its_json_string():
    steps = session_so_far(3)
    as_list, as_text = parse_contexts([{"steps": steps}, {"steps": json.dumps(steps)}])
    assert as_list == as_text
    assert len(as_list.pages) == 3 and len(as_list.past_actions) == 2  # the last step's action is predicted
    assert as_list.past_actions[0].type == steps[0]["action"]["type"]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"pages": []}, "record 2: record has no `steps` key"),
        ({"steps": "[{"}, "record 2: `steps` is a string but not JSON"),
        ({"steps": []}, "record 2: `steps` must be a non-empty list"),
        ({"steps": [{"url": "/"}]}, "record 2: steps[0]: Value error, step has neither page_html nor raw_html"),
        ({"steps": [{"page_html": "<p/>"}, {"page_html": "<p/>"}]}, "record 2: steps[0] has no action"),
        ({"steps": [{"page_html": "<p/>", "action": {"type": "click"}}, {"page_html": "<p/>"}]}, "steps[0].action (click) is missing name"),
        ({"steps": [{"page_html": "<p/>", "action": {"type": "fly"}}]}, "record 2: steps[0].action.type"),
        ("just text", "record 2: a record is an object"),
    ],
)
def test_a_bad_record_is_named_with_what_is_wrong(record, message):
    with pytest.raises(ContextError) as err:
        parse_contexts([{"steps": session_so_far(1)}, record])
    assert message in str(err.value)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def test_only_safetensors_and_no_code_are_ever_loaded(checkpoint, tmp_path):
    from shopr1.serving.simulator import Simulator

    pickled = shutil.copytree(checkpoint, tmp_path / "pickled")
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ValueError, match="no .safetensors weights"):
        Simulator(pickled)
    trained = shutil.copytree(checkpoint, tmp_path / "trained")
    (trained / "training_args.bin").write_bytes(b"the Trainer's arguments: never read")
    assert Simulator(trained).settings.counter == "model"  # a training output folder serves as is
    with_code = shutil.copytree(checkpoint, tmp_path / "with_code")
    (with_code / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ValueError, match="modeling_evil.py"):
        Simulator(with_code)


@pytest.fixture(scope="module")
def champion(tmp_path_factory, checkpoint):
    """A store with the tiny checkpoint registered and promoted; yields its tracking URI."""
    yield register_champion(tmp_path_factory.mktemp("store"), checkpoint)


def test_the_champion_loads_with_pyfunc_and_predicts_for_lists_json_strings_and_frames(champion):
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(champion)
    mlflow.set_registry_uri(champion)
    model = mlflow.pyfunc.load_model("models:/shopr1-simulator@champion")
    steps = session_so_far(2)
    frame = model.predict(pd.DataFrame([{"steps": steps}, {"steps": json.dumps(steps)}]))
    assert list(frame.columns) == ["rationale", "action", "error"] and len(frame) == 2
    assert frame.iloc[0].to_dict() == frame.iloc[1].to_dict()  # greedy: the same context, the same answer
    row = frame.iloc[0]
    assert (row["error"] is None) == (row["action"] is not None)
    with pytest.raises(Exception, match="record 1: `steps` is a string but not JSON"):
        model.predict([{"steps": "{not json"}])


def test_mlflow_models_serve_answers_a_real_invocations_request(champion):
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": champion, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/shopr1-simulator@champion",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            try:
                if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlflow models serve did not answer /ping within 120 s"
            time.sleep(0.5)
        steps = session_so_far(2)
        reply = httpx.post(f"{base}/invocations", json={"dataframe_records": [{"steps": json.dumps(steps)}, {"steps": steps}]},
                           timeout=60)
        assert reply.status_code == 200, reply.text
        predictions = reply.json()["predictions"]
        assert len(predictions) == 2 and set(predictions[0]) == {"rationale", "action", "error"}
        bad = httpx.post(f"{base}/invocations", json={"dataframe_records": [{"steps": "[oops"}]}, timeout=60)
        assert bad.status_code == 400 and "record 1: `steps` is a string but not JSON" in bad.json()["message"]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_shopr1_simulate_writes_one_prediction_per_session_and_names_a_bad_line(champion, checkpoint, tmp_path):
    from shopr1.cli import app

    sessions = tmp_path / "sessions.jsonl"
    sessions.write_text("\n".join(json.dumps({"session_id": f"s{i}", "steps": session_so_far(i + 1)}) for i in range(3)) + "\n")
    out = tmp_path / "predictions.jsonl"
    runner = CliRunner()
    for model in ("models:/shopr1-simulator@champion", str(checkpoint)):
        result = runner.invoke(app, ["simulate", str(sessions), "--model", model, "--out", str(out), "--tracking-uri", champion])
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["session_id"] for r in rows] == ["s0", "s1", "s2"]
        assert all(set(r) == {"session_id", "rationale", "action", "error"} for r in rows)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(sessions.read_text() + '{"session_id": "s3", "steps": [{"url": "/"}]}\n')
    result = runner.invoke(app, ["simulate", str(bad), "--model", str(checkpoint), "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2
    assert f"{bad}:4: steps[0]" in " ".join(result.output.split()) and not (tmp_path / "x.jsonl").exists()
