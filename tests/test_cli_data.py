"""The data CLI as a user runs it: generate → validate → build, the main job, and clear errors."""

from __future__ import annotations

import json

import polars as pl
from typer.testing import CliRunner

from shopr1.cli import app

runner = CliRunner()


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


def test_main_job_runs_end_to_end(tmp_path):
    code, out = invoke("run", "--out", tmp_path, "--sessions", 40)
    assert code == 0, out
    summary = json.loads((tmp_path / "dataset" / "summary.json").read_text())
    assert summary["sessions"]["accepted"] == 40
    assert summary["examples"]["sessions_without_rationales"] == 0
    sft = pl.read_parquet(tmp_path / "dataset" / "sft" / "**" / "*.parquet")
    assert sft.height == 40
    first_turn = json.loads(sft["messages"][0][2]["content"])
    assert first_turn["rationale"] and first_turn["action"]["type"]


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
    assert code == 2 and "page_size" in out


def test_help_explains_every_command():
    for args in (["--help"], ["data", "--help"], ["data", "build", "--help"], ["run", "--help"]):
        code, out = invoke(*args)
        assert code == 0 and "Usage" in out
