"""Every packaged recipe loads; a wrong key or value is one message naming file, key and what is allowed."""

from __future__ import annotations

import json

import pytest
import yaml

from shopr1.recipes import RECIPES_DIR, RecipeError, load_recipe, recipe_names
from shopr1.train.common import DEEPSPEED_DIR, deepspeed_config


@pytest.mark.parametrize("name", recipe_names())
def test_every_packaged_recipe_loads_and_starts_with_its_launch_command(name):
    recipe = load_recipe(name)
    assert recipe.name == name
    text = (RECIPES_DIR / f"{name}.yaml").read_text()
    assert text.startswith("# Launch")
    assert "shopr1 train sft" in text or "-m shopr1.train sft" in text
    assert recipe.build_config().max_context_tokens == recipe.data.max_context_tokens


def test_the_three_scales_are_packaged():
    assert {"tiny-cpu", "smollm2-cpu", "qwen2.5-3b"} <= set(recipe_names())


def test_qwen_recipe_carries_the_papers_settings():
    r = load_recipe("qwen2.5-3b")
    assert (r.sft.epochs, r.sft.learning_rate) == (4, 2e-5)
    g = r.grpo
    assert (g.max_steps, g.learning_rate, g.temperature, g.beta) == (500, 1e-7, 0.6, 0.001)
    assert (g.rewards.alpha, g.rewards.dars) == (0.005, 1000)
    assert g.per_device_batch_size * 8 * g.gradient_accumulation_steps == 64  # global batch on 8 GPUs
    assert r.data.max_context_tokens == 32768
    assert r.runtime.bf16 and r.runtime.deepspeed in ("zero2", "zero3") and g.use_vllm
    assert r.model.kind == "hf" and r.model.name_or_path == "Qwen/Qwen2.5-3B-Instruct"


@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_deepspeed_and_accelerate_configs_parse(stage):
    config = json.loads(open(deepspeed_config(stage)).read())
    assert config["zero_optimization"]["stage"] == int(stage[-1])
    launch = yaml.safe_load((DEEPSPEED_DIR / f"accelerate-{stage}.yaml").read_text())
    assert launch["distributed_type"] == "DEEPSPEED"
    assert launch["deepspeed_config"]["deepspeed_config_file"] == f"{stage}.json"


def test_overrides_reach_the_right_setting():
    r = load_recipe("tiny-cpu", ["sft.max_minutes=2", "grpo.rewards.alpha=0", "grpo.reward_setting=no_dars",
                                 "grpo.max_steps=10", "shopworld.results_per_page=2"])
    assert (r.sft.max_minutes, r.grpo.rewards.alpha, r.grpo.reward_setting, r.grpo.max_steps) == (2, 0, "no_dars", 10)
    assert r.shopworld.results_per_page == 2


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["sft.learnng_rate=1"], r"sft\.learnng_rate: unknown key; allowed keys here: learning_rate, "),
        (["grpo.rewards.alpah=0"], r"grpo\.rewards\.alpah: unknown key; allowed keys here: alpha, "),
        (["grpo.loss_type=ppo"], r"grpo\.loss_type: Input should be 'grpo', 'dr_grpo', 'dapo'"),
        (["grpo.reward_setting=magic"], r"grpo\.reward_setting: .*allowed: shop_r1, binary"),
        (["sft.learning_rate=-1"], r"sft\.learning_rate: Input should be greater than 0"),
        (["grpo.num_generations=3"], r"not divisible by grpo\.num_generations \(3\)"),
        (["model.kind=hf"], r"model\.name_or_path"),
        (["nonsense"], r"not of the form section\.key=value"),
    ],
)
def test_a_wrong_key_or_value_names_the_file_the_key_and_what_is_allowed(sets, expected):
    with pytest.raises(RecipeError, match=expected) as info:
        load_recipe("tiny-cpu", sets)
    assert "tiny-cpu.yaml" in str(info.value)


def test_a_recipe_file_by_path_and_unknown_names(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("sft:\n  learning_rate: 1.0e-4\n")
    assert load_recipe(str(path)).name == "mine"
    with pytest.raises(RecipeError, match="unknown recipe 'nope'; packaged recipes: .*tiny-cpu"):
        load_recipe("nope")
    path.write_text("sft: [1, 2\n")
    with pytest.raises(RecipeError, match="mine.yaml is not valid YAML"):
        load_recipe(str(path))
    path.write_text("epochs: 3\n")
    with pytest.raises(RecipeError, match=r"mine.yaml: epochs: unknown key; allowed keys here: name, description, shopworld"):
        load_recipe(str(path))


def test_loading_a_recipe_imports_no_training_library():
    import subprocess
    import sys

    code = "import sys; from shopr1.recipes import load_recipe; load_recipe('qwen2.5-3b'); " \
           "print(sorted(m for m in ('torch', 'trl', 'transformers', 'mlflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
