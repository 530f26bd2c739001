"""The data CLI as a user runs it: generate → validate → build and clear errors (the main job, `shopr1 run`, is in test_flow);
a command that fails leaves what an earlier run wrote byte for byte as it was."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from shopr1.cli import app

runner = CliRunner(env={"COLUMNS": "1000"})  # no wrapping inside the long paths messages name


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def test_generate_validate_build(tmp_path):
    code, out = invoke("data", "generate", "--out", tmp_path / "sw", "--sessions", 60, "--seed", 3)
    assert code == 0, out
    manifest = json.loads((tmp_path / "sw" / "manifest.json").read_text())
    assert manifest["sessions"] == 60 and "oracle_ceiling" in out

    code, out = invoke("data", "validate", tmp_path / "sw" / "sessions.jsonl", "--out", tmp_path / "v")
    assert code == 0, out
    assert "60 accepted (100.0%)" in out
    assert len((tmp_path / "v" / "sessions.accepted.jsonl").read_text().splitlines()) == 60

    code, out = invoke("data", "build", tmp_path / "sw" / "sessions.jsonl", "--out", tmp_path / "d", "--max-tokens", 4096)
    assert code == 0, out
    assert "sessions have no rationales" in out  # ShopWorld logs, like real ones, have none
    rl = pl.read_parquet(tmp_path / "d" / "rl" / "**" / "*.parquet")
    assert rl.height == manifest["steps"]
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert set(summary["oracle_ceiling"]) <= {"train", "val", "test"}

    # --persona: every prompt's system turn carries the shopper's persona, never their goal.
    code, out = invoke("data", "build", tmp_path / "sw" / "sessions.jsonl", "--out", tmp_path / "p", "--max-tokens", 4096, "--persona")
    assert code == 0, out
    systems = [p[0]["content"] for p in pl.read_parquet(tmp_path / "p" / "rl" / "**" / "*.parquet")["prompt"].to_list()]
    assert len(systems) == rl.height and all("About you: budget $" in s and "goal" not in s for s in systems)
    assert not any("About you" in p[0]["content"] for p in rl["prompt"].to_list())


def test_errors_name_the_bad_input(tmp_path):
    code, out = invoke("data", "validate", tmp_path / "nope.jsonl")
    assert code == 2 and "nope.jsonl: no such file" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{broken\n" * 5)
    code, out = invoke("data", "build", bad, "--out", tmp_path / "o")
    assert code == 2
    assert "only 0 of 5 sessions" in out and "quarantine" in out
    code, out = invoke("data", "build", bad, "--splits", "train:1")
    assert code == 2 and "bad split spec" in out
    code, out = invoke("data", "generate", "--out", tmp_path / "g", "--page-size", "huge")
    assert code == 2 and "'--page-size'" in out and "'compact', 'realistic'" in out
    assert not (tmp_path / "g").exists()


def test_help_explains_every_command():
    for args in (["--help"], ["data", "--help"], ["data", "build", "--help"], ["run", "--help"]):
        code, out = invoke(*args)
        assert code == 0 and "Usage" in out


# --- a failed command loses nothing ------------------------------------------------------------------

def tree(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path → sha256)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shopworld(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sw") / "shopworld"
    code, out = invoke("data", "generate", "--out", folder, "--sessions", 30, "--seed", 5)
    assert code == 0, out
    return folder


def test_a_generate_folder_is_an_input_and_means_its_session_files(tmp_path, shopworld):
    code, out = invoke("data", "build", shopworld, "--out", tmp_path / "d")
    assert code == 0, out
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["inputs"] == [str(shopworld / "sessions.jsonl")]  # not policy.jsonl, catalog.json, manifest.json
    assert summary["sessions"]["accepted"] == 30 and summary["oracle_ceiling"]  # policy.jsonl found beside it


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda tmp, sw: tmp / "missing.jsonl", "missing.jsonl: no such file or folder"),
        (lambda tmp, sw: _touch(tmp / "empty.jsonl", ""), "empty.jsonl is empty"),
        (lambda tmp, sw: _touch(tmp / "sessions.csv", "a,b\n"), "unknown file type '.csv'"),
        (lambda tmp, sw: _touch(tmp / "broken.parquet", "not parquet"), "broken.parquet: not a readable Parquet file"),
        (lambda tmp, sw: _folder(tmp / "nothing", {"notes.txt": "hi", "catalog.json": "{}"}),
         "is a folder without session files"),
        (lambda tmp, sw: sw / "catalog.json", "is ShopWorld's product catalog, not sessions"),
    ],
)
def test_a_build_whose_input_is_unusable_stops_before_touching_the_dataset(tmp_path, shopworld, make_input, message):
    dataset = tmp_path / "dataset"
    code, out = invoke("data", "build", shopworld, "--out", dataset)
    assert code == 0, out
    (dataset / "rationale_cache.sqlite").write_bytes(b"kept beside the outputs")
    before = tree(dataset)
    bad = make_input(tmp_path, shopworld)
    code, out = invoke("data", "build", shopworld / "sessions.jsonl", bad, "--out", dataset)
    assert code == 2 and message in out, out
    assert tree(dataset) == before  # byte for byte
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_a_build_below_the_accepted_share_keeps_the_dataset_and_names_its_quarantine(tmp_path, shopworld):
    dataset = tmp_path / "dataset"
    assert invoke("data", "build", shopworld, "--out", dataset)[0] == 0
    (dataset / "rationale_cache.sqlite").write_bytes(b"kept")
    before = tree(dataset)
    bad = _touch(tmp_path / "bad.jsonl", "{broken\n" * 5)
    code, out = invoke("data", "build", bad, "--out", dataset)
    failed = tmp_path / "dataset.failed"
    assert code == 2 and "only 0 of 5 sessions" in out
    assert f"{failed}/quarantine/raw_sessions.jsonl" in out and f"{dataset} was left as it was" in out
    assert tree(dataset) == before
    assert len((failed / "quarantine" / "raw_sessions.jsonl").read_text().splitlines()) == 5
    assert json.loads((failed / "summary.json").read_text())["files"]["quarantine"] == str(failed / "quarantine" / "raw_sessions.jsonl")
    # A rebuild that succeeds replaces the outputs, keeps the other files, drops the failed attempt.
    assert invoke("data", "build", shopworld, "--out", dataset, "--seed", 1)[0] == 0
    assert not failed.exists() and (dataset / "rationale_cache.sqlite").read_bytes() == b"kept"
    assert json.loads((dataset / "summary.json").read_text())["config"]["seed"] == 1


def test_validate_that_fails_keeps_the_previous_validated_folder(tmp_path, shopworld):
    validated = tmp_path / "validated"
    assert invoke("data", "validate", shopworld, "--out", validated)[0] == 0
    before = tree(validated)
    mixed = _touch(tmp_path / "mixed.jsonl", (shopworld / "sessions.jsonl").read_text().splitlines()[0] + "\n{bad\n")
    code, out = invoke("data", "validate", mixed, "--out", validated)
    assert code == 2 and "only 1 of 2 sessions" in out
    assert tree(validated) == before and (tmp_path / "validated.failed" / "quarantine" / "raw_sessions.jsonl").exists()


def test_generate_that_fails_half_way_keeps_the_previous_files(tmp_path):
    from shopr1.cli.data import generate_shopworld
    from shopr1.shopworld import ShopWorldConfig

    out = tmp_path / "sw"
    assert invoke("data", "generate", "--out", out, "--sessions", 8)[0] == 0
    (out / "dataset").mkdir()
    (out / "dataset" / "summary.json").write_text("{}")  # something built there later
    before = tree(out)

    def interrupted(n):
        raise KeyboardInterrupt  # the user pressed Ctrl-C part-way

    with pytest.raises(KeyboardInterrupt):
        generate_shopworld(out, sessions=40, seed=9, config=ShopWorldConfig(), progress=interrupted)
    assert tree(out) == before and [p.name for p in tmp_path.iterdir()] == ["sw"]
    assert invoke("data", "generate", "--out", out, "--sessions", 9)[0] == 0  # a finished one replaces them
    assert json.loads((out / "manifest.json").read_text())["sessions"] == 9
    assert (out / "dataset" / "summary.json").read_text() == "{}"  # and keeps what is not its own


def _touch(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return path


# --- the generator's knobs -------------------------------------------------------------------------

def test_generate_help_lists_the_choices():
    code, out = invoke("data", "generate", "--help")
    assert code == 0
    for text in ("compact|realistic", "--results-per-page", "--slug-words", "--catalog-size", "--mix", "--config", "--set"):
        assert text in out
    from shopr1.shopworld import ShopWorldConfig

    if "name_style" in ShopWorldConfig.model_fields:
        assert "slug|short|index" in out


def test_generate_knobs_reach_the_world(tmp_path):
    from shopr1.shopworld import ShopWorldConfig

    style = ["--name-style", "index"] if "name_style" in ShopWorldConfig.model_fields else []
    code, out = invoke("data", "generate", "--out", tmp_path / "sw", "--sessions", 12, "--results-per-page", 3,
                       "--slug-words", 3, "--catalog-size", 60, *style,
                       "--mix", "click=0.5,type_and_submit=0.3,terminate=0.2", "--set", "behaviour.bounce=0.2")
    assert code == 0, out
    config = json.loads((tmp_path / "sw" / "manifest.json").read_text())["config"]
    assert (config["results_per_page"], config["slug_words"], config["catalog_size"]) == (3, 3, 60)
    assert config["target_mix"] == {"click": 0.5, "type_and_submit": 0.3, "terminate": 0.2}
    assert config["behaviour"]["bounce"] == 0.2
    if style:
        assert config["name_style"] == "index"
        clicked = re.findall(r'"name":\s*"(search_results\.[^"]+)"', (tmp_path / "sw" / "sessions.jsonl").read_text())
        assert clicked and all(re.fullmatch(r"search_results\.\d+\.\w+", name) for name in clicked)


def test_generate_reads_a_yaml_config_that_options_and_set_override(tmp_path):
    (tmp_path / "world.yaml").write_text("page_size: compact\nslug_words: 4\ncatalog_size: 50\nbehaviour:\n  bounce: 0.3\n  abandon_cart: 0.5\n")
    code, out = invoke("data", "generate", "--out", tmp_path / "sw", "--sessions", 5, "--config", tmp_path / "world.yaml",
                       "--slug-words", 6, "--set", "behaviour.bounce=0.05")
    assert code == 0, out
    config = json.loads((tmp_path / "sw" / "manifest.json").read_text())["config"]
    assert (config["slug_words"], config["catalog_size"]) == (6, 50)  # the option beats the file
    assert (config["behaviour"]["bounce"], config["behaviour"]["abandon_cart"]) == (0.05, 0.5)  # --set beats it too


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug-words", 40], "error: --slug-words: Input should be less than or equal to 12 (got 40)"),
        (["--results-per-page", 0], "error: --results-per-page: Input should be greater than or equal to 1 (got 0)"),
        (["--mix", "click=0.5"], "error: --mix: give a share for each of click, type_and_submit, terminate"),
        (["--mix", "click=x,type_and_submit=1,terminate=1"], "error: --mix: click='x' is not a number"),
        (["--mix", "click=-1,type_and_submit=1,terminate=1"], "error: --mix: click: Input should be greater than 0 (got -1.0)"),
        (["--set", "behaviour.bounc=0.1"], "error: --set behaviour.bounc=0.1: unknown setting behaviour.bounc; known: "),
        (["--set", "behaviour.bounce=2"], "error: --set behaviour.bounce=2: Input should be less than or equal to 1 (got 2)"),
        (["--set", "slug_words"], "error: --set: override 'slug_words' is not of the form section.key=value"),
        (["--config", "nowhere.yaml"], "error: --config nowhere.yaml: cannot be read"),
        (["--config", "list.yaml"], "error: --config list.yaml: expected a mapping of settings, got a YAML list"),
        (["--config", "bad.yaml"], "error: --config bad.yaml: behaviour.bounce: Input should be less than or equal to 1 (got 7)"),
    ],
)
def test_a_bad_generator_setting_is_one_line_naming_the_option(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "bad.yaml").write_text("behaviour:\n  bounce: 7\n")
    result = runner.invoke(app, ["data", "generate", "--out", "sw", "--sessions", "3", *map(str, args)], catch_exceptions=False)
    out = " ".join(result.output.split())
    assert result.exit_code == 2 and out.startswith(message), out
    assert "Traceback" not in out and not (tmp_path / "sw").exists()
