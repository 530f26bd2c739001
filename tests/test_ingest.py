"""Ingestion (SPEC §4): canonical JSONL/Parquet and OPeRA Parquet → sessions → split examples."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest

from shopr1.data.build import BuildConfig, build_dataset
from shopr1.data.readers import detect_format, read_records
from shopr1.data.splits import parse_fractions, split_of
from shopr1.data.validate import to_session
from shopr1.schema import Session
from tests.conftest import make_session, write_jsonl

OPERA_EXTRA = ("click_type", "products", "page_meta")


def opera_frame(sessions: list[dict], *, shuffle: bool = True, seed: int = 0) -> pl.DataFrame:
    """Canonical sessions as OPeRA rows: one row per action, every column a string, rows shuffled."""
    rows = []
    kinds = {"click": "click", "type_and_submit": "input", "terminate": "terminate"}
    for s in sessions:
        for i, step in enumerate(s["steps"]):
            a = step["action"]
            rows.append({
                "session_id": s["session_id"], "action_id": f"{s['session_id']}-{i:03d}",
                "timestamp": f"2025-03-01T10:{i:02d}:00Z", "action_type": kinds[a["type"]],
                "click_type": "purchase" if a.get("name") == "product.buy_now" else ("search" if a["type"] != "click" else "product_link"),
                "semantic_id": a.get("name"), "simplified_html": step["page_html"],
                "rationale": step.get("rationale", ""), "input_text": a.get("text"),
                "products": "[]", "page_meta": "{}",
            })
    if shuffle:
        random.Random(seed).shuffle(rows)
    return pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})


@pytest.fixture
def canonical():
    return [make_session(f"s{i}", end="buy" if i % 3 == 0 else "terminate", rationales=True, pages=3 + i % 3) for i in range(12)]


def _sessions(path):
    return [to_session(r.data) for r in read_records(path)]


def test_opera_rows_become_ordered_canonical_sessions(tmp_path, canonical):
    path = tmp_path / "opera.parquet"
    opera_frame(canonical).write_parquet(path)
    assert detect_format(path) == "opera"
    got = {s.session_id: s for s in _sessions(path)}
    assert set(got) == {s["session_id"] for s in canonical}
    for s in canonical:
        session = got[s["session_id"]]
        assert [st.action.to_json_dict() for st in session.steps] == [st["action"] for st in s["steps"]]
        assert [st.page_html for st in session.steps] == [st["page_html"] for st in s["steps"]]
        assert [st.rationale for st in session.steps] == [st["rationale"] for st in s["steps"]]


def test_opera_build_equals_canonical_build(tmp_path, canonical):
    opera = tmp_path / "opera.parquet"
    opera_frame(canonical).write_parquet(opera)
    jsonl = write_jsonl(tmp_path / "canon.jsonl", canonical)
    a = build_dataset([opera], tmp_path / "a")
    b = build_dataset([jsonl], tmp_path / "b")
    assert a["examples"]["written"] == b["examples"]["written"]
    ra = pl.read_parquet(tmp_path / "a" / "rl" / "train").sort("session_id", "step_index")
    rb = pl.read_parquet(tmp_path / "b" / "rl" / "train").sort("session_id", "step_index")
    assert ra["gold_action"].to_list() == rb["gold_action"].to_list()


@pytest.mark.parametrize(
    "stamps",
    [
        ["999", "1000", "1001"],  # epoch strings of different widths
        ["2025-03-01T10:00:00+05:00", "2025-03-01T06:00:00+00:00", "2025-03-01T07:30:00Z"],  # mixed offsets
        ["2025-03-01T10:00:00", "2025-03-01T10:00:00", "2025-03-01T10:00:00"],  # ties: action_id decides
    ],
)
def test_opera_order_is_by_time_then_natural_action_id(tmp_path, stamps):
    session = make_session("t", pages=3)
    frame = opera_frame([session], shuffle=False).with_columns(
        pl.Series("timestamp", stamps), pl.Series("action_id", ["t-9", "t-10", "t-11"]))
    path = tmp_path / "opera.parquet"
    frame.reverse().write_parquet(path)
    [got] = _sessions(path)
    assert [s.action.to_json_dict() for s in got.steps] == [s["action"] for s in session["steps"]]
    summary = build_dataset([path], tmp_path / "out", BuildConfig(min_accepted_share=0, examples=False))
    assert summary["sessions"]["accepted"] == 1


def test_opera_purchase_click_type_counts_as_a_purchase(tmp_path):
    session = make_session("p", end="buy")
    session["steps"][-1]["action"]["name"] = "order_summary.submit"  # a name that does not say "buy"
    frame = opera_frame([session], shuffle=False).with_columns(
        pl.when(pl.col("semantic_id") == "order_summary.submit").then(pl.lit("purchase"))
        .otherwise(pl.col("click_type")).alias("click_type"))
    frame.write_parquet(tmp_path / "opera.parquet")
    summary = build_dataset([tmp_path / "opera.parquet"], tmp_path / "out", BuildConfig(examples=False))
    assert summary["sessions"]["accepted"] == 1
    write_jsonl(tmp_path / "same.jsonl", [session])  # the same session without click_type is rejected
    summary = build_dataset([tmp_path / "same.jsonl"], tmp_path / "out2", BuildConfig(min_accepted_share=0, examples=False))
    assert "session does not end in a purchase or terminate" in summary["sessions"]["reasons"]


def test_parquet_datetime_timestamps_are_read(tmp_path):
    from datetime import datetime

    rows = opera_frame([make_session("d")], shuffle=False).with_columns(
        pl.Series("timestamp", [datetime(2025, 3, 1, 10, i) for i in range(3)]))
    rows.write_parquet(tmp_path / "opera.parquet")
    summary = build_dataset([tmp_path / "opera.parquet"], tmp_path / "out", BuildConfig(examples=False))
    assert summary["sessions"]["accepted"] == 1
    [session] = [Session.model_validate_json(line) for line in (tmp_path / "out" / "sessions.accepted.jsonl").open()]
    assert session.steps[0].timestamp == "2025-03-01T10:00:00"


def test_a_rebuild_replaces_the_previous_outputs(tmp_path, canonical):
    big = write_jsonl(tmp_path / "big.jsonl", canonical + ["{bad"])
    build_dataset([big], tmp_path / "out", BuildConfig(min_accepted_share=0))
    small = write_jsonl(tmp_path / "small.jsonl", canonical[:2])
    summary = build_dataset([small], tmp_path / "out", BuildConfig())
    rl = pl.read_parquet(tmp_path / "out" / "rl" / "**" / "*.parquet")
    assert rl.height == sum(summary["examples"]["written"][k] for k in summary["examples"]["written"] if k.startswith("rl/"))
    assert set(rl["session_id"]) == {"s0", "s1"}
    assert not (tmp_path / "out" / "quarantine").exists()
    with pytest.raises(ValueError, match="inside the output of this build"):
        build_dataset([tmp_path / "out" / "sessions.accepted.jsonl"], tmp_path / "out")


def test_naive_timestamps_are_utc_whatever_the_machine_zone(monkeypatch):
    import time as time_module

    from shopr1.data.readers import parse_timestamp

    values = ["2025-03-01T10:00:00", "2025-03-01T10:00:00Z", "1740823200", 1740823200]
    for zone in ("UTC", "Asia/Kolkata", "America/New_York"):
        monkeypatch.setenv("TZ", zone)
        time_module.tzset()
        assert {parse_timestamp(v) for v in values} == {1740823200.0}
    monkeypatch.delenv("TZ")
    time_module.tzset()


def test_opera_unknown_action_type_is_quarantined(tmp_path, canonical):
    frame = opera_frame(canonical[:3], shuffle=False).with_columns(
        pl.when(pl.col("action_id") == "s1-001").then(pl.lit("hover")).otherwise(pl.col("action_type")).alias("action_type"))
    path = tmp_path / "opera.parquet"
    frame.write_parquet(path)
    summary = build_dataset([path], tmp_path / "out", BuildConfig(min_accepted_share=0))
    assert summary["sessions"]["quarantined"] == 1
    assert any("unknown action type" in r for r in summary["sessions"]["reasons"])


def test_canonical_parquet_reads_like_jsonl(tmp_path, canonical):
    path = tmp_path / "sessions.parquet"
    pl.DataFrame(canonical).write_parquet(path)
    assert detect_format(path) == "parquet"
    assert [s.session_id for s in _sessions(path)] == [s["session_id"] for s in canonical]


def test_unknown_inputs_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(read_records(tmp_path / "missing.jsonl"))
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="unknown file type '.csv'"):
        read_records(tmp_path / "x.csv")
    pl.DataFrame({"foo": [1]}).write_parquet(tmp_path / "odd.parquet")
    with pytest.raises(ValueError, match="neither a 'steps' column"):
        read_records(tmp_path / "odd.parquet")


def test_splits_are_seeded_stable_and_disjoint():
    ids = [f"session-{i}" for i in range(3000)]
    first = {i: split_of(i, seed=7) for i in ids}
    assert first == {i: split_of(i, seed=7) for i in reversed(ids)}
    assert first != {i: split_of(i, seed=8) for i in ids}
    shares = {s: sum(v == s for v in first.values()) / len(ids) for s in ("train", "val", "test")}
    assert shares["train"] == pytest.approx(0.8, abs=0.03) and shares["test"] == pytest.approx(0.1, abs=0.02)
    assert parse_fractions("train=0.5, test=0.5") == {"train": 0.5, "test": 0.5}
    with pytest.raises(ValueError, match="bad split spec"):
        parse_fractions("train:0.5")


def test_build_writes_split_examples_no_session_in_two_splits(tmp_path, canonical):
    src = write_jsonl(tmp_path / "in.jsonl", canonical)
    summary = build_dataset([src], tmp_path / "out", BuildConfig(chunk_sessions=5))
    sft = pl.read_parquet(tmp_path / "out" / "sft" / "**" / "*.parquet")
    rl = pl.read_parquet(tmp_path / "out" / "rl" / "**" / "*.parquet")
    assert sft.height == len(canonical) and rl.height == sum(len(s["steps"]) for s in canonical)
    by_session = rl.group_by("session_id").agg(pl.col("split").n_unique())
    assert by_session["split"].max() == 1
    assert set(zip(sft["session_id"], sft["split"], strict=True)) <= set(zip(rl["session_id"], rl["split"], strict=True))
    row = rl.filter((pl.col("session_id") == "s4") & (pl.col("step_index") == 2)).to_dicts()[0]
    assert json.loads(row["gold_action"]) == canonical[4]["steps"][2]["action"]
    assert [m["role"] for m in row["prompt"]] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert summary["examples"]["written"] == {
        f"{k}/{s}": n for k, frame in (("rl", rl), ("sft", sft)) for s, n in frame["split"].value_counts().iter_rows()
    }


def test_build_writes_one_part_per_chunk(tmp_path, canonical):
    """Examples are written chunk by chunk (what keeps memory flat; bench_ingest.py measures it)."""
    src = write_jsonl(tmp_path / "in.jsonl", canonical * 1)
    build_dataset([src], tmp_path / "out", BuildConfig(chunk_sessions=2, splits={"train": 1.0}))
    assert len(list((tmp_path / "out" / "rl" / "train").glob("part-*.parquet"))) == 6


def test_raw_html_steps_are_simplified_before_examples(tmp_path):
    raw = ('<html><head><script>track()</script><style>.x{}</style></head><body><div class="wrap"><div>'
           '<form role="search"><input type="search" placeholder="Search products"><button>Search</button></form>'
           '</div></div><img src="pixel.gif" width="1" height="1"></body></html>')
    session = make_session("raw")
    session["steps"][0] = {"raw_html": raw, "timestamp": 1.0,
                           "action": {"type": "type_and_submit", "name": "search_input", "text": "red running shoes"}}
    src = write_jsonl(tmp_path / "in.jsonl", [session])
    build_dataset([src], tmp_path / "out")
    accepted = Session.model_validate_json((tmp_path / "out" / "sessions.accepted.jsonl").read_text())
    page = accepted.steps[0].page_html
    assert 'name="search_input"' in page and "track()" not in page and "pixel.gif" not in page
