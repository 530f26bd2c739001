"""Closed-loop simulation: ShopWorld as an environment, simulated visits, behavioural fidelity and
synthetic A/B tests (issue 12)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopr1.shopworld import ShopWorldConfig, iter_shopworld, write_shopworld
from shopr1.shopworld.env import PURCHASE, STEP_CAP, STUCK, TERMINATE, ShopWorldEnv, check_action
from shopr1.simulation.closed_loop import GroundTruthAgent, ModelAgent, run_closed_loop, world_for

# sha256 of `data generate`'s sessions.jsonl and policy.jsonl, computed with the generator as it
# was before the environment existed (main at 2dc46be): the refactor onto the env changed no byte.
GOLDEN = [
    ({}, 0, 60, "31d7a3a0f1fc0f3a8ac18485fb50f7d011ee3ab048d28055c19fd49081703ea2",
     "276968f6f9e9ac604b311eaddb4f43643713bf0df4c0a91ef5bd85d37b3c761a"),
    ({"preset": "paper-like"}, 1, 40, "96e208a3328f1d1ce40d1adf7187aa516ac3395e150d8f4f2268d932eb5213c8",
     "068f5aabe91a39083fd3363ee0e86ae827afef3c44a35fe73ef1608e90b07b4b"),
    ({"page_size": "realistic"}, 3, 8, "34cd121cab1111ce5ab9fb92060328f2a5974fd5f855efef8e29a9ffa5c22e97",
     "6651f8d2b83b1650f86b6718203c486fe5c189d8a3a744cd1b8995e7db15823f"),
    ({"name_style": "index"}, 2, 40, "d6baba6b4bc2c03193e146eea5e4abb16f87586d2348389e674f4db1c4019b86",
     "6efe0837d96cf94eb170cc09cc1a277a5c9ab037d87b43501ec3e84e8ace8f2e"),
    ({"name_style": "short", "results_per_page": 2}, 5, 40,
     "7c14e4688cab66395058afcb37b1090737ba326a75ae22590b89bfe94511535f",
     "f7e9e18e721aae33ed1b55d20767a1eca0f9bf1ed18cde0b6ab48b08639a564a"),
]


@pytest.mark.parametrize("config,seed,n,sessions_sha,policy_sha", GOLDEN)
def test_the_ground_truth_shopper_through_the_env_reproduces_data_generate_byte_for_byte(
    tmp_path, config, seed, n, sessions_sha, policy_sha
):
    from shopr1.cli import app

    args = ["data", "generate", "--out", str(tmp_path), "--sessions", str(n), "--seed", str(seed)]
    args += [f"--set={k}={v}" for k, v in config.items()]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = (tmp_path / "sessions.jsonl").read_bytes()
    assert hashlib.sha256(written).hexdigest() == sessions_sha
    assert hashlib.sha256((tmp_path / "policy.jsonl").read_bytes()).hexdigest() == policy_sha
    # The same visitors shopping through the closed loop (the `shopr1 simulate` path).
    run = run_closed_loop(world_for(seed, ShopWorldConfig(**config)), GroundTruthAgent(), n,
                          first_visitor=0, session_prefix="shopworld")
    looped = "".join(s.model_dump_json(exclude_none=True) + "\n" for s in run.sessions).encode()
    assert looped == written
    assert all(o["invalid_steps"] == [] and o["unparsed"] == 0 for o in run.outcomes)
    assert {o["end"] for o in run.outcomes} <= {PURCHASE, TERMINATE}


def _first_visit_on(kind: str, config: ShopWorldConfig | None = None) -> ShopWorldEnv:
    env = ShopWorldEnv(seed=0, config=config)
    for index in range(200):
        if env.reset(index).step_kind == kind:
            return env
    raise AssertionError(f"no visitor lands on a {kind} page")


def test_an_action_the_page_does_not_offer_is_counted_and_leaves_the_page_as_it_was():
    env = _first_visit_on("results")
    before = env.observation
    result = env.step({"type": "click", "name": "search_results.no_such_product.title"}, "I click it")
    assert not result.done and not result.valid and "no element named" in result.error
    assert (result.observation.url, result.observation.page_html) == (before.url, before.page_html)
    assert result.observation.step == 1
    typed_into_a_link = env.step({"type": "type_and_submit", "name": "header.cart", "text": "x"})
    assert not typed_into_a_link.valid and "not a text box" in typed_into_a_link.error
    # A valid action resets the run of invalid ones; the logged session keeps every attempt.
    ok = env.step({"type": "type_and_submit", "name": "search_input", "text": "red running shoes"})
    assert ok.valid and ok.observation.step_kind == "results" and "red" in ok.observation.url
    session = env.session()
    assert [s.rationale for s in session.steps][:1] == ["I click it"] and len(session.steps) == 3
    assert env.outcome()["invalid_steps"] == [0, 1]
    for _ in range(2):
        assert not env.step({"type": "click", "name": "search_input"}).done  # clicking a text box
    stuck = env.step({"type": "click", "name": "nowhere"})
    assert stuck.done and stuck.end == STUCK
    with pytest.raises(RuntimeError, match="has ended"):
        env.step({"type": "terminate"})


def test_visits_end_on_a_purchase_on_terminate_and_at_the_step_cap():
    env = _first_visit_on("product")
    assert "product.buy_now" in env.observation.page_html
    bought = env.step({"type": "click", "name": "product.buy_now"})
    assert bought.done and bought.end == PURCHASE and env.outcome()["purchase"]
    env.reset(1)
    left = env.step({"type": "terminate"})
    assert left.done and left.end == TERMINATE and env.session().steps[-1].action.type == "terminate"
    capped = ShopWorldEnv(seed=0, config=ShopWorldConfig(max_steps=4))
    capped.reset(0)
    results = [capped.step({"type": "click", "name": "header.home"}) for _ in range(4)]
    assert [r.done for r in results] == [False, False, False, True] and results[-1].end == STEP_CAP


def test_check_action_reads_what_the_page_offers():
    page = '<a name="header.cart">Cart</a><input name="search_input"><input name="product.quantity" value="1">'
    assert check_action(("click", "header.cart", None), page) is None
    assert check_action(("type_and_submit", "search_input", "shoes"), page) is None
    assert "nothing typed" in check_action(("type_and_submit", "search_input", " "), page)
    assert "whole number" in check_action(("type_and_submit", "product.quantity", "two"), page)
    assert check_action(("terminate", None, None), page) is None


def test_site_variants_change_the_store_and_never_the_visitors():
    control, pricier = ShopWorldEnv(seed=0), ShopWorldEnv(seed=0, config=ShopWorldConfig(site={"price_factor": 1.2}))
    for index in range(30):
        control.reset(index), pricier.reset(index)
        assert control.persona() == pricier.persona()  # the same person, the same budget
    product = control.world.catalog.products[7]
    assert pricier.world.store.catalog.products[7].price == round(product.price * 1.2, 2)
    assert pricier.world.catalog.products[7].price == product.price  # shoppers' catalog unchanged
    plain = _first_visit_on("results")
    bare = _first_visit_on("results", ShopWorldConfig(site={"refinements": False, "pagination": False}))
    assert 'name="refinements.' in plain.observation.page_html
    assert 'name="refinements.' not in bare.observation.page_html and 'name="pagination.' not in bare.observation.page_html
    assert 'name="product.reviews"' in _first_visit_on("product").observation.page_html
    assert 'name="product.reviews"' not in _first_visit_on(
        "product", ShopWorldConfig(site={"reviews": False})).observation.page_html
    colourless = ShopWorldEnv(seed=0, config=ShopWorldConfig(site={"search_ignores_color": True})).world.store
    assert colourless._searched("red men's trail running shoes under 120") == "men's trail running shoes under 120"


class ScriptedSimulator:
    """Stands in for a checkpoint where the test needs exact outputs: one answer per call, per visit."""

    def __init__(self, answers: list[str]) -> None:
        self.answers, self.calls = answers, 0

    def prompt_text(self, context) -> str:
        return f"{len(context.pages)} pages"

    def generate(self, texts, temperature):
        out = [self.answers[min(self.calls, len(self.answers) - 1)]] * len(texts)
        self.calls += 1
        return out


def test_a_model_agent_counts_unparsed_and_invalid_outputs_and_writes_rationales():
    answers = [
        "not json at all",
        '{"rationale": "I try a link that is not there.", "action": {"type": "click", "name": "nowhere"}}',
        '{"rationale": "I look for shoes.", "action": {"type": "type_and_submit", "name": "search_input", "text": "shoes"}}',
        '{"rationale": "Nothing here for me.", "action": {"type": "terminate"}}',
    ]
    run = run_closed_loop(world_for(0), ModelAgent(ScriptedSimulator(answers)), 3)
    assert [o["end"] for o in run.outcomes] == [TERMINATE] * 3
    assert all(o["unparsed"] == 1 and o["invalid_steps"] == [0] and o["steps"] == 3 for o in run.outcomes)
    assert [s.rationale for s in run.sessions[0].steps] == [
        "I try a link that is not there.", "I look for shoes.", "Nothing here for me."]
    assert run.summary()["invalid_rate"] == round(6 / 12, 4)
    never = run_closed_loop(world_for(0), ModelAgent(ScriptedSimulator(["garbage"])), 2)
    assert [o["end"] for o in never.outcomes] == [STUCK] * 2 and never.sessions == []


def test_fidelity_of_the_true_shoppers_against_themselves_and_against_a_changed_store(tmp_path):
    from shopr1.simulation import fidelity
    from shopr1.simulation.closed_loop import write_run

    a = run_closed_loop(world_for(0), GroundTruthAgent(), 400, first_visitor=0)
    b = run_closed_loop(world_for(0), GroundTruthAgent(), 400, first_visitor=500_000)
    sale = run_closed_loop(world_for(0, ShopWorldConfig(site={"price_factor": 0.5})), GroundTruthAgent(), 400, first_visitor=0)
    for name, run in (("a", a), ("b", b), ("sale", sale)):
        write_run(run, tmp_path / name, {})
    records = {name: fidelity.read_visits(tmp_path / name)[0] for name in ("a", "b", "sale")}
    same = fidelity.compare(records["a"], records["b"], draws=300)
    lo, hi = same["metrics"]["purchase_rate"]["ci"]
    assert lo < 0 < hi
    assert all(d["jsd"] < 0.05 for d in same["divergences"].values())
    assert same["metrics"]["invalid_rate"]["b"] == 0.0
    cheaper = fidelity.compare(records["a"], records["sale"], draws=300)
    assert cheaper["metrics"]["purchase_rate"]["ci"][0] > 0  # half price: clearly more purchases
    png = fidelity.plot(cheaper, tmp_path / "f.png")
    assert png.stat().st_size > 10_000
    assert "| purchase rate |" in fidelity.markdown(cheaper)


def test_fidelity_reads_any_session_file_and_names_a_bad_line(tmp_path):
    from shopr1.simulation import fidelity

    path = tmp_path / "logs.jsonl"
    write_shopworld(tmp_path / "gen", 20, 0)
    lines = (tmp_path / "gen" / "sessions.jsonl").read_text().splitlines()
    path.write_text("\n".join(lines) + "\n")
    records, _ = fidelity.read_visits(path)
    assert len(records) == 20 and sum(r.length for r in records) == sum(len(json.loads(x)["steps"]) for x in lines)
    path.write_text(lines[0] + '\n{"session_id": "x"}\n')
    with pytest.raises(ValueError, match=r"logs.jsonl:2: not a canonical session"):
        fidelity.read_visits(path)


def test_a_perfect_simulator_agrees_with_itself_and_the_noise_floor_is_reported():
    from shopr1.simulation import abtest

    spec = abtest.load_variants(abtest.DEFAULT_VARIANTS)
    assert len(spec.variants) >= 8
    small = spec.model_copy(update={"sessions": 150, "truth_sessions": 150, "variants": [v for v in spec.variants if v.name.startswith("prices")]})
    same = abtest.analyse(abtest.run_abtest(small, GroundTruthAgent, first_visitor=0))
    assert same["overall"]["purchase"]["directional_agreement"] == 1.0
    for v in same["variants"].values():
        assert v["purchase"]["truth"] == v["purchase"]["sim"]  # the same visitors, the same choices
    up, down = same["variants"]["prices-up-20"]["purchase"]["truth"], same["variants"]["prices-down-20"]["purchase"]["truth"]
    assert up["effect"] < 0 < down["effect"] and up["ci"][1] < 0 < down["ci"][0]
    wider = small.model_copy(update={"truth_sessions": None})
    other = abtest.analyse(abtest.run_abtest(wider, GroundTruthAgent, first_visitor=0, sim_first_visitor=900_000))
    assert other["overall"]["purchase"]["of"] == 2 and other["visitors"] == {"truth": 2000, "sim": 150}


def test_a_bad_variants_file_is_one_message_naming_the_variant_and_key(tmp_path):
    from shopr1.simulation import abtest

    path = tmp_path / "v.yaml"
    path.write_text("variants:\n  - name: pricey\n    set: {site: {price_factr: 2}}\n")
    with pytest.raises(ValueError, match=r"v.yaml: variant 'pricey': site.price_factr"):
        abtest.load_variants(path)
    path.write_text("variants: []\n")
    with pytest.raises(ValueError, match="variants"):
        abtest.load_variants(path)


def test_the_simulate_fidelity_and_abtest_commands_on_a_registered_model(tmp_path):
    """A real registered tiny model by URI: closed-loop visits, fidelity against the ground truth
    (logged to MLflow), and a two-variant A/B test."""
    import mlflow

    from orchestration import register_champion, tiny_checkpoint

    from shopr1.cli import app

    uri = register_champion(tmp_path / "store", tiny_checkpoint(tmp_path))
    runner = CliRunner()
    sim, truth = tmp_path / "sim", tmp_path / "truth"
    result = runner.invoke(app, ["simulate", "--store", "shopworld", "--model", "models:/shopr1-simulator@champion",
                                 "--tracking-uri", uri, "-n", "3", "-o", str(sim), "--set", "site.price_factor=1.2"])
    assert result.exit_code == 0, result.output
    outcomes = [json.loads(x) for x in (sim / "outcomes.jsonl").read_text().splitlines()]
    assert len(outcomes) == 3 and all(o["end"] in ("purchase", "terminate", "step_cap", "invalid_actions") for o in outcomes)
    summary = json.loads((sim / "summary.json").read_text())
    assert summary["sessions"] == 3 and summary["shopworld"] == {"site": {"price_factor": 1.2}}
    result = runner.invoke(app, ["simulate", "--store", "shopworld", "--shopper", "ground-truth", "-n", "40", "-o", str(truth)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["fidelity", str(truth), str(sim), "--tracking-uri", uri, "--draws", "100"])
    assert result.exit_code == 0, result.output
    assert (sim / "fidelity" / "fidelity.png").is_file()
    runs = mlflow.MlflowClient(tracking_uri=uri).search_runs(
        [mlflow.MlflowClient(tracking_uri=uri).get_experiment_by_name("shopr1-simulation").experiment_id])
    assert runs and "fidelity/purchase_rate/diff" in runs[0].data.metrics
    variants = tmp_path / "variants.yaml"
    variants.write_text("sessions: 2\ntruth_sessions: 20\nvariants:\n  - {name: two-per-page, set: {results_per_page: 2}}\n"
                        "  - {name: pricier, set: {site: {price_factor: 1.2}}}\n")
    result = runner.invoke(app, ["abtest", "--variants", str(variants), "--model", "models:/shopr1-simulator@champion",
                                 "--tracking-uri", uri, "-o", str(tmp_path / "ab"), "--draws", "100"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "ab" / "abtest.json").read_text())
    assert set(report["variants"]) == {"two-per-page", "pricier"} and report["overall"]["purchase"]["of"] == 2
    assert (tmp_path / "ab" / "abtest.png").is_file() and (tmp_path / "ab" / "arms" / "pricier" / "sim" / "sessions.jsonl").is_file()
    bad = runner.invoke(app, ["simulate", "--store", "amazon", "-n", "1"])
    assert bad.exit_code == 2 and "only store built in is 'shopworld'" in " ".join(bad.output.split())


def test_persona_conditioning_is_a_recipe_switch_that_never_shows_the_goal(tmp_path):
    from orchestration import tiny_checkpoint

    from shopr1.data.examples import build_rl_examples, build_sft_example
    from shopr1.prompts import SYSTEM_PROMPT, persona_text
    from shopr1.recipes import load_recipe
    from shopr1.serving.contexts import parse_context
    from shopr1.serving.simulator import Simulator, SimulatorSettings
    from shopr1.stages import simulator_settings

    session = next(s for s, _ in iter_shopworld(5, seed=0))
    session.steps[0].rationale = "I look around."
    text = persona_text(session.persona)
    assert text.startswith("budget $") and "patience" in text and "goal" not in text
    assert session.persona["goal"]["category"] not in text
    plain, conditioned = build_rl_examples(session), build_rl_examples(session, persona=True)
    assert plain[0]["prompt"][0]["content"] == SYSTEM_PROMPT  # off by default: prompts as before
    assert conditioned[0]["prompt"][0]["content"] == f"{SYSTEM_PROMPT}\n\nAbout you: {text}."
    assert build_sft_example(session, persona=True)["messages"][0] == conditioned[0]["prompt"][0]
    recipe = load_recipe("tiny-cpu", ["data.persona=true"])
    assert recipe.build_config().persona and json.loads(simulator_settings(recipe))["persona"] is True
    assert load_recipe("tiny-cpu").build_config().persona is False
    # Serving: a request's persona reaches the prompt only for a persona-conditioned model, never its goal.
    steps = [s.model_dump(mode="json", exclude_none=True) for s in session.steps[:1]]
    context = parse_context({"steps": steps, "persona": session.persona})
    assert "goal" not in context.persona
    checkpoint = tiny_checkpoint(tmp_path)
    on = Simulator(checkpoint, SimulatorSettings(persona=True)).prompt_text(context)
    off = Simulator(checkpoint, SimulatorSettings()).prompt_text(context)
    assert f"About you: {text}." in on and "About you" not in off
    # Closed loop: the visitor's population persona, less the goal, goes with every context.
    seen = []

    class Recording(ScriptedSimulator):
        def prompt_text(self, context):
            seen.append(context.persona)
            return "x"

    run_closed_loop(world_for(0), ModelAgent(Recording(['{"rationale": "Bye.", "action": {"type": "terminate"}}'])), 2)
    assert len(seen) == 2 and all("budget" in p and "goal" not in p for p in seen)
