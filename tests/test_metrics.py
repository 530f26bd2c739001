"""Evaluation metrics (SPEC §3) and the report in the paper's Table 2 layout."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shopr1.metrics import bootstrap_intervals, evaluate_predictions, session_counts
from shopr1.report import per_type_markdown, plot_confusion_matrix, table2_markdown, write_report
from shopr1.schema import Action


def answer(action: dict) -> str:
    return json.dumps({"rationale": "Because.", "action": action})


CLICK_A = {"type": "click", "name": "search_results.a.title"}
SEARCH = {"type": "type_and_submit", "name": "search_input", "text": "red shoes"}
TERMINATE = {"type": "terminate"}

# (session, gold, completion): 7 steps whose metrics are worked out by hand below.
RECORDS = [
    ("s1", CLICK_A, answer(CLICK_A)),  # exact
    (
        "s1",
        {"type": "click", "name": "search_results.b.title"},
        answer({"type": "click", "name": "x"}),
    ),
    ("s1", SEARCH, answer(TERMINATE)),
    (
        "s2",
        json.dumps(SEARCH),
        "```json\n" + answer({**SEARCH, "text": "Red shoes"}) + "\n```",
    ),  # exact
    ("s2", TERMINATE, "I would leave now."),  # unparseable
    ("s3", Action(type="terminate"), answer(TERMINATE)),  # exact
    ("s3", CLICK_A, answer(SEARCH)),
]


def test_metrics_on_a_hand_worked_example():
    result = evaluate_predictions(RECORDS, n_bootstrap=0)
    assert result.confusion == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    assert (result.n, result.n_sessions) == (7, 3)
    expected = {
        "exact_match": 3 / 7,
        "type_accuracy": 4 / 7,
        "type_macro_f1": (0.8 + 0.5 + 0.5)
        / 3,  # F1 click 2·2/(3+2), t&s 2/(2+2), terminate 2/(2+2)
        "parse_failure_rate": 1 / 7,
        "exact_match/click": 1 / 3,
        "exact_match/type_and_submit": 1 / 2,
        "exact_match/terminate": 1 / 2,
        "type_f1/click": 0.8,
        "type_f1/type_and_submit": 0.5,
        "type_f1/terminate": 0.5,
    }
    assert result.metrics == pytest.approx(expected)


def test_a_type_absent_from_gold_and_predictions_is_left_out_of_macro_f1():
    records = [("s", TERMINATE, answer(TERMINATE)), ("s", CLICK_A, answer(CLICK_A))]
    result = evaluate_predictions(records, n_bootstrap=0)
    assert result.metrics["type_macro_f1"] == 1.0
    assert np.isnan(result.metrics["exact_match/type_and_submit"])


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    records = [(f"s{i // 3}", CLICK_A, answer(CLICK_A if i % 4 else TERMINATE)) for i in range(300)]
    first = evaluate_predictions(records, n_bootstrap=300, seed=7)
    again = evaluate_predictions(records, n_bootstrap=300, seed=7)
    other = evaluate_predictions(records, n_bootstrap=300, seed=8)
    assert first.intervals == again.intervals != other.intervals
    for name in ("exact_match", "type_accuracy", "type_macro_f1"):
        low, high = first.intervals[name]
        assert low <= first.metrics[name] <= high
    assert set(first.flat()) >= {"exact_match", "exact_match/ci_low", "exact_match/ci_high"}


def test_bootstrap_resamples_sessions_not_steps():
    """Copying steps within a session changes nothing; splitting sessions narrows the interval."""
    rng = np.random.default_rng(0)
    steps = [
        (f"s{i}", CLICK_A, answer(CLICK_A if rng.random() < 0.5 else TERMINATE)) for i in range(200)
    ]
    copied = [(sid, gold, completion) for sid, gold, completion in steps for _ in range(10)]
    split = [(f"{sid}/{k}", gold, completion) for sid, gold, completion in steps for k in range(10)]
    base = evaluate_predictions(steps, n_bootstrap=400, seed=1).intervals["exact_match"]
    by_session = evaluate_predictions(copied, n_bootstrap=400, seed=1).intervals["exact_match"]
    by_step = evaluate_predictions(split, n_bootstrap=400, seed=1).intervals["exact_match"]
    assert by_session == pytest.approx(base)
    assert (by_step[1] - by_step[0]) < 0.5 * (by_session[1] - by_session[0])


def test_session_counts_aggregate_per_session():
    ids, counts = session_counts(RECORDS)
    assert ids == ["s1", "s2", "s3"]
    assert counts.sum(1).tolist() == [3 + 1, 2 + 1, 2 + 1]  # steps plus exact matches
    assert bootstrap_intervals(counts, n_bootstrap=10)["exact_match"][0] >= 0.0


def test_no_predictions_is_an_error():
    with pytest.raises(ValueError, match="no predictions"):
        evaluate_predictions([])


def test_table2_layout_and_per_type_table():
    result = evaluate_predictions(RECORDS, n_bootstrap=50)
    table = table2_markdown({"SFT": result, "Shop-R1": result}).splitlines()
    assert table[0] == "| setting | exact | type acc | type F1 |"
    assert table[2].startswith("| SFT | 42.86 [") and table[3].startswith("| Shop-R1 | 42.86 [")
    assert (
        table2_markdown({"SFT": result}, with_ci=False).splitlines()[2]
        == "| SFT | 42.86 | 57.14 | 60.00 |"
    )
    per_type = per_type_markdown({"SFT": result}, with_ci=False).splitlines()
    assert per_type[2] == "| SFT | 33.33 | 50.00 | 50.00 | 14.29 | 7 |"


def test_confusion_plot_and_report_files(tmp_path):
    result = evaluate_predictions(RECORDS, n_bootstrap=20)
    png = plot_confusion_matrix(result, tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    paths = write_report({"Shop-R1 (greedy)": result}, tmp_path / "report")
    assert paths["report"].read_text().count("| Shop-R1 (greedy) |") == 2
    assert paths["confusion/Shop-R1 (greedy)"].name == "confusion_shop_r1_greedy.png"
