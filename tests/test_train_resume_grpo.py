"""A killed GRPO run resumes from its last checkpoint and ends where an uninterrupted one ends."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

from test_train_resume import TOLERANCE, KillAt, Killed  # noqa: E402
from train_helpers import scripted_rollout, tiny_dataset, tiny_recipe  # noqa: E402

from shopr1.modeling import load_model  # noqa: E402
from shopr1.train.grpo import train_grpo  # noqa: E402
from shopr1.train.sft import train_sft  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.getbasetemp() / "train-data")


def test_a_killed_grpo_run_resumes_and_ends_where_an_uninterrupted_run_ends(dataset, tmp_path):
    start = train_sft(tiny_recipe(), dataset, tmp_path / "sft").checkpoint
    recipe = tiny_recipe("grpo.max_steps=3", "grpo.save_steps=1", "grpo.save_total_limit=null", "grpo.learning_rate=1e-2")
    straight = train_grpo(recipe, dataset, tmp_path / "straight", init_checkpoint=start, rollout_func=scripted_rollout)
    interrupted = tmp_path / "interrupted"
    with pytest.raises(Killed):
        train_grpo(recipe, dataset, interrupted, init_checkpoint=start, rollout_func=scripted_rollout,
                   callbacks=[KillAt(2)])
    resumed = train_grpo(recipe, dataset, interrupted, init_checkpoint=start, rollout_func=scripted_rollout)
    assert resumed.metrics["grpo/resumed_from_step"] == 1  # the kill at step 2 came before its save
    assert resumed.metrics["global_step"] == straight.metrics["global_step"] == 3
    a, b = load_model(straight.checkpoint).state_dict(), load_model(resumed.checkpoint).state_dict()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= TOLERANCE
