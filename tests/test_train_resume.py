"""A killed training run resumes from its last checkpoint and ends where an uninterrupted one ends."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from train_helpers import tiny_dataset, tiny_recipe  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from shopr1.modeling import load_model  # noqa: E402
from shopr1.train.common import last_checkpoint  # noqa: E402
from shopr1.train.sft import train_sft  # noqa: E402

# CPU float32 with the same seed and data order: the resumed run repeats the same arithmetic.
TOLERANCE = 1e-6


class Killed(Exception):
    pass


class KillAt(TrainerCallback):
    """Dies at the end of step `step` (before that step's checkpoint is saved), like a kill -9 would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed(f"killed at step {self.step}")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.getbasetemp() / "train-data")


def test_a_killed_sft_run_resumes_and_ends_where_an_uninterrupted_run_ends(dataset, tmp_path):
    recipe = tiny_recipe("sft.max_steps=4", "sft.save_steps=2", "sft.save_total_limit=null")
    straight = train_sft(recipe, dataset, tmp_path / "straight")

    interrupted = tmp_path / "interrupted"
    with pytest.raises(Killed):
        train_sft(recipe, dataset, interrupted, callbacks=[KillAt(3)])
    assert last_checkpoint(interrupted) == interrupted / "checkpoint-2"
    assert not (interrupted / "final").exists()
    resumed = train_sft(recipe, dataset, interrupted)

    assert resumed.metrics["sft/resumed_from_step"] == 2
    assert resumed.metrics["global_step"] == straight.metrics["global_step"] == 4
    a, b = load_model(straight.checkpoint).state_dict(), load_model(resumed.checkpoint).state_dict()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= TOLERANCE
    steps = [json.loads(line)["step"] for line in resumed.history_path.read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == [1, 2, 3, 4]  # the killed run's step 3 was dropped and redone


def test_an_incomplete_checkpoint_is_skipped_on_resume(dataset, tmp_path):
    recipe = tiny_recipe("sft.max_steps=2", "sft.save_steps=1", "sft.save_total_limit=null")
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train_sft(recipe, dataset, out, callbacks=[KillAt(2)])
    (out / "checkpoint-2").mkdir()  # a save the kill cut short
    (out / "checkpoint-2" / "config.json").write_text("{}")
    assert last_checkpoint(out) == out / "checkpoint-1"
    assert train_sft(recipe, dataset, out).metrics["sft/resumed_from_step"] == 1


def test_the_wall_clock_budget_stops_and_saves(dataset, tmp_path):
    recipe = tiny_recipe("sft.max_steps=50", "sft.max_minutes=0.0001", "sft.save_steps=100")
    result = train_sft(recipe, dataset, tmp_path)
    assert result.metrics["global_step"] == 1
    assert (tmp_path / "checkpoint-1").is_dir() and (result.checkpoint / "model.safetensors").is_file()

