"""SFT and GRPO of a tiny model on a small real ShopWorld dataset (2 steps each), on CPU."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from train_helpers import scripted_rollout, tiny_dataset, tiny_recipe  # noqa: E402

from shopr1.modeling import CheckpointError, load_model, load_tokenizer  # noqa: E402
from shopr1.rewards.registry import SETTINGS  # noqa: E402
from shopr1.self_certainty import token_self_certainty  # noqa: E402
from shopr1.train.common import TrainingError, check_finite_loss, last_checkpoint  # noqa: E402
from shopr1.train.data import IGNORE, tokenize_session  # noqa: E402
from shopr1.train.grpo import train_grpo  # noqa: E402
from shopr1.train.sft import train_sft  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.getbasetemp() / "train-data")


@pytest.fixture(scope="module")
def sft_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft")
    return out, train_sft(tiny_recipe(), dataset, out)


def _weights(folder):
    model = load_model(folder)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before, after):
    return [k for k in before if not torch.equal(before[k], after[k])]


def _history(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sft_two_steps_changes_the_weights_and_logs_the_loss(sft_run):
    out, result = sft_run
    assert result.metrics["global_step"] == 2
    assert _changed(_weights(out / "base"), _weights(result.checkpoint))
    rows = _history(result.history_path)
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
    assert result.metrics["sft/examples"] > 0
    assert 0 <= result.metrics["sft/dropped_too_long_share"] < 1
    assert (out / "checkpoint-2" / "trainer_state.json").is_file()
    assert last_checkpoint(out) == out / "checkpoint-2"


def test_sft_loss_covers_the_assistant_replies_and_skips_stubbed_turns(sft_run):
    out, _ = sft_run
    tokenizer = load_tokenizer(out / "base")
    messages = [
        {"role": "system", "content": "Be a shopper."},
        {"role": "user", "content": "Page 1:\n<a name='x'>X</a>"},
        {"role": "assistant", "content": '{"rationale": "I click.", "action": {"type": "click", "name": "x"}}'},
        {"role": "user", "content": "Page 2:\n<p>done</p>"},
        {"role": "assistant", "content": '{"rationale": "I leave.", "action": {"type": "terminate"}}'},
    ]
    example = tokenize_session(tokenizer, messages)
    trained = tokenizer.decode([t for t, lab in zip(example.input_ids, example.labels) if lab != IGNORE])
    assert trained == messages[2]["content"] + "<|im_end|>" + messages[4]["content"] + "<|im_end|>"
    assert tokenizer.decode(example.input_ids) == tokenizer.apply_chat_template(messages, tokenize=False)
    stubbed = tokenize_session(tokenizer, messages, [True, False])
    kept = tokenizer.decode([t for t, lab in zip(stubbed.input_ids, stubbed.labels) if lab != IGNORE])
    assert kept == messages[4]["content"] + "<|im_end|>"


def test_grpo_two_steps_logs_every_reward_component_and_self_certainty(dataset, sft_run, tmp_path):
    _, sft = sft_run
    result = train_grpo(tiny_recipe(), dataset, tmp_path, init_checkpoint=sft.checkpoint)
    assert result.metrics["global_step"] == 2
    rows = [r for r in _history(result.history_path) if "loss" in r]
    assert len(rows) == 2
    for name in SETTINGS["shop_r1"][0]:
        assert all(f"rewards/{name}/mean" in r for r in rows), name
    assert all("self_certainty/mean" in r and "kl" in r for r in rows)
    assert (result.checkpoint / "model.safetensors").is_file()


def direct_self_certainty(model, prompt, completion, mask):
    """Full logits of one unpadded sequence, the rows that predict the completion, masked mean."""
    ids = torch.tensor([list(prompt) + list(completion)])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    predicting = logits[len(prompt) - 1 : len(prompt) - 1 + len(completion)]
    per_token = token_self_certainty(predicting)
    keep = torch.tensor(mask, dtype=torch.bool)
    return float(per_token[keep].mean())


def test_grpo_learns_from_rewards_and_self_certainty_is_the_policys_own(dataset, sft_run, tmp_path, monkeypatch):
    _, sft = sft_run
    import shopr1.train.grpo as grpo_module

    scorers, build = [], grpo_module.build_rewards

    def keep_scorer(recipe):
        rewards, scorer = build(recipe)
        scorers.append(scorer)
        return rewards, scorer

    monkeypatch.setattr(grpo_module, "build_rewards", keep_scorer)
    recipe = tiny_recipe("grpo.learning_rate=1e-2")
    result = train_grpo(recipe, dataset, tmp_path, init_checkpoint=sft.checkpoint, rollout_func=scripted_rollout)
    assert _changed(_weights(sft.checkpoint), _weights(result.checkpoint))
    rows = [r for r in _history(result.history_path) if "loss" in r]
    assert any(r["rewards/format_reward/mean"] > 0 for r in rows)
    assert any(r["rewards/self_certainty_reward/mean"] != 0 for r in rows)

    # The first batch was scored before any update: by the SFT checkpoint's weights.
    first = scorers[0].first
    assert first["step"] == 0
    model = load_model(sft.checkpoint).eval()
    tokenizer = load_tokenizer(sft.checkpoint)
    scored = 0
    for prompt, completion, mask, online in zip(
        first["prompt_ids"], first["completion_ids"], first["masks"], first["scores"], strict=True
    ):
        text = tokenizer.decode(completion, skip_special_tokens=True)
        if text == "terminate":
            assert online is None and not any(mask)  # no rationale, nothing scored
            continue
        rationale = json.loads(text)["rationale"]
        masked = tokenizer.decode([t for t, m in zip(completion, mask) if m])
        assert rationale in masked and len(masked) <= len(rationale) + 4  # boundary tokens may carry `",`
        assert online == pytest.approx(direct_self_certainty(model, prompt, completion, mask), abs=1e-4)
        scored += 1
    assert scored >= 2


def test_a_missing_or_incomplete_checkpoint_is_named(dataset, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(CheckpointError, match="nowhere does not exist"):
        train_grpo(tiny_recipe(), dataset, tmp_path / "out", init_checkpoint=missing)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"broken is incomplete: missing \*\.safetensors"):
        train_grpo(tiny_recipe(), dataset, tmp_path / "out", init_checkpoint=broken)


def test_a_nan_loss_names_the_recipe_key():
    with pytest.raises(TrainingError, match="lower sft.learning_rate"):
        check_finite_loss("sft", {"loss": float("nan")}, step=7)
    check_finite_loss("grpo", {"loss": 0.25}, step=1)


def test_data_without_examples_is_named(tmp_path):
    with pytest.raises(TrainingError, match="no SFT examples in"):
        train_sft(tiny_recipe(), tmp_path, tmp_path / "out")
