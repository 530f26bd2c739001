"""SFT and GRPO under DeepSpeed ZeRO-2 with one CPU process: a smoke test of the multi-GPU path."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("deepspeed")

from train_helpers import tiny_dataset, tiny_recipe  # noqa: E402

from shopr1.rewards.registry import SETTINGS  # noqa: E402
from shopr1.train.grpo import train_grpo  # noqa: E402
from shopr1.train.sft import train_sft  # noqa: E402

pytestmark = pytest.mark.slow  # DeepSpeed compiles its CPU communication op on first use


def test_sft_then_grpo_under_zero2(tmp_path_factory, tmp_path):
    dataset = tiny_dataset(tmp_path_factory.getbasetemp() / "train-data")
    recipe = tiny_recipe("runtime.deepspeed=zero2")
    sft = train_sft(recipe, dataset, tmp_path / "sft")
    assert sft.metrics["global_step"] == 2 and (sft.checkpoint / "model.safetensors").is_file()
    grpo = train_grpo(recipe, dataset, tmp_path / "grpo", init_checkpoint=sft.checkpoint)
    assert grpo.metrics["global_step"] == 2
    rows = [json.loads(line) for line in grpo.history_path.read_text().splitlines()]
    logged = set().union(*rows)
    assert {f"rewards/{name}/mean" for name in SETTINGS["shop_r1"][0]} | {"self_certainty/mean"} <= logged
    assert list((tmp_path / "grpo" / "checkpoint-2").glob("global_step*"))  # DeepSpeed's own state
