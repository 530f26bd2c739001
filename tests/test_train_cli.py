"""`shopr1 train sft|grpo|launch-config` as a user runs them."""

from __future__ import annotations

import pytest
import yaml

pytest.importorskip("trl")

from train_helpers import tiny_dataset  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from shopr1.cli import app  # noqa: E402
from shopr1.train.common import DEEPSPEED_DIR, TrainingError, oom_message  # noqa: E402

SMALL = [
    "model.hidden_size=32", "model.layers=1", "model.heads=2", "model.vocab_size=1000", "sft.max_steps=2",
    "grpo.max_steps=1", "grpo.num_generations=4", "grpo.per_device_batch_size=4",
    "grpo.gradient_accumulation_steps=1", "grpo.max_completion_length=16",
]
SETS = [arg for s in SMALL for arg in ("--set", s)]


def test_sft_then_grpo_from_the_command_line(tmp_path_factory, tmp_path):
    data = tiny_dataset(tmp_path_factory.getbasetemp() / "train-data")
    runner = CliRunner()
    sft = runner.invoke(app, ["train", "sft", "--data", str(data), "--out", str(tmp_path / "sft"), *SETS])
    assert sft.exit_code == 0, sft.output
    assert "global_step" in sft.output and "sft/dropped_too_long_share" in sft.output
    grpo = runner.invoke(app, ["train", "grpo", "--data", str(data), "--from", str(tmp_path / "sft" / "final"),
                               "--out", str(tmp_path / "grpo"), *SETS])
    assert grpo.exit_code == 0, grpo.output
    assert "rewards/value_reward/mean/run_mean" in grpo.output.replace("\n", "")
    assert (tmp_path / "grpo" / "final" / "model.safetensors").is_file()


def _flat(result) -> str:
    return " ".join(result.output.split())  # rich wraps long lines


def test_command_line_errors_name_what_to_change(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["train", "sft", "--out", str(tmp_path), "--set", "sft.epochz=1"])
    assert bad.exit_code == 2 and "sft.epochz: unknown key" in _flat(bad)
    missing = runner.invoke(app, ["train", "grpo", "--data", str(tmp_path), "--from", str(tmp_path / "gone"),
                                  "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "gone does not exist" in _flat(missing)
    nodata = runner.invoke(app, ["train", "sft", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert nodata.exit_code == 2 and "no SFT examples in" in _flat(nodata)


def test_launch_config_points_at_the_packaged_deepspeed_file(tmp_path):
    out = tmp_path / "accelerate.yaml"
    result = CliRunner().invoke(app, ["train", "launch-config", "--deepspeed", "zero3", "--processes", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(out.read_text())
    assert config["num_processes"] == 4
    assert config["deepspeed_config"]["deepspeed_config_file"] == str(DEEPSPEED_DIR / "zero3.json")


def test_out_of_memory_names_the_batch_and_context_keys():
    text = oom_message("grpo", RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    for key in ("grpo.per_device_batch_size", "data.max_context_tokens", "grpo.max_completion_length"):
        assert key in text
    assert issubclass(TrainingError, RuntimeError)
