"""Outputs that a failure cannot half-write: build beside the target, swap in only when complete.

`atomic_dir` hands out a fresh temporary folder next to `out`; when the block ends normally the
folder takes `out`'s place (on Linux in one atomic exchange, so a reader never finds `out` missing),
and when it raises, the folder is removed and `out` is left exactly as it was. `atomic_write_text`
does the same for one file. Temporaries sit beside the target so the final rename never crosses
file systems.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def temp_path_beside(target: Path, kind: str = "tmp") -> Path:
    """`.<name>.<kind>-<pid>` next to `target` (with a counter if that name is taken)."""
    base = target.parent / f".{target.name}.{kind}-{os.getpid()}"
    candidate, n = base, 0
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    logger.debug("renameat2 exchange unavailable (errno %d); swapping by two renames", ctypes.get_errno())
    return False


def _swap_by_rename(new: Path, out: Path) -> Path:
    """Move `out` aside, move `new` into its place; return where the old contents went."""
    old = temp_path_beside(out, "old")
    os.rename(out, old)
    try:
        os.rename(new, out)
    except OSError:
        os.rename(old, out)  # put the previous output back before reporting
        raise
    return old


def swap_in(new: Path, out: Path, *, carry: Callable[[str], bool] | None = None, exchange: bool = True) -> None:
    """Put the folder `new` at `out`; the previous `out` is deleted only once `new` is in place.

    Entries of the previous `out` for which `carry(name)` is true and that `new` lacks are moved
    into the new folder first (files that other stages keep there, such as a rationale cache).
    When the swap itself fails, `new` is removed and `out` is as it was.
    """
    try:
        if not out.exists():
            os.rename(new, out)
            return
        if exchange and _exchange(new, out):
            old = new  # after the exchange, `new`'s path holds the previous contents
        else:
            old = _swap_by_rename(new, out)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    try:
        for entry in sorted(old.iterdir()) if carry else ():
            if carry(entry.name) and not (out / entry.name).exists():
                os.rename(entry, out / entry.name)
    except OSError as exc:
        raise OSError(f"{out} was replaced, but moving {exc.filename} across failed ({exc.strerror}); "
                      f"the previous contents are kept in {old}") from exc
    shutil.rmtree(old)


@contextmanager
def atomic_dir(out: str | Path, *, carry: Callable[[str], bool] | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `out`; on success it becomes `out`, on error it vanishes.

    `carry` names entries of an existing `out` to keep (see `swap_in`); by default the new folder
    replaces the old one whole.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with atomic_dir(root / "data") as tmp:
    ...     _ = (tmp / "a.txt").write_text("new")
    >>> (root / "data" / "a.txt").read_text()
    'new'
    >>> try:
    ...     with atomic_dir(root / "data") as tmp:
    ...         raise RuntimeError("boom")
    ... except RuntimeError:
    ...     pass
    >>> (root / "data" / "a.txt").read_text(), sorted(p.name for p in root.iterdir())
    ('new', ['data'])
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file; the output must be a folder (or not exist yet)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(out)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if tmp.is_dir():  # else the block moved its result elsewhere itself
        swap_in(tmp, out, carry=carry)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(path)
    try:
        with open(tmp, "w", encoding=encoding) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
