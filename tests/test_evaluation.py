"""`shopr1 evaluate` end to end on a tiny random model and a small ShopWorld dataset.

A random model writes no valid JSON, so the scoring path is also fed known completions (gold
copies, wrong answers, garbage, always-terminate) and checked against counts made here
independently with `shopr1.matching.exact_match`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from shopr1.evaluation import CheckpointError, EvalSettings, evaluate_checkpoint
from shopr1.evaluation.data import DatasetError, load_rl_examples, split_ceilings
from shopr1.evaluation.evaluate import read_predictions
from shopr1.evaluation.generate import generate, plan_batches
from shopr1.evaluation.scoring import constant_completion, score_passes
from shopr1.matching import exact_match
from shopr1.schema import Action, parse_prediction

MAX_NEW = 12


@pytest.fixture(scope="session")
def eval_world(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset folder, tiny checkpoint): 24 ShopWorld sessions with heuristic rationales, half
    of them in the test split, and a 2-layer random Qwen2 with a BPE trained on the train prompts."""
    from shopr1.data.build import BuildConfig, build_dataset
    from shopr1.modeling.tiny import build_tiny_model
    from shopr1.rationales import make_backend, synthesize_file
    from shopr1.shopworld import ShopWorldConfig, write_shopworld

    root = tmp_path_factory.mktemp("eval_world")
    raw, dataset = root / "shopworld", root / "dataset"
    write_shopworld(raw, sessions=24, seed=0, config=ShopWorldConfig())
    # ShopWorld writes canonical sessions, so the teacher reads them directly (one build, not two).
    synthesize_file(raw / "sessions.jsonl", raw / "rationales.jsonl", make_backend("heuristic"))
    build_dataset(
        [raw / "rationales.jsonl"], dataset,
        BuildConfig(max_context_tokens=2048, splits={"train": 0.5, "test": 0.5}), policy=raw / "policy.jsonl",
    )
    texts = [m["content"] for row in load_rl_examples(dataset, "train") for m in row["prompt"]]
    checkpoint = build_tiny_model(texts, root / "tiny", vocab_size=1024, hidden_size=32, layers=2, heads=2)
    return dataset, checkpoint


@pytest.fixture(scope="session")
def evaluated(eval_world, tmp_path_factory):
    dataset, checkpoint = eval_world
    settings = EvalSettings(max_new_tokens=MAX_NEW, n_bootstrap=200)
    return evaluate_checkpoint(checkpoint, dataset, split="test", settings=settings,
                               out_dir=tmp_path_factory.mktemp("eval") / "out")


@pytest.fixture(scope="session")
def model_and_prompts(eval_world):
    from shopr1.evaluation.evaluate import load_for_evaluation, tokenize_prompts

    dataset, checkpoint = eval_world
    model, tokenizer = load_for_evaluation(checkpoint, "cpu")
    return model, tokenizer, tokenize_prompts(tokenizer, load_rl_examples(dataset, "test"))


def _predictions(summary) -> list[dict]:
    return [json.loads(line) for line in summary.files["predictions"].read_text().splitlines()]


def test_settings_defaults_and_strictness():
    settings = EvalSettings()
    assert (settings.temperature, settings.greedy, settings.max_new_tokens) == (0.6, True, 128)
    assert (settings.max_examples, settings.batch_tokens, settings.seed) == (None, 16384, 0)
    with pytest.raises(ValueError, match="temprature"):
        EvalSettings(temprature=0.5)


def test_outputs_exist_and_agree_with_predictions(evaluated, eval_world):
    dataset, _ = eval_world
    for name in ("report", "confusion", "metrics", "predictions", "summary"):
        assert evaluated.files[name].is_file() and evaluated.files[name].stat().st_size > 0
    assert json.loads(evaluated.files["metrics"].read_text()) == pytest.approx(evaluated.metrics)
    gold_rows = pl.read_parquet(dataset / "rl" / "test" / "*.parquet").to_dicts()
    gold = {(r["session_id"], r["step_index"]): json.loads(r["gold_action"]) for r in gold_rows}
    rows = _predictions(evaluated)
    assert read_predictions(evaluated.files["predictions"]) == rows
    assert evaluated.decodings == ["greedy", "sampled"]
    for decoding, prefix in (("greedy", ""), ("sampled", "sampled/")):
        mine = [r for r in rows if r["decoding"] == decoding]
        assert len(mine) == evaluated.examples == len(gold_rows) - evaluated.skipped_too_long
        assert read_predictions(evaluated.files["predictions"], decoding) == mine  # the benchmarks' reader
        hits = types = unparsed = 0
        for row in mine:
            parsed = parse_prediction(row["completion"])
            action = parsed.prediction.action if parsed.ok else None
            truth = Action(**gold[row["session_id"], row["step_index"]])
            assert Action(**row["gold"]) == truth
            assert row["exact"] == exact_match(action, truth)
            hits += exact_match(action, truth)
            types += action is not None and action.type == truth.type
            unparsed += action is None
        metrics = evaluated.metrics
        assert metrics[f"{prefix}exact_match"] == pytest.approx(hits / len(mine))
        assert metrics[f"{prefix}type_accuracy"] == pytest.approx(types / len(mine))
        assert metrics[f"{prefix}parse_failure_rate"] == pytest.approx(unparsed / len(mine))
        for name in ("exact_match", "type_accuracy", "parse_failure_rate"):
            assert metrics[f"{prefix}{name}_ci_low"] <= metrics[f"{prefix}{name}"] <= metrics[f"{prefix}{name}_ci_high"]
        kinds = Counter(r["step_kind"] for r in mine)
        assert {k: metrics[f"{prefix}steps/kind/{k}"] for k in kinds} == kinds
    report = evaluated.files["report"].read_text()
    for row in ("| greedy |", "| sampled (T=0.6) |", "| constant policy |", "## Exact match per step kind"):
        assert row in report


def test_ceilings_are_shown(evaluated, eval_world):
    dataset, _ = eval_world
    ceilings = split_ceilings(dataset, "test")
    assert ceilings is not None and evaluated.ceilings == ceilings
    report = evaluated.files["report"].read_text()
    assert f"| oracle ceiling | {100 * ceilings['oracle']:.2f} |" in report
    assert evaluated.metrics["ceiling/oracle"] == ceilings["oracle"]
    if "goal_blind" in ceilings:  # the full ceilings of the hardened build
        assert f"| goal-blind ceiling | {100 * ceilings['goal_blind']:.2f} |" in report
        baseline = ceilings["constant"]["exact"]
        expected = (evaluated.metrics["exact_match"] - baseline) / (ceilings["goal_blind"] - baseline)
        assert evaluated.metrics["headroom_closed"] == pytest.approx(expected)
        # The table's constant row is that expectation; where it differs from the constant
        # scored on the evaluated steps, the report says which is which.
        assert f"| constant policy | {100 * baseline:.2f} | 0.00 |" in report
        scored = evaluated.metrics["constant/exact_match"]
        if f"{100 * baseline:.2f}" != f"{100 * scored:.2f}":
            assert f"the constant scored on the evaluated steps above is {100 * scored:.2f}" in report


def test_scoring_path_on_known_completions(eval_world):
    """Gold copies, a wrong click, garbage and terminates, scored against independent counts."""
    dataset, _ = eval_world
    examples = load_rl_examples(dataset, "test")
    completions = []
    for i, example in enumerate(examples):
        gold = Action(**example["gold_action"])
        completions.append([
            json.dumps({"rationale": "I copy.", "action": gold.to_json_dict()}),
            json.dumps({"rationale": "I click.", "action": {"type": "click", "name": "pagination.next"}}),
            "not json at all",
            constant_completion(Action(type="terminate")),
        ][i % 4])
    scored = score_passes(examples, {"greedy": completions}, constant_action=Action(type="terminate"), n_bootstrap=0)
    truth = [Action(**e["gold_action"]) for e in examples]
    predicted = [parse_prediction(c).prediction for c in completions]
    actions = [p.action if p is not None else None for p in predicted]
    hits = [exact_match(a, g) for a, g in zip(actions, truth, strict=True)]
    assert scored.metrics["exact_match"] == pytest.approx(sum(hits) / len(hits))
    assert scored.metrics["parse_failure_rate"] == pytest.approx(actions.count(None) / len(actions))
    for action_type in ("click", "type_and_submit", "terminate"):
        idx = [i for i, g in enumerate(truth) if g.type == action_type]
        if idx:
            assert scored.metrics[f"exact_match/{action_type}"] == pytest.approx(sum(hits[i] for i in idx) / len(idx))
    for kind in {e["step_kind"] for e in examples}:
        idx = [i for i, e in enumerate(examples) if e["step_kind"] == kind]
        assert scored.metrics[f"exact_match/kind/{kind}"] == pytest.approx(sum(hits[i] for i in idx) / len(idx))
    constant_hits = [g.type == "terminate" for g in truth]
    assert scored.metrics["vs_constant/exact_match"] == pytest.approx((sum(hits) - sum(constant_hits)) / len(hits))


def test_paired_difference_with_the_constant(eval_world):
    """Gold copies beat the constant by exactly the non-terminate share, with an interval around
    it; the constant against itself differs by zero with a zero-width interval."""
    dataset, _ = eval_world
    examples = load_rl_examples(dataset, "test")
    copies = [json.dumps({"rationale": "I copy.", "action": Action(**e["gold_action"]).to_json_dict()}) for e in examples]
    always = [constant_completion(Action(type="terminate"))] * len(examples)
    scored = score_passes(examples, {"greedy": copies, "sampled": always}, constant_action=Action(type="terminate"),
                          n_bootstrap=300)
    share = sum(e["gold_action"]["type"] != "terminate" for e in examples) / len(examples)
    m = scored.metrics
    assert m["vs_constant/exact_match"] == pytest.approx(share)
    assert m["vs_constant/exact_match_ci_low"] < share < m["vs_constant/exact_match_ci_high"]
    assert m["sampled/vs_constant/exact_match"] == 0.0
    assert m["sampled/vs_constant/exact_match_ci_low"] == m["sampled/vs_constant/exact_match_ci_high"] == 0.0


def test_constant_policy_matches_the_ceilings(eval_world):
    """Always-terminate through the same scoring path = the share of terminate steps; the
    ceilings' constant policy (an expectation over the shoppers' policy) lies in its interval."""
    dataset, _ = eval_world
    examples = load_rl_examples(dataset, "test")
    always = [constant_completion(Action(type="terminate"))] * len(examples)
    scored = score_passes(examples, {"greedy": always}, constant_action=Action(type="terminate"), n_bootstrap=500)
    share = sum(e["gold_action"]["type"] == "terminate" for e in examples) / len(examples)
    assert scored.metrics["exact_match"] == pytest.approx(share) == pytest.approx(scored.constant_exact)
    ceilings = split_ceilings(dataset, "test") or {}
    constant = ceilings.get("constant")
    if constant is not None and constant["action"] == {"type": "terminate"}:
        low, high = scored.metrics["exact_match_ci_low"], scored.metrics["exact_match_ci_high"]
        assert low <= constant["exact"] <= high


def test_generation_is_deterministic(evaluated, model_and_prompts):
    """Greedy: the evaluation's completions again; sampled: the same seed, the same texts."""
    model, tokenizer, prompts = model_and_prompts
    greedy = [r["completion"] for r in _predictions(evaluated) if r["decoding"] == "greedy"]
    again = generate(model, tokenizer, prompts[:3], max_new_tokens=MAX_NEW, batch_tokens=16384)
    assert again.texts == greedy[:3] and all(again.texts)
    sampled = [generate(model, tokenizer, prompts[:2], max_new_tokens=MAX_NEW, batch_tokens=16384,
                        temperature=0.6, seed=seed).texts for seed in (0, 0, 1)]
    assert sampled[0] == sampled[1] != sampled[2]


def test_batched_generation_equals_unbatched(model_and_prompts):
    """Left padding with the attention mask: a row's output does not depend on its batch."""
    model, tokenizer, prompts = model_and_prompts
    by_length = sorted(prompts, key=len)
    few = [by_length[0], by_length[len(by_length) // 2], by_length[-1], by_length[1]]
    assert len({len(p) for p in few}) > 1
    budget = 4 * (len(by_length[-1]) + MAX_NEW)
    assert len(plan_batches([len(p) for p in few], MAX_NEW, budget)) == 1  # one batch of 4 rows
    batched = generate(model, tokenizer, few, max_new_tokens=MAX_NEW, batch_tokens=budget)
    alone = [generate(model, tokenizer, [p], max_new_tokens=MAX_NEW, batch_tokens=budget) for p in few]
    assert batched.texts == [g.texts[0] for g in alone]
    assert batched.new_tokens == [g.new_tokens[0] for g in alone]


def test_samples_share_their_prompts_prefill(model_and_prompts):
    """`samples_per_prompt`: the prompt's KV cache is computed once and copied; near-zero
    temperature makes every copy the greedy completion, which holds only if the shared cache and
    the positions of left-padded rows are right (prompts of different lengths in one batch)."""
    model, tokenizer, prompts = model_and_prompts
    by_length = sorted(prompts, key=len)
    few = [by_length[0], by_length[-1], by_length[len(by_length) // 2]]
    greedy = generate(model, tokenizer, few, max_new_tokens=MAX_NEW, batch_tokens=10**6)
    cold = generate(model, tokenizer, few, max_new_tokens=MAX_NEW, batch_tokens=10**6, temperature=1e-6,
                    samples_per_prompt=4)
    assert cold.texts == [t for t in greedy.texts for _ in range(4)]
    hot = generate(model, tokenizer, few, max_new_tokens=MAX_NEW, batch_tokens=10**6, temperature=1.5,
                   samples_per_prompt=4)
    assert len(hot.texts) == 12 and len(set(hot.texts[:4])) > 1  # the copies are sampled apart
    with pytest.raises(ValueError, match="samples_per_prompt"):
        generate(model, tokenizer, few, max_new_tokens=MAX_NEW, batch_tokens=10**6, samples_per_prompt=2)


def test_long_prompts_are_skipped_and_counted(eval_world, model_and_prompts, tmp_path):
    dataset, checkpoint = eval_world
    _, _, prompts = model_and_prompts
    first = sorted(len(p) for p in prompts[:8])
    positions = first[len(first) // 2] + MAX_NEW  # about half of the first 8 no longer fit
    short = tmp_path / "short"
    shutil.copytree(checkpoint, short)
    config = json.loads((short / "config.json").read_text())
    (short / "config.json").write_text(json.dumps({**config, "max_position_embeddings": positions}))
    settings = EvalSettings(max_new_tokens=MAX_NEW, max_examples=8, greedy=False, n_bootstrap=0)
    summary = evaluate_checkpoint(short, dataset, split="test", settings=settings, out_dir=tmp_path / "out")
    too_long = sum(len(p) > positions - MAX_NEW for p in prompts[:8])
    assert 0 < too_long < 8
    assert summary.skipped_too_long == too_long == summary.metrics["examples_skipped_too_long"]
    assert summary.examples == 8 - too_long
    assert f"{too_long} skipped" in summary.files["report"].read_text()
    assert summary.decodings == ["sampled"]
    assert summary.metrics["exact_match"] == summary.metrics["sampled/exact_match"]


def test_clear_errors(eval_world, tmp_path):
    dataset, checkpoint = eval_world
    settings = EvalSettings(max_new_tokens=MAX_NEW)
    with pytest.raises(CheckpointError, match=re.escape(str(tmp_path / "missing"))):
        evaluate_checkpoint(tmp_path / "missing", dataset, settings=settings, out_dir=tmp_path / "o")
    with pytest.raises(DatasetError, match=r"split 'dev'.*test, train"):
        evaluate_checkpoint(checkpoint, dataset, split="dev", settings=settings, out_dir=tmp_path / "o")
    with pytest.raises(DatasetError, match="does not exist"):
        evaluate_checkpoint(checkpoint, tmp_path / "nowhere", settings=settings, out_dir=tmp_path / "o")
    empty = tmp_path / "empty"
    (empty / "rl" / "test").mkdir(parents=True)
    pl.read_parquet(dataset / "rl" / "test" / "*.parquet").head(0).write_parquet(empty / "rl" / "test" / "part-00000.parquet")
    with pytest.raises(DatasetError, match="no RL examples"):
        evaluate_checkpoint(checkpoint, empty, settings=settings, out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_cli(eval_world, tmp_path):
    from shopr1.cli import app

    dataset, checkpoint = eval_world
    out = tmp_path / "cli"
    args = ["evaluate", "--model", str(checkpoint), "--data", str(dataset), "--max-examples", "4",
            "--set", "evaluate.max_new_tokens=4", "--set", "evaluate.n_bootstrap=50", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "constant policy" in result.output and "oracle ceiling" in result.output
    assert "greedy − constant:" in result.output and "paired by session" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["examples"] == 4 and "vs_constant/exact_match" in metrics
    assert "## Against the constant policy" in (out / "report.md").read_text()
    bad = CliRunner().invoke(app, [*args[:5], "--set", "evaluate.temprature=1"])
    assert bad.exit_code == 2 and "temprature" in bad.output


def test_vs_constant_lines_say_which_side():
    from shopr1.evaluation.evaluate import vs_constant_lines

    base = {"constant/exact_match_ci_low": 0.24, "constant/exact_match_ci_high": 0.29,
            "vs_constant/exact_match": 0.05, "vs_constant/exact_match_ci_low": 0.02, "vs_constant/exact_match_ci_high": 0.08}
    above = vs_constant_lines({**base, "exact_match_ci_low": 0.30, "exact_match_ci_high": 0.35}, ["greedy"])
    assert above == ["greedy − constant: +5.0 points [+2.0, +8.0], paired by session; "
                     "above the constant with the marginal 95% intervals apart"]
    below = vs_constant_lines({**base, "exact_match_ci_low": 0.09, "exact_match_ci_high": 0.12}, ["greedy"])
    assert below[0].endswith("below the constant with the marginal 95% intervals apart")
    overlap = vs_constant_lines({**base, "exact_match_ci_low": 0.28, "exact_match_ci_high": 0.33}, ["greedy"])
    assert overlap[0].endswith("the marginal 95% intervals overlap")
    assert vs_constant_lines({}, ["greedy"]) == []


def test_copy_query_benchmark(eval_world):
    """benchmarks/bench_copy_query.py: retyping the search box scores through the evaluation's
    exact match, only where a box with a query is on the current page."""
    import runpy

    bench = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks" / "bench_copy_query.py"))
    dataset, _ = eval_world
    examples = load_rl_examples(dataset, "test")
    result = bench["measure"](dataset, "test")
    typed = [e for e in examples if e["gold_action"]["type"] == "type_and_submit"]
    assert result["typed_steps"] == len(typed) and result["steps"] == len(examples)
    expected = sum(
        exact_match(Action(type="type_and_submit", name="search_input", text=q), Action(**e["gold_action"]))
        for e in typed if (q := bench["box_query"](e["prompt"]))
    )
    assert sum(k["copy_exact"] for k in result["by_kind"].values()) == expected
    assert all(k["copy_exact"] <= k["box_shown"] <= k["typed_steps"] for k in result["by_kind"].values())
    page = [{"role": "user", "content": 'Page 1:\n<input name="search_input" value="old">\nPage 2:\n'
             '<input name="search_input" value="red mug">'}]
    assert bench["box_query"](page) == "red mug" and bench["box_query"]([{"role": "user", "content": "Page 1: none"}]) == ""


def _completion(action: dict, rationale: str = "I decide.") -> str:
    return json.dumps({"rationale": rationale, "action": action})


def test_consensus_keeps_the_action_most_samples_agree_with():
    """Minimum-Bayes-risk under exact match: whole actions are counted, so a query's mass split
    over different texts loses to a repeated `terminate`; near-identical texts (ROUGE-L ≥ 0.75)
    agree with each other; unparseable samples are never kept unless nothing parses."""
    from shopr1.evaluation.consensus import consensus, consensus_index

    def query(text):
        return _completion({"type": "type_and_submit", "name": "search_input", "text": text})

    terminate = _completion({"type": "terminate"}, "Nothing here fits, so I leave.")
    click = _completion({"type": "click", "name": "product.buy_now"})
    # 3 queries (the most common type) but 3 different ones; 2 terminates: terminate wins.
    split = [query("red running shoes"), terminate, query("blue yoga mat"), query("steel water bottle"), terminate]
    assert consensus_index(split) == 1
    # Paraphrases that the metric counts as the same answer pool their votes (ROUGE-L 0.8).
    pooled = [terminate, query("red running shoes size 9"), terminate, query("red running shoes size 10"),
              query("red running shoes size 9")]
    assert exact_match(parse_prediction(pooled[1]).prediction.action, parse_prediction(pooled[3]).prediction.action)
    assert consensus_index(pooled) == 1
    assert consensus_index(["{not json", click, "", click, terminate]) == 1
    assert consensus_index(["{not json", "also not"]) == 0
    assert consensus([[terminate], ["x", click]]) == [terminate, click]
    with pytest.raises(ValueError):
        consensus_index([])


def test_vote_pass_reports_the_consensus_of_its_own_samples(eval_world, model_and_prompts, tmp_path):
    """`evaluate.vote_samples`: a third pass, named `vote/…` in the metrics, whose prediction for
    each example is the consensus of exactly the samples drawn at `vote_temperature` (seed + 1)."""
    from shopr1.evaluation.consensus import consensus
    from shopr1.metrics import predicted_action

    dataset, checkpoint = eval_world
    model, tokenizer, prompts = model_and_prompts
    settings = EvalSettings(max_new_tokens=MAX_NEW, max_examples=4, greedy=False, n_bootstrap=50,
                            vote_samples=3, vote_temperature=1.3)
    summary = evaluate_checkpoint(checkpoint, dataset, split="test", settings=settings, out_dir=tmp_path / "out")
    assert summary.decodings == ["sampled", "vote"]
    assert {"vote/exact_match", "vote/vs_constant/exact_match", "vote/type_macro_f1"} <= set(summary.metrics)
    samples = generate(model, tokenizer, prompts[:4], max_new_tokens=MAX_NEW, batch_tokens=settings.batch_tokens,
                       temperature=1.3, seed=settings.seed + 1, samples_per_prompt=3).texts
    expected = consensus([samples[3 * k:3 * k + 3] for k in range(4)])
    rows = [r for r in _predictions(summary) if r["decoding"] == "vote"]
    assert [r["completion"] for r in rows] == expected
    # The samples behind each choice are kept (parsed as the metric parses them), so other
    # decision rules can be replayed offline (benchmarks/vote_rules.py).
    for k, row in enumerate(rows):
        parsed = [predicted_action(t) for t in samples[3 * k:3 * k + 3]]
        assert row["sample_actions"] == [a.to_json_dict() if a else None for a in parsed]
    assert all("sample_actions" not in r for r in _predictions(summary) if r["decoding"] != "vote")
    report = summary.files["report"].read_text()
    assert "consensus of 3 samples (T=1.3)" in report and "agrees with most of them" in report


def test_headroom_note_names_both_constants_only_when_they_differ():
    from shopr1.evaluation.evaluate import _headroom_basis_note

    assert _headroom_basis_note(0.2745, 0.27450001) == ""
    note = _headroom_basis_note(0.2745, 0.2695)
    assert "(27.45)" in note and "evaluated steps above is 26.95" in note


def test_copy_query_benchmark_counts_the_models_own_queries(eval_world, tmp_path):
    """bench_copy_query.py --predictions: of the typed queries a pass wrote on a page with a search
    box, the ones that retype the box and the ones that match a typed gold."""
    import runpy

    bench = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks" / "bench_copy_query.py"))
    dataset, _ = eval_world
    boxed = [e for e in load_rl_examples(dataset, "test") if bench["box_query"](e["prompt"])]
    assert boxed
    rows = []
    elsewhere = {"type": "type_and_submit", "name": "search_input", "text": "zzz qqq xxyy"}
    for e in boxed:
        copy = {"type": "type_and_submit", "name": "search_input", "text": bench["box_query"](e["prompt"])}
        rows.append({"decoding": "vote", "session_id": e["session_id"], "step_index": e["step_index"],
                     "gold": e["gold_action"], "action": copy,
                     "sample_actions": [copy, {"type": "terminate"}, None, elsewhere]})
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cell = bench["model_queries"](path, dataset, "test")["vote"]
    typed_gold = [e for e in boxed if e["gold_action"]["type"] == "type_and_submit"]
    assert typed_gold
    assert cell["steps_with_box"] == len(boxed) and cell["outputs"] == 4 * len(boxed)
    assert cell["typed_outputs"] == 2 * len(boxed) and cell["typed_copying_box"] == len(boxed)
    assert cell["typed_outputs_on_typed_gold"] == 2 * len(typed_gold)
    expected = sum(exact_match(Action(type="type_and_submit", name="search_input", text=bench["box_query"](e["prompt"])),
                               Action(**e["gold_action"])) for e in typed_gold)
    assert cell.get("typed_exact_on_typed_gold", 0) == expected
    stray = tmp_path / "stray.jsonl"
    stray.write_text(path.read_text() + json.dumps({**rows[0], "session_id": "not-in-this-split"}) + "\n")
    with pytest.raises(SystemExit, match="1 rows name steps"):
        bench["model_queries"](stray, dataset, "test")


def test_compare_evals_pairs_two_evaluations_by_session(eval_world, tmp_path):
    """benchmarks/compare_evals.py: A − B over the same steps, whatever order the files hold them
    in; A the gold everywhere, B the gold on every other step and leaving elsewhere."""
    import random
    import runpy

    from shopr1.schema import Prediction

    bench = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks" / "compare_evals.py"))
    dataset, _ = eval_world
    examples = load_rl_examples(dataset, "test")
    right = lambda e: Prediction(rationale="I do it.", action=Action(**e["gold_action"])).to_json()  # noqa: E731
    leave = constant_completion(Action(type="terminate"))

    def write(name, completion_of, rows=examples, gold_of=lambda e: e["gold_action"]):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({
            "decoding": "vote", "session_id": e["session_id"], "step_index": e["step_index"],
            "gold": gold_of(e), "completion": completion_of(i, e)}) + "\n" for i, e in rows))
        return path

    indexed = list(enumerate(examples))
    a = write("a", lambda i, e: right(e), indexed)
    shuffled = indexed[:]
    random.Random(0).shuffle(shuffled)
    b = write("b", lambda i, e: right(e) if i % 2 == 0 else leave, shuffled)
    b_exact = sum(1 if i % 2 == 0 else e["gold_action"]["type"] == "terminate" for i, e in indexed) / len(examples)
    assert b_exact < 1.0
    result = bench["compare"](a, b, "vote", "vote", n_bootstrap=200)
    assert result["a"]["exact"] == pytest.approx(1.0)
    assert result["b"]["exact"] == pytest.approx(b_exact)
    point, (low, high) = result["a_minus_b"]["point"], result["a_minus_b"]["ci"]
    assert point == pytest.approx(1.0 - b_exact) and low <= point <= high and low > 0
    assert result["steps"] == len(examples)
    with pytest.raises(SystemExit, match="no rows with decoding 'greedy'"):
        bench["compare"](a, b, "greedy", "greedy")
    half = write("half", lambda i, e: right(e), indexed[: len(examples) // 2])
    with pytest.raises(SystemExit, match="different steps"):
        bench["compare"](a, half, "vote", "vote")
    other_gold = write("other", lambda i, e: leave, indexed, gold_of=lambda e: {"type": "terminate"})
    if any(e["gold_action"]["type"] != "terminate" for e in examples):
        with pytest.raises(SystemExit, match="disagree on the gold action"):
            bench["compare"](a, other_gold, "vote", "vote")
