"""A training stage killed mid-run resumes from its last checkpoint when run again with the same
inputs, and starts clean when its inputs changed (the stage folder remembers its fingerprint)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("trl")

from train_helpers import tiny_dataset, tiny_recipe  # noqa: E402

from shopr1 import stages  # noqa: E402

pytestmark = pytest.mark.slow
SETS = ("sft.max_steps=8", "sft.save_steps=2")

CHILD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from train_helpers import tiny_recipe
    from shopr1 import stages
    args = json.loads(sys.argv[2])
    slow = lambda step, total, logs: time.sleep(0.5)  # leave time to kill it between checkpoints
    stages.sft(tiny_recipe(*args["sets"]), stages.Ref(**args["dataset"]), Path(args["out"]), progress=slow)
""")


def _complete(folder: Path) -> bool:
    from shopr1.train.common import is_complete_checkpoint

    return folder.is_dir() and is_complete_checkpoint(folder)


def test_a_killed_sft_resumes_from_its_checkpoint_and_changed_inputs_start_clean(tmp_path):
    dataset = stages.Ref.of(tiny_dataset(tmp_path / "data"))
    out = tmp_path / "sft"
    args = {"sets": list(SETS), "dataset": dataset.model_dump(mode="json"), "out": str(out)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(Path(__file__).parent), json.dumps(args)],
                             env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not _complete(out / "checkpoint-2"):
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint-2 within 240 s"
            time.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
    assert not (out / "final").exists()

    marker = json.loads((out / "stage.json").read_text())
    assert marker["fingerprint"] == stages.fingerprint("sft", recipe=tiny_recipe(*SETS), dataset=dataset), (marker, stages.code_version())
    resumed = stages.sft(tiny_recipe(*SETS), dataset, out)
    assert resumed.metrics()["sft/resumed_from_step"] >= 2
    assert resumed.metrics()["global_step"] == 8 and resumed.checkpoint.intact()

    changed = stages.sft(tiny_recipe(*SETS, "sft.learning_rate=1e-3"), dataset, out)
    assert changed.metrics()["sft/resumed_from_step"] == 0  # other work: the folder was emptied first
    assert json.loads((out / "stage.json").read_text())["fingerprint"] == stages.fingerprint(
        "sft", recipe=tiny_recipe(*SETS, "sft.learning_rate=1e-3"), dataset=dataset)
