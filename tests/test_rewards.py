"""Rewards (SPEC §2): every cell of the reward table, the worked example, the gate, the switches.

Calls use the shapes TRL 1.16 passes: conversational completions, dataset columns repeated per
completion (`gold_action` as a JSON string, `session_id`), plus `trainer_state`, `log_extra`,
`log_metric`.
"""

from __future__ import annotations

import json
import pickle
import runpy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopr1.matching import as_gold_action, exact_match
from shopr1.rewards import (
    REWARDS,
    SETTINGS,
    SHOP_R1,
    RewardParams,
    SelfCertaintyReward,
    build_rewards,
    read_completion,
    rewards_for_setting,
)
from shopr1.schema import parse_prediction

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ("format_reward", "action_type_reward", "attribute_reward", "value_reward")


def answer(action: dict, rationale: str = "I want to check this one.") -> str:
    return json.dumps({"rationale": rationale, "action": action})


def as_message(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def call(reward, completions, golds, **extra):
    """One TRL-shaped call: `completions` are texts, sent in the conversational shape."""
    return reward(
        prompts=[[{"role": "user", "content": "Page 1: ..."}]] * len(completions),
        completions=[as_message(c) for c in completions],
        completion_ids=[[1, 2, 3]] * len(completions),
        gold_action=[json.dumps(g) for g in golds],
        session_id=["s1"] * len(completions),
        trainer_state=None,
        log_extra=lambda *a, **k: None,
        log_metric=lambda *a, **k: None,
        **extra,
    )


def components(
    completion: str, gold: dict, setting: str = "no_rationale", **params
) -> dict[str, float]:
    rewards = rewards_for_setting(setting, RewardParams(**params))
    return {r.__name__: call(r, [completion], [gold], self_certainty=[4.0])[0] for r in rewards}


BUY_NOW = {"type": "click", "name": "add_to_cart.buy_now"}
SEARCH = {"type": "type_and_submit", "name": "search_input", "text": "red running shoes for men"}
TERMINATE = {"type": "terminate"}

# (gold, predicted action, format, type, attribute, value) — SPEC §2's table cell by cell.
TABLE = [
    # terminate: format + type, nothing else: at most 0.8
    (TERMINATE, TERMINATE, 0.5, 0.3, 0.0, 0.0),
    (TERMINATE, {"type": "terminate", "name": "x", "text": "y"}, 0.5, 0.3, 0.0, 0.0),
    # click: presence of a name, then DARS · sim(name)
    (BUY_NOW, BUY_NOW, 0.5, 0.3, 0.2, 1000.0),
    (BUY_NOW, {"type": "click", "name": "ADD_TO_CART.buy-now"}, 0.5, 0.3, 0.2, 1000.0),
    (
        BUY_NOW,
        {"type": "click", "name": "add_to_cart.buy_now_button"},
        0.5,
        0.3,
        0.2,
        1000.0 * 10 / 11,
    ),
    (
        BUY_NOW,
        {"type": "click", "name": "add_to_cart.checkout"},
        0.5,
        0.3,
        0.2,
        0.0,
    ),  # sim 0.67 < τ
    (BUY_NOW, {"type": "click", "name": ""}, 0.5, 0.3, 0.0, 0.0),
    (BUY_NOW, {"type": "click", "name": "   "}, 0.5, 0.3, 0.0, 0.0),
    (BUY_NOW, {"type": "click"}, 0.5, 0.3, 0.0, 0.0),
    # type_and_submit: presence of name and text, then 0.1 · sim(name) + DARS · sim(text)
    (SEARCH, SEARCH, 0.5, 0.3, 0.2, 0.1 + 1000.0),
    (SEARCH, {**SEARCH, "text": "Running shoes for men, red"}, 0.5, 0.3, 0.2, 0.1 + 800.0),
    (SEARCH, {**SEARCH, "text": "running shoes"}, 0.5, 0.3, 0.2, 0.1),  # sim 0.57 < τ
    (SEARCH, {**SEARCH, "name": "search_box"}, 0.5, 0.3, 0.2, 1000.0),  # sim(name) 0.5 < τ
    (SEARCH, {"type": "type_and_submit", "name": "search_input"}, 0.5, 0.3, 0.1, 0.1),
    (SEARCH, {"type": "type_and_submit", "text": SEARCH["text"]}, 0.5, 0.3, 0.1, 1000.0),
    (SEARCH, {"type": "type_and_submit", "name": "", "text": ""}, 0.5, 0.3, 0.0, 0.0),
    # gating: a wrong type earns format only, however good its details
    (BUY_NOW, TERMINATE, 0.5, 0.0, 0.0, 0.0),
    (TERMINATE, BUY_NOW, 0.5, 0.0, 0.0, 0.0),
    (
        BUY_NOW,
        {"type": "type_and_submit", "name": "add_to_cart.buy_now", "text": "x"},
        0.5,
        0.0,
        0.0,
        0.0,
    ),
    (SEARCH, {"type": "click", "name": "search_input"}, 0.5, 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize(("gold", "predicted", "fmt", "typ", "attribute", "value"), TABLE)
def test_reward_table(gold, predicted, fmt, typ, attribute, value):
    got = components(answer(predicted), gold)
    assert got == pytest.approx(
        {
            "format_reward": fmt,
            "action_type_reward": typ,
            "attribute_reward": attribute,
            "value_reward": value,
        }
    )


def test_worked_example_of_spec_2():
    """Gold click add_to_cart.buy_now, predicted click refinements.customer_reviews: 1.0 + α·s."""
    completion = answer({"type": "click", "name": "refinements.customer_reviews"})
    rewards = rewards_for_setting("shop_r1")
    got = {r.__name__: call(r, [completion], [BUY_NOW], self_certainty=[4.0])[0] for r in rewards}
    assert got == pytest.approx(
        {
            "format_reward": 0.5,
            "action_type_reward": 0.3,
            "attribute_reward": 0.2,
            "value_reward": 0.0,
            "self_certainty_reward": 0.005 * 4.0,
        }
    )
    assert sum(got.values()) - got["self_certainty_reward"] == pytest.approx(1.0)


def test_terminate_earns_at_most_0_8_and_a_perfect_click_about_1001():
    best_terminate = sum(components(answer(TERMINATE), TERMINATE).values())
    perfect_click = sum(components(answer(BUY_NOW), BUY_NOW).values())
    wrong_click = sum(
        components(answer({"type": "click", "name": "pagination.next"}), BUY_NOW).values()
    )
    assert best_terminate == pytest.approx(0.8)
    assert perfect_click == pytest.approx(1001.0)
    assert wrong_click == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("completion", "parses"),
    [
        ("```json\n" + answer(BUY_NOW) + "\n```", True),  # fenced
        ("Sure! " + answer(BUY_NOW), True),  # prose around it
        (json.dumps({"rationale": "x", "action": BUY_NOW, "confidence": 1}), True),  # an extra key
        (json.dumps({"action": BUY_NOW}), True),  # no rationale
        (json.dumps({"rationale": 3, "action": BUY_NOW}), False),
        ('{"rationale": "x", "action": {"type": "click", "name": "add_to_cart.buy_now"}', False),
    ],
)
def test_format_failure_zeroes_every_component_and_no_format_needs_only_a_parse(completion, parses):
    assert components(completion, BUY_NOW, "shop_r1") == dict.fromkeys(SHOP_R1, 0.0)
    lenient = components(completion, BUY_NOW, "no_format", alpha=0.0)
    expected = [0.3, 0.2, 1000.0] if parses else [0.0, 0.0, 0.0]
    assert [lenient[name] for name in COMPONENTS[1:]] == pytest.approx(expected)


def test_no_dars_scales_the_value_term_to_one():
    got = components(answer(SEARCH), SEARCH, "no_dars", alpha=0.0)
    assert got["value_reward"] == pytest.approx(1.1)
    assert sum(got.values()) == pytest.approx(2.1)


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        (BUY_NOW, BUY_NOW, 1.0),
        (
            {"type": "click", "name": "add_to_cart.buy_now_button"},
            BUY_NOW,
            0.0,
        ),  # sim ≥ τ is not exact
        ({**SEARCH, "text": "Running shoes for men, red"}, SEARCH, 1.0),
        (TERMINATE, TERMINATE, 1.0),
        (TERMINATE, BUY_NOW, 0.0),
    ],
)
def test_binary_reward_is_exact_match(predicted, gold, expected):
    (binary,) = rewards_for_setting("binary")
    assert call(binary, [answer(predicted)], [gold]) == [expected]


# Name similarity (SPEC §2 `name_similarity`): (gold, predicted, value reward per setting).
SIBLING_GOLD = {"type": "click", "name": "search_results.aquarius-everyday-5-glass-500ml.title"}
SEARCH_BOX = {"type": "type_and_submit", "name": "search_input", "text": "glass water bottle"}
NAME_TABLE = [
    (SIBLING_GOLD, SIBLING_GOLD, {"rougeL": 1000.0, "item": 1000.0, "exact": 1000.0}),
    (  # the sibling: 751 of 1,001 with the paper's ROUGE-L
        SIBLING_GOLD,
        {"type": "click", "name": "search_results.aquarius-peak-2-glass-500ml.title"},
        {"rougeL": 750.0, "item": 0.0, "exact": 0.0},
    ),
    (  # the right product's other control
        SIBLING_GOLD,
        {"type": "click", "name": "search_results.aquarius-everyday-5-glass-500ml.image"},
        {"rougeL": 1000.0 * 14 / 16, "item": 0.0, "exact": 0.0},
    ),
    (  # a wrong separator, a wrong case: the same tokens
        SIBLING_GOLD,
        {"type": "click", "name": "search_results.aquarius_everyday_5_glass_500ml.title"},
        {"rougeL": 1000.0, "item": 1000.0, "exact": 0.0},
    ),
    (
        SIBLING_GOLD,
        {"type": "click", "name": "search_results.Aquarius-Everyday-5-Glass-500ml.title"},
        {"rougeL": 1000.0, "item": 1000.0, "exact": 0.0},
    ),
    (  # a truncated slug of the right product
        SIBLING_GOLD,
        {"type": "click", "name": "search_results.aquarius-everyday-5-glass.title"},
        {"rougeL": 1000.0 * 14 / 15, "item": 1000.0 * 8 / 9, "exact": 0.0},
    ),
    (
        BUY_NOW,
        {"type": "click", "name": "add_to_cart.buy_now_button"},
        {"rougeL": 1000.0 * 10 / 11, "item": 1000.0 * 4 / 5, "exact": 0.0},
    ),
    (  # type_and_submit: 0.1 · sim(name) follows the setting too; the text does not
        SEARCH_BOX,
        {**SEARCH_BOX, "name": "Search-Input"},
        {"rougeL": 1000.1, "item": 1000.1, "exact": 1000.0},
    ),
]


@pytest.mark.parametrize("shape", ["messages", "string"])
@pytest.mark.parametrize(("gold", "predicted", "values"), NAME_TABLE)
def test_name_similarity_setting(gold, predicted, values, shape):
    completion = answer(predicted)
    for kind, value in values.items():
        rewards = rewards_for_setting("no_rationale", RewardParams(name_similarity=kind))
        got = {
            r.__name__: r(
                prompts=[[{"role": "user", "content": "Page 1: ..."}]],
                completions=[as_message(completion) if shape == "messages" else completion],
                completion_ids=[[1, 2, 3]],
                gold_action=[json.dumps(gold)],
                trainer_state=None,
            )[0]
            for r in rewards
        }
        assert got == pytest.approx(
            {
                "format_reward": 0.5,
                "action_type_reward": 0.3,
                "attribute_reward": 0.2,
                "value_reward": value,
            }
        ), kind


def test_the_binary_reward_and_metric_keep_exact_names_under_every_name_similarity():
    sibling = answer({"type": "click", "name": SIBLING_GOLD["name"].upper()})
    for kind in ("rougeL", "item", "exact"):
        (binary,) = rewards_for_setting("binary", RewardParams(name_similarity=kind))
        assert call(binary, [sibling, answer(SIBLING_GOLD)], [SIBLING_GOLD] * 2) == [0.0, 1.0]


def test_unknown_name_similarity_is_a_clear_error():
    with pytest.raises(ValueError, match="name_similarity"):
        RewardParams(name_similarity="fuzzy")
    assert RewardParams().name_similarity == "rougeL"  # the paper's


def test_plain_string_completions_and_dict_gold_work_too():
    reward = build_rewards(["value_reward"])[0]
    assert reward(prompts=["p"], completions=[answer(BUY_NOW)], gold_action=[BUY_NOW]) == [1000.0]


def test_self_certainty_reward_reads_a_column_or_the_trainers_hook():
    reward = SelfCertaintyReward(RewardParams(alpha=0.5))
    good, bad = answer(TERMINATE), "not json"
    assert call(reward, [good, bad, good], [TERMINATE] * 3, self_certainty=[2.0, 2.0, None]) == [
        1.0,
        0.0,
        0.0,
    ]
    reward.scorer = lambda prompts, completions, completion_ids: [3.0] * len(completions)
    assert call(reward, [good, bad], [TERMINATE] * 2) == [1.5, 0.0]


def test_self_certainty_reward_without_scores_is_a_clear_error_unless_alpha_is_zero():
    with pytest.raises(RuntimeError, match="self_certainty"):
        call(SelfCertaintyReward(), [answer(TERMINATE)], [TERMINATE])
    disabled = SelfCertaintyReward(RewardParams(alpha=0.0))
    assert call(disabled, [answer(TERMINATE)], [TERMINATE]) == [0.0]


def test_registry_names_are_the_logged_metric_names_and_rewards_pickle():
    rewards = build_rewards(list(REWARDS))
    assert [r.__name__ for r in rewards] == list(REWARDS)
    restored = pickle.loads(pickle.dumps(rewards))
    assert [call(r, [answer(BUY_NOW)], [BUY_NOW], self_certainty=[1.0]) for r in restored] == [
        [0.5],
        [0.3],
        [0.2],
        [1000.0],
        [0.005],
        [1.0],
    ]


def test_unknown_reward_name_is_reported_with_the_known_ones():
    with pytest.raises(
        ValueError, match="unknown reward 'accuracy'.*format_reward.*binary_exact_reward"
    ):
        build_rewards(["format_reward", "accuracy"])
    with pytest.raises(ValueError, match="twice"):
        build_rewards(["value_reward", "value_reward"])
    with pytest.raises(ValueError, match="known settings"):
        rewards_for_setting("shop-r2")


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_setting_builds(setting):
    names, overrides = SETTINGS[setting]
    rewards = rewards_for_setting(setting)
    assert [r.__name__ for r in rewards] == list(names)
    assert all(r.strict_format == ("format_reward" in names) for r in rewards)
    assert all(getattr(r.params, key) == value for r in rewards for key, value in overrides.items())


def test_missing_gold_column_is_a_clear_error():
    (reward,) = build_rewards(["action_type_reward"])
    with pytest.raises(ValueError, match="gold_action"):
        reward(prompts=["p"], completions=["x"])


# Property tests: any string, and near-miss JSON that exercises the parser's corners.
names = st.one_of(
    st.none(), st.text(max_size=30), st.sampled_from(["add_to_cart.buy_now", "search_input", ""])
)
actions = st.fixed_dictionaries(
    {"type": st.sampled_from(["click", "type_and_submit", "terminate"] * 3 + ["fly", 3, None])},
    optional={"name": names, "text": names, "extra": st.integers()},
)
json_like = st.one_of(
    st.builds(
        lambda a, r: json.dumps({"rationale": r, "action": a}),
        actions,
        st.text() | st.just(3),
    ),
    st.builds(
        lambda a: "```json\n" + json.dumps({"rationale": "r", "action": a}) + "\n```", actions
    ),
    st.recursive(
        st.none() | st.booleans() | st.text(max_size=5),
        lambda children: st.lists(children) | st.dictionaries(st.text(max_size=5), children),
    ).map(json.dumps),
)
completions = st.one_of(st.text(max_size=200), json_like, json_like)
golds = st.sampled_from([BUY_NOW, SEARCH, TERMINATE])
MAXIMUM = {"click": 1001.0, "type_and_submit": 1001.1, "terminate": 0.8}


@settings(max_examples=300, deadline=None)
@given(completions, golds)
def test_reward_never_raises_and_stays_within_bounds(completion, gold):
    for setting in ("shop_r1", "no_format"):
        got = components(completion, gold, setting, alpha=0.0)
        assert all(value >= 0.0 for value in got.values())
        assert sum(got.values()) <= MAXIMUM[gold["type"]] + 1e-9


@settings(max_examples=300, deadline=None)
@given(completions, golds)
def test_unparseable_completion_earns_nothing(completion, gold):
    if not parse_prediction(completion).ok:
        for setting in ("shop_r1", "no_format", "binary", "binary_action"):
            rewards = rewards_for_setting(setting)
            assert all(
                call(r, [completion], [gold], self_certainty=[5.0]) == [0.0] for r in rewards
            )


@settings(max_examples=300, deadline=None)
@given(completions, golds)
def test_binary_reward_equals_the_exact_match_metric(completion, gold):
    (binary,) = rewards_for_setting("binary")
    prediction = read_completion(completion).action
    assert call(binary, [completion], [gold]) == [
        float(exact_match(prediction, as_gold_action(gold)))
    ]


# The reward-hacking check on ShopWorld gold actions (docs/rewards.md shows the full table).
@pytest.fixture(scope="module")
def hacking_rows():
    from shopr1.rewards.hacking import score_policies

    hacking = runpy.run_path(str(ROOT / "benchmarks" / "reward_hacking.py"))
    return score_policies(hacking["shopworld_steps"](40, 0))


@pytest.fixture(scope="module")
def hacking_steps():
    from shopr1.shopworld import ShopWorldConfig

    hacking = runpy.run_path(str(ROOT / "benchmarks" / "reward_hacking.py"))
    slugs = {"name_style": "slug"} if "name_style" in ShopWorldConfig.model_fields else {}
    return {
        size: list(hacking["shopworld_steps"](40, 0, ShopWorldConfig(page_size=size, **slugs)))
        for size in ("compact", "realistic")
    }


def test_constant_policies_earn_far_less_than_the_gold_action(hacking_rows):
    from shopr1.rewards.hacking import COLUMNS, POLICIES

    gold, oracle, *constant = hacking_rows
    assert gold.exact_match == 1.0 and oracle.exact_match > 0.3
    assert [row.policy for row in constant] == list(POLICIES)
    for row in constant:
        dars_share = row.mean_reward["shop_r1"] / gold.mean_reward["shop_r1"]
        flat_share = row.mean_reward["no_dars"] / gold.mean_reward["no_dars"]
        assert dars_share < 0.1, row  # far below the gold action with DARS
        assert flat_share < 0.75, row  # and still below it without
        assert flat_share > 2 * dars_share, row  # what DARS buys
        # a stricter name judgement never pays a constant policy more
        assert row.mean_reward["shop_r1/exact"] <= row.mean_reward["shop_r1"] + 1e-9, row
    assert set(gold.mean_reward) == {key for key, _, _ in COLUMNS}


@pytest.mark.parametrize("size", ["compact", "realistic"])
def test_near_misses_of_a_product_click_under_each_name_similarity(hacking_steps, size):
    from shopr1.rewards.siblings import NEAR_MISSES, score_near_misses

    gold, *near = score_near_misses(hacking_steps[size])
    assert [row.policy for row in near] == list(NEAR_MISSES)
    assert gold.exact_match == 1.0 and gold.mean_reward["shop_r1"] == pytest.approx(1001.0)
    rows = {row.policy: row.mean_reward for row in near}
    for row in near:
        assert row.exact_match == 0.0 and row.steps > 0, row  # the metric: a wrong name
        assert row.mean_reward["shop_r1/exact"] == pytest.approx(1.0), row  # no value credit
    most_similar, next_one, other_control, separator, case = rows.values()
    for sibling in (most_similar, next_one):  # the paper's ROUGE-L pays a sibling; item less
        assert sibling["shop_r1"] > 100 and sibling["shop_r1/item"] < sibling["shop_r1"]
    assert next_one["shop_r1/item"] < 0.5 * next_one["shop_r1"]
    assert other_control["shop_r1"] > 750 and other_control["shop_r1/item"] == pytest.approx(1.0)
    for variant in (separator, case):  # the same tokens: full credit but for `exact`
        assert variant["shop_r1"] == variant["shop_r1/item"] == pytest.approx(1001.0)


def test_sibling_share_under_each_name_similarity(hacking_steps):
    from shopr1.rewards.siblings import sibling_share

    for size, steps in hacking_steps.items():
        rouge, item, exact = (sibling_share(steps, kind) for kind in ("rougeL", "item", "exact"))
        assert rouge.clicks == item.clicks > rouge.result_clicks > 0
        assert exact.exposed == 0  # names on a page are distinct
        assert item.exposed < rouge.exposed, size
        assert item.result_other_item_exposed <= rouge.result_other_item_exposed, size


def test_reward_hacking_script_prints_the_tables(capsys):
    table = runpy.run_path(str(ROOT / "benchmarks" / "reward_hacking.py"))["main"](
        ["--sessions", "5", "--sibling-sessions", "5"]
    )
    assert "| always terminate |" in table and table in capsys.readouterr().out
    assert "| another product on the page: the most similar name |" in table
    assert "| compact, slug 3 words |" in table and "| realistic, slug 8 words |" in table


def test_first_named_element_in_document_order():
    from shopr1.rewards.hacking import named_elements

    html = '<html><body><header><a name="header.home">H</a></header>'
    html += '<main><p>x</p><a name="m.one">1</a>'
    html += '<input name="m.two"></main></body></html>'
    assert named_elements(html) == ["header.home", "m.one", "m.two"]
    assert named_elements(html, "main") == ["m.one", "m.two"]


@pytest.mark.parametrize(
    ("completion", "value"),
    [
        ([{"role": "assistant", "content": [{"type": "text", "text": answer(BUY_NOW)}]}], 1000.0),
        (
            [
                {"role": "assistant", "content": "hm"},
                {"role": "assistant", "content": answer(BUY_NOW)},
            ],
            1000.0,
        ),
        (
            [{"role": "assistant", "content": answer(BUY_NOW)}, {"role": "tool", "content": "x"}],
            1000.0,
        ),
        ([{"role": "user", "content": answer(BUY_NOW)}], 0.0),
        (None, 0.0),
        (42, 0.0),
        ([], 0.0),
        ([{"role": "assistant", "content": None}], 0.0),
    ],
)
def test_odd_completion_shapes_never_raise(completion, value):
    (reward,) = build_rewards(["value_reward"])
    assert reward(completions=[completion], gold_action=[BUY_NOW]) == [value]
