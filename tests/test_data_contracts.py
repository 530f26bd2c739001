"""Data contracts (SPEC §4): every bad row is quarantined with its reason, unchanged, and
accepted + quarantined = input, always."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopr1.contracts import ContractError, load_contract
from shopr1.data.build import BuildConfig, build_dataset
from tests.conftest import make_session, write_jsonl


def _broken(mutate):
    row = make_session("broken")
    mutate(row)
    return row


def _set(path, value):
    def mutate(row):
        target = row
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            target.pop(path[-1])
        else:
            target[path[-1]] = value
    return mutate


BAD_ROWS = {
    "malformed JSON": ('{"session_id": "x", "steps": [', "row is not a readable JSON object"),
    "JSON that is not an object": ("[1, 2, 3]", "row is not a readable JSON object"),
    "invalid UTF-8": (b'{"session_id": "caf\xe9"}', "row is not a readable JSON object"),
    "missing session_id": (_broken(_set(["session_id"], KeyError)), "missing session_id"),
    "missing action type": (_broken(_set(["steps", 1, "action", "type"], KeyError)), "missing or unknown action type"),
    "unknown action type": (_broken(_set(["steps", 1, "action", "type"], "scroll")), "missing or unknown action type"),
    "click without name": (_broken(_set(["steps", 1, "action", "name"], KeyError)), "click without a name"),
    "click with empty name": (_broken(_set(["steps", 1, "action", "name"], " ")), "click without a name"),
    "type_and_submit without text": (_broken(_set(["steps", 0, "action", "text"], KeyError)), "type_and_submit without text"),
    "type_and_submit without name": (_broken(_set(["steps", 0, "action", "name"], KeyError)), "type_and_submit without a name"),
    "empty session": ({"session_id": "e", "steps": []}, "empty session"),
    "no steps key": ({"session_id": "e"}, "empty session"),
    "unordered steps": (_broken(_set(["steps", 0, "timestamp"], 99.0)), "steps out of timestamp order"),
    "duplicate steps": (_broken(lambda r: r["steps"].insert(1, copy.deepcopy(r["steps"][0]))), "duplicate step"),
    "oversized HTML": (_broken(_set(["steps", 1, "page_html"], "<p>" + "x" * 5000 + "</p>")), "oversized page HTML"),
    "step without page": (_broken(_set(["steps", 1, "page_html"], KeyError)), "step without page_html or raw_html"),
    "step that is not an object": (_broken(_set(["steps", 1], "click")), "step is not an object"),
    "name of the wrong type": (_broken(_set(["steps", 1, "action", "name"], 12)), "a field has the wrong type"),
    "bad timestamp": (_broken(_set(["steps", 1, "timestamp"], "yesterday-ish")), "unparseable timestamp"),
    "does not end in purchase or terminate": (
        _broken(_set(["steps", 2, "action"], {"type": "click", "name": "pagination.next"})),
        "does not end in a purchase or terminate"),
    "terminate mid-session": (_broken(_set(["steps", 1, "action"], {"type": "terminate"})), "terminate before the last step"),
}


def _write_rows(path, rows):
    with open(path, "wb") as fh:
        for row in rows:
            if isinstance(row, bytes):
                fh.write(row + b"\n")
            else:
                fh.write((row if isinstance(row, str) else json.dumps(row)).encode() + b"\n")
    return path


def _quarantine(out):
    path = out / "quarantine" / "raw_sessions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _build(tmp_path, rows, **config):
    src = _write_rows(tmp_path / "in.jsonl", rows)
    cfg = BuildConfig(min_accepted_share=0.0, max_html_chars=4000, **config)
    return build_dataset([src], tmp_path / "out", cfg), tmp_path / "out"


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_each_bad_row_is_quarantined_with_its_reason(tmp_path, case):
    bad, reason = BAD_ROWS[case]
    good = [make_session(f"g{i}", end="buy" if i % 2 else "terminate") for i in range(3)]
    summary, out = _build(tmp_path, [*good, bad], examples=False)
    assert summary["sessions"] == {**summary["sessions"], "in": 4, "accepted": 3, "quarantined": 1}
    [entry] = _quarantine(out)
    assert entry["row"] == 3
    assert any(reason in r for r in entry["reasons"]), entry["reasons"]
    raw = base64.b64decode(entry["raw_b64"]) if "raw_b64" in entry else entry["raw"].encode()
    expected = bad if isinstance(bad, bytes) else (bad if isinstance(bad, str) else json.dumps(bad)).encode()
    assert raw.rstrip(b"\n") == expected  # the row exactly as it came in


def test_a_good_row_raises_no_reason(tmp_path):
    summary, out = _build(tmp_path, [make_session("a"), make_session("b", end="buy")])
    assert summary["sessions"]["quarantined"] == 0 and not _quarantine(out)


def test_duplicate_session_id_keeps_the_first(tmp_path):
    summary, out = _build(tmp_path, [make_session("same"), make_session("other"), make_session("same", end="buy")], examples=False)
    [entry] = _quarantine(out)
    assert entry["row"] == 2 and "duplicate session_id" in entry["reasons"][0]
    accepted = [json.loads(line) for line in (out / "sessions.accepted.jsonl").read_text().splitlines()]
    assert [s["session_id"] for s in accepted] == ["same", "other"]
    assert accepted[0]["steps"][-1]["action"] == {"type": "terminate"}


def test_unreadable_row_gets_only_the_read_reason(tmp_path):
    _, out = _build(tmp_path, [make_session("a"), "{oops"], examples=False)
    [entry] = _quarantine(out)
    assert entry["reasons"] == ["row is not a readable JSON object (malformed JSON or invalid UTF-8)"]
    assert entry["detail"].startswith("malformed JSON")


row_kinds = st.sampled_from(["good", *sorted(BAD_ROWS)])


@given(st.lists(row_kinds, min_size=1, max_size=25))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_accepted_plus_quarantined_equals_input(tmp_path_factory, kinds):
    tmp = tmp_path_factory.mktemp("mix")
    rows = [make_session(f"s{i}") if k == "good" else BAD_ROWS[k][0] for i, k in enumerate(kinds)]
    summary, out = _build(tmp, rows, chunk_sessions=4)
    s = summary["sessions"]
    assert s["in"] == len(rows) == s["accepted"] + s["quarantined"]
    assert s["accepted"] == kinds.count("good")
    accepted_lines = (out / "sessions.accepted.jsonl").read_text().splitlines()
    assert len(accepted_lines) == s["accepted"] and len(_quarantine(out)) == s["quarantined"]
    assert sorted(e["row"] for e in _quarantine(out)) == [i for i, k in enumerate(kinds) if k != "good"]


def test_run_stops_below_the_accepted_share_and_keeps_everything(tmp_path):
    rows = [make_session("a"), "{bad", "{bad", "{bad"]
    src = _write_rows(tmp_path / "in.jsonl", rows)
    with pytest.raises(ContractError, match=r"only 1 of 4 sessions \(25.0%\).*below the required 90%"):
        build_dataset([src], tmp_path / "out", BuildConfig(min_accepted_share=0.9))
    # A failed build leaves OUT as it was; the attempt's quarantine and summary go to OUT.failed.
    assert not (tmp_path / "out").exists()
    assert len(_quarantine(tmp_path / "out.failed")) == 3
    assert json.loads((tmp_path / "out.failed" / "summary.json").read_text())["sessions"]["quarantined"] == 3


def test_contracts_are_ge_suites_stored_as_json():
    for name in ("raw_sessions", "training_examples"):
        suite = load_contract(name)
        assert suite["name"] == name
        assert all(e["type"].startswith("expect_") and e["meta"]["reason"] for e in suite["expectations"])
    with pytest.raises(ValueError, match="unknown data contract 'nope'"):
        load_contract("nope")
    with pytest.raises(ValueError, match="no expectation on column 'nope'"):
        load_contract("raw_sessions", {"nope": {"max_value": 1}})


def test_examples_over_budget_or_without_rationales_are_quarantined(tmp_path):
    rows = [make_session("r", rationales=True), make_session("n"), make_session("half", rationales=True)]
    rows[2]["steps"][1].pop("rationale")
    summary, out = _build(tmp_path, rows)
    ex = summary["examples"]
    assert ex["sessions_without_rationales"] == 1  # "n": never synthesized, so no SFT example at all
    assert ex["reasons"] == {"missing rationale on an assistant turn (SFT needs one per step)": 1}
    assert ex["built"] == 2 + 9  # two SFT conversations + one RL example per step
    summary, out = _build(tmp_path, [make_session("big", rationales=True)], max_context_tokens=60)
    assert summary["examples"]["quarantined"] == summary["examples"]["built"]
    q = [json.loads(line) for line in (out / "quarantine" / "training_examples.jsonl").read_text().splitlines()]
    assert all("over the token budget" in e["reasons"][0] for e in q)
