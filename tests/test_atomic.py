"""Atomic outputs: a finished block replaces the folder or file whole, a failed one leaves it byte
for byte as it was and leaves no temporary behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shopr1.atomic import atomic_dir, atomic_write_text, swap_in, temp_path_beside


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path → sha256), so two states compare byte for byte."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _fill(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


@pytest.fixture
def previous(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    _fill(out, {"a.txt": "old a", "sub/b.bin": "old b", "keep.sqlite": "cache"})
    return out


def test_a_finished_block_replaces_the_folder_whole(tmp_path, previous):
    with atomic_dir(previous) as work:
        assert work.parent == previous.parent and work.name.startswith(".out.tmp-")
        assert tree(previous)["a.txt"]  # the old output is readable while the new one is built
        _fill(work, {"a.txt": "new a"})
    assert (previous / "a.txt").read_text() == "new a"
    assert not (previous / "sub").exists() and not (previous / "keep.sqlite").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary left


def test_a_failed_block_leaves_the_folder_byte_for_byte(tmp_path, previous):
    before = tree(previous)
    with pytest.raises(RuntimeError, match="half-way"), atomic_dir(previous) as work:
        _fill(work, {"a.txt": "new a", "c.txt": "new c"})
        raise RuntimeError("failed half-way")
    assert tree(previous) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_new_output_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "deep" / "new"
    with pytest.raises(ValueError), atomic_dir(target) as work:
        _fill(work, {"x": "1"})
        raise ValueError("no")
    assert not target.exists()
    with atomic_dir(target) as work:
        _fill(work, {"x": "2"})
    assert tree(target) == {"x": hashlib.sha256(b"2").hexdigest()}


@pytest.mark.parametrize("exchange", [True, False])
def test_carry_keeps_named_old_entries_and_the_new_output_wins(tmp_path, previous, exchange):
    new = temp_path_beside(previous)
    new.mkdir()
    _fill(new, {"a.txt": "new a"})
    swap_in(new, previous, carry=lambda name: name != "sub", exchange=exchange)
    assert (previous / "a.txt").read_text() == "new a"  # present in both: the new one
    assert (previous / "keep.sqlite").read_text() == "cache"  # only in the old one, carried
    assert not (previous / "sub").exists()  # only in the old one, not carried
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_file_where_a_folder_belongs_is_refused_and_kept(tmp_path):
    target = tmp_path / "out"
    target.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="is a file"), atomic_dir(target):
        pass
    assert target.read_text() == "not a folder"


def test_atomic_write_text_replaces_whole_or_not_at_all(tmp_path):
    path = tmp_path / "summary.json"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "caf\u00e9", encoding="ascii")  # fails while writing
    assert path.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
