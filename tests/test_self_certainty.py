"""Self-certainty (SPEC §2): KL(U‖p) per token, averaged over the rationale's tokens."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shopr1.self_certainty import (
    rationale_mask_from_ids,
    rationale_span,
    rationale_token_mask,
    self_certainty,
    token_offsets,
    token_self_certainty,
)


def kl_uniform_to_p(logits: torch.Tensor) -> torch.Tensor:
    """KL(U‖p) = Σ_v (1/V)·(log(1/V) − log p_v), straight from the definition, in float64."""
    log_p = torch.log_softmax(logits.double(), dim=-1)
    vocab = logits.shape[-1]
    return ((math.log(1.0 / vocab) - log_p) / vocab).sum(-1)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("scale", [0.1, 3.0, 50.0])
def test_token_self_certainty_is_kl_from_uniform(seed, scale):
    logits = torch.randn(2, 7, 101, generator=torch.Generator().manual_seed(seed)) * scale
    got = token_self_certainty(logits)
    assert got.dtype == torch.float32 and got.shape == (2, 7)
    assert torch.allclose(got.double(), kl_uniform_to_p(logits), rtol=1e-4, atol=1e-4)
    assert (got >= -1e-5).all()
    assert torch.allclose(token_self_certainty(logits + 123.0), got, atol=1e-3)  # shift-invariant


def test_uniform_is_zero_and_sharper_is_larger():
    flat = torch.zeros(1, 1, 50)
    peaked = flat.clone()
    peaked[..., 0] = 5.0
    sharper = flat.clone()
    sharper[..., 0] = 10.0
    values = [token_self_certainty(x).item() for x in (flat, peaked, sharper)]
    assert values[0] == pytest.approx(0.0, abs=1e-6) and values[0] < values[1] < values[2]


def test_extreme_and_half_precision_logits_stay_finite():
    logits = torch.randn(2, 5, 1000) * 1e4
    assert torch.isfinite(token_self_certainty(logits)).all()
    half = torch.randn(2, 5, 1000).to(torch.bfloat16)
    got = self_certainty(half, torch.ones(2, 5, dtype=torch.bool))
    assert got.dtype == torch.float32
    assert torch.allclose(got, self_certainty(half.float(), torch.ones(2, 5)), atol=1e-5)


def test_self_certainty_averages_over_masked_tokens_only():
    logits = torch.randn(3, 6, 40, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor(
        [[0, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], dtype=torch.bool
    )
    per_token = kl_uniform_to_p(logits)
    got = self_certainty(logits, mask)
    assert got[0].item() == pytest.approx(per_token[0, 1:3].mean().item(), rel=1e-4)
    assert got[1].item() == pytest.approx(per_token[1].mean().item(), rel=1e-4)
    assert got[2].item() == 0.0  # no rationale tokens: no signal


@pytest.mark.parametrize("chunk_size", [1, 2, 5, 100])
def test_chunked_equals_unchunked(chunk_size):
    logits = torch.randn(2, 9, 33, generator=torch.Generator().manual_seed(1))
    mask = torch.rand(2, 9, generator=torch.Generator().manual_seed(2)) > 0.3
    assert torch.allclose(self_certainty(logits, mask, chunk_size), self_certainty(logits, mask))


def test_shape_mismatch_and_empty_completions():
    with pytest.raises(ValueError, match="disagree"):
        self_certainty(torch.zeros(2, 3, 5), torch.ones(2, 4))
    assert self_certainty(torch.zeros(2, 0, 5), torch.ones(2, 0)).tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("text", "rationale"),
    [
        ('{"rationale": "I like it.", "action": {"type": "terminate"}}', "I like it."),
        (
            '{ "action" : {"type": "terminate"} ,\n "rationale" :"Done, \\"bye\\"." }',
            'Done, \\"bye\\".',
        ),
        ('{"rationale": "Caf\\u00e9 time", "action": {"type": "terminate"}}', "Caf\\u00e9 time"),
        (
            'Sure:\n```json\n{"rationale": "Prose around.", "action": {"type": "terminate"}}\n```',
            "Prose around.",
        ),
        ('{"x": 1} {"rationale": "Second object.", "action": {}}', "Second object."),
        ('{"rationale": "", "action": {"type": "terminate"}}', ""),
    ],
)
def test_rationale_span_finds_the_string_content(text, rationale):
    start, end = rationale_span(text)
    assert text[start:end] == rationale


@pytest.mark.parametrize(
    "text",
    [
        '{"action": {"type": "terminate", "rationale": "nested, not top-level"}}',
        '{"rationale": 3, "action": {"type": "terminate"}}',
        '{"rationale": "no action"}',
        '{"rationale": "unterminated, "action": {"type": "terminate"}}',
        "no json at all",
        "",
    ],
)
def test_no_rationale_span_without_a_top_level_rationale_and_action(text):
    assert rationale_span(text) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.booleans())
def test_rationale_span_round_trips_any_rationale(rationale, ascii_only):
    text = json.dumps(
        {"rationale": rationale, "action": {"type": "terminate"}}, ensure_ascii=ascii_only
    )
    start, end = rationale_span(text)
    assert json.loads(f'"{text[start:end]}"') == rationale


def test_token_mask_marks_tokens_overlapping_the_rationale():
    text = '{"rationale": "Go.", "action": {"type": "terminate"}}'
    start = text.index("Go.")
    offsets = [
        (0, start - 1),
        (start - 1, start + 1),
        (start + 1, start + 3),
        (start + 3, len(text)),
        (5, 5),
    ]
    assert rationale_token_mask(text, offsets) == [False, True, True, False, False]
    assert rationale_token_mask("not json", offsets) == [False] * 5


@pytest.fixture(scope="module")
def byte_level_tokenizer():
    """A byte-level BPE trained in well under a second; multi-byte characters span tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [
        json.dumps(
            {"rationale": "I want these shoes.", "action": {"type": "click", "name": "p.buy"}}
        )
    ] * 20
    tokenizer.train_from_iterator(corpus, trainer)
    return tokenizer


@pytest.mark.parametrize(
    "rationale", ["I want these shoes.", 'Café ☕ crème — 好的, "quoted"!', ""]
)
def test_mask_from_generated_ids_covers_exactly_the_rationale(byte_level_tokenizer, rationale):
    text = json.dumps({"rationale": rationale, "action": {"type": "terminate"}}, ensure_ascii=False)
    ids = byte_level_tokenizer.encode(text).ids + [byte_level_tokenizer.token_to_id("<eos>")]
    decoded, offsets = token_offsets(byte_level_tokenizer, ids)
    assert decoded == text and len(offsets) == len(ids)
    mask = rationale_mask_from_ids(byte_level_tokenizer, ids)
    covered = {i for (s, e), m in zip(offsets, mask, strict=True) if m for i in range(s, e)}
    start, end = rationale_span(decoded)
    assert set(range(start, end)) <= covered  # every rationale character is in a masked token
    assert covered <= set(range(start - 3, end + 3))  # plus what a boundary token shares
    inside = [m for (s, e), m in zip(offsets, mask, strict=True) if start <= s < e <= end]
    assert all(inside)  # byte pieces of a multi-byte character count too
    assert not mask[-1]  # the end-of-sequence token is not part of the rationale
