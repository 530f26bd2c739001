"""A small real dataset for the training tests, built once per test process with the library itself."""

from __future__ import annotations

import functools
from pathlib import Path

SESSIONS = 30


@functools.cache
def tiny_dataset(root: Path) -> Path:
    """ShopWorld sessions → contract → heuristic rationales → SFT/RL examples (as `shopr1 run` does)."""
    from shopr1.data.build import BuildConfig, build_dataset
    from shopr1.rationales import make_backend, synthesize_file
    from shopr1.shopworld import ShopWorldConfig, write_shopworld

    raw, validated, dataset = root / "shopworld", root / "validated", root / "dataset"
    write_shopworld(raw, sessions=SESSIONS, seed=0, config=ShopWorldConfig())
    build_dataset([raw / "sessions.jsonl"], validated, BuildConfig(seed=0, examples=False))
    with_rationales = validated / "sessions.rationales.jsonl"
    synthesize_file(validated / "sessions.accepted.jsonl", with_rationales, make_backend("heuristic"))
    build_dataset([with_rationales], dataset, BuildConfig(seed=0, max_context_tokens=2048), policy=raw / "policy.jsonl")
    return dataset


def tiny_recipe(*sets: str):
    """tiny-cpu shrunk to test size (a 2-layer hidden-32 model, 2 steps)."""
    from shopr1.recipes import load_recipe

    small = [
        "model.hidden_size=32", "model.layers=1", "model.heads=2", "model.vocab_size=1000",
        "model.max_position_embeddings=4096", "sft.max_steps=2", "sft.save_steps=1", "sft.max_minutes=null",
        "grpo.max_steps=2", "grpo.save_steps=1", "grpo.max_minutes=null", "grpo.num_generations=4",
        "grpo.per_device_batch_size=4", "grpo.gradient_accumulation_steps=1", "grpo.max_completion_length=24",
    ]
    return load_recipe("tiny-cpu", [*small, *sets])


ANSWERS = [
    '{"rationale": "I want to see what else they have.", "action": {"type": "terminate"}}',
    '{"rationale": "This one looks right for me.", "action": {"type": "click", "name": "product.buy_now"}}',
    '{"rationale": "I search for it.", "action": {"type": "type_and_submit", "name": "search_input", "text": "red shoes"}}',
    "terminate",
]


def scripted_rollout(prompts, trainer):
    """Fixed answers instead of sampling: a random tiny model never writes valid JSON, so every
    sampled completion would earn 0 and GRPO would have no advantage to follow."""
    tokenizer = trainer.processing_class
    prompt_ids, completion_ids = [], []
    for i, prompt in enumerate(prompts):
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        prompt_ids.append(tokenizer(text, add_special_tokens=False)["input_ids"])
        answer = ANSWERS[i % len(ANSWERS)] + tokenizer.eos_token
        completion_ids.append(tokenizer(answer, add_special_tokens=False)["input_ids"])
    return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None}
