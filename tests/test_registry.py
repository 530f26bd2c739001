"""The registry: versions with their artifacts and tags, aliases, the promotion rule, no half-registered version."""

from __future__ import annotations

import pytest

mlflow = pytest.importorskip("mlflow")

from orchestration import fresh_store, tiny_checkpoint  # noqa: E402

from shopr1 import registry, tracking  # noqa: E402
from shopr1.registry import CHALLENGER, CHAMPION, COMPLETE_TAG, EvalFigures, decide  # noqa: E402
from shopr1.registry_settings import PromotionSettings  # noqa: E402

SETTINGS = PromotionSettings()
NAME = SETTINGS.model_name


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture
def experiment(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fresh_store(tmp_path)
    experiment_id = tracking.use(tracking.resolve_target(tracking.TrackingSettings(), tmp_path))
    yield experiment_id
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def figures(exact: float, click: float | None = None, split: str = "split-a") -> EvalFigures:
    return EvalFigures(exact_match=exact, per_type={"click": exact if click is None else click, "terminate": exact},
                       split_hash=split)


def register(experiment_id, checkpoint, fig, **kwargs):
    with tracking.stage_run("register", experiment_id=experiment_id, system_metrics=False):
        return registry.register_simulator(checkpoint, fig, SETTINGS, simulator_settings_json='{"max_new_tokens": 8}', **kwargs)


def aliases() -> dict[str, str | None]:
    return {a: (str(v.version) if (v := registry.alias_version(NAME, a)) else None) for a in (CHALLENGER, CHAMPION)}


@pytest.mark.parametrize(
    ("challenger", "champion", "promoted", "why"),
    [
        (figures(0.30), None, True, "no champion yet"),
        (figures(0.30), figures(0.25), True, "beats"),
        (figures(0.25), figures(0.25), False, "does not beat"),  # equal is not better
        (figures(0.30, click=0.10), figures(0.25, click=0.15), False, "exact_match/click drops by 0.0500"),
        (figures(0.30, click=0.14), figures(0.25, click=0.15), True, "beats"),  # a drop within the tolerance
    ],
)
def test_the_promotion_rule(challenger, champion, promoted, why):
    decided, reason, _, _ = decide(challenger, champion, SETTINGS)
    assert decided is promoted and why in reason


def test_the_margin_counts_and_different_splits_are_refused():
    assert decide(figures(0.26), figures(0.25), PromotionSettings(margin=0.02))[0] is False
    assert decide(figures(0.28), figures(0.25), PromotionSettings(margin=0.02))[0] is True
    with pytest.raises(ValueError, match="different splits"):
        decide(figures(0.3), figures(0.2, split="split-b"), SETTINGS)


def test_versions_carry_the_model_tags_and_aliases_and_promote_only_when_better(experiment, checkpoint):
    first = register(experiment, checkpoint, figures(0.20))
    assert registry.promote(first.version, SETTINGS).promoted
    assert aliases() == {CHALLENGER: first.version, CHAMPION: first.version}

    worse = register(experiment, checkpoint, figures(0.15))
    decision = registry.promote(worse.version, SETTINGS)
    assert not decision.promoted and decision.champion_version == first.version
    assert aliases() == {CHALLENGER: worse.version, CHAMPION: first.version}
    tags = mlflow.MlflowClient().get_model_version(NAME, worse.version).tags
    assert tags["promotion.decision"] == "kept champion"
    assert float(tags["promotion.delta"]) == pytest.approx(-0.05)
    assert tags["eval.split_hash"] == "split-a" and tags[COMPLETE_TAG] == "true"

    forced = registry.promote(worse.version, SETTINGS, force=True)
    assert forced.promoted and forced.forced and "forced by hand" in forced.reason
    assert aliases()[CHAMPION] == worse.version

    better = register(experiment, checkpoint, figures(0.30))
    assert registry.promote(better.version, SETTINGS).promoted
    assert aliases() == {CHALLENGER: better.version, CHAMPION: better.version}
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@{CHAMPION}")
    assert set(model.metadata.signature.inputs.input_names()) == {"steps"}
    assert {"rationale", "action", "error"} <= set(model.metadata.signature.outputs.input_names())
    local = registry.Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}@{CHAMPION}"))
    carried = {p.name for p in (local / "artifacts" / "checkpoint").iterdir()}
    assert {"model.safetensors", "tokenizer.json", "config.json", "simulator.json"} <= carried
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in carried)
    assert (local / "simulator_model.py").is_file() or any(local.rglob("simulator_model.py"))  # loaded from code, no pickle


def test_a_champion_scored_on_another_split_is_re_evaluated_or_not_compared(experiment, checkpoint):
    old = register(experiment, checkpoint, figures(0.40, split="old-split"))
    registry.promote(old.version, SETTINGS)
    new = register(experiment, checkpoint, figures(0.30, split="new-split"))
    refused = registry.promote(new.version, SETTINGS)
    assert not refused.promoted and "another test split" in refused.reason
    seen = []

    def on_new_split(champion_version, challenger):
        seen.append((champion_version.version, challenger.split_hash))
        return figures(0.20, split=challenger.split_hash)

    decision = registry.promote(new.version, SETTINGS, evaluate_on_split=on_new_split)
    assert seen == [(str(old.version), "new-split")] or seen == [(int(old.version), "new-split")]
    assert decision.promoted and decision.champion.exact_match == 0.20


def test_a_fault_during_registration_leaves_no_half_registered_version(experiment, checkpoint):
    kept = register(experiment, checkpoint, figures(0.20))
    registry.promote(kept.version, SETTINGS)
    for step in ("created", "tagged", "aliased"):

        def fault(where: str, step: str = step) -> None:
            if where == step:
                raise ConnectionError(f"registry went away after {where}")

        with pytest.raises(ConnectionError):
            register(experiment, checkpoint, figures(0.50), fault=fault)
        versions = mlflow.MlflowClient().search_model_versions(f"name = '{NAME}'")
        assert [str(v.version) for v in versions] == [kept.version], step
        assert aliases() == {CHALLENGER: kept.version, CHAMPION: kept.version}, step


def test_a_version_left_by_a_killed_registration_is_swept_and_cannot_be_promoted(experiment, checkpoint):
    kept = register(experiment, checkpoint, figures(0.20))
    client = mlflow.MlflowClient()
    with mlflow.start_run(experiment_id=experiment) as run:  # the killed process's run, ended since
        pass
    orphan = client.create_model_version(NAME, source=client.get_model_version(NAME, kept.version).source, run_id=run.info.run_id)
    with pytest.raises(registry.RegistryError, match="incomplete"):
        registry.promote(orphan.version, SETTINGS)
    assert registry.sweep_incomplete(NAME) == [str(orphan.version)]
    assert [str(v.version) for v in client.search_model_versions(f"name = '{NAME}'")] == [kept.version]


def test_shopr1_promote_applies_the_rule_by_hand_and_force_overrides_it(experiment, checkpoint, tmp_path):
    from typer.testing import CliRunner

    from shopr1.cli import app

    first = register(experiment, checkpoint, figures(0.30))
    registry.promote(first.version, SETTINGS)
    worse = register(experiment, checkpoint, figures(0.20))
    runner = CliRunner()
    kept = runner.invoke(app, ["promote", worse.version, "--run-dir", str(tmp_path)])
    assert kept.exit_code == 0, kept.output
    assert "not promoted" in kept.output and "exact_match" in kept.output
    assert aliases()[CHAMPION] == first.version
    forced = runner.invoke(app, ["promote", worse.version, "--force", "--run-dir", str(tmp_path)])
    assert forced.exit_code == 0 and "(forced)" in forced.output
    assert aliases()[CHAMPION] == worse.version
    missing = runner.invoke(app, ["promote", "99", "--run-dir", str(tmp_path)])
    assert missing.exit_code == 2 and "has no version 99" in missing.output
