"""Benchmark: ingestion + data contracts on ShopWorld sessions (issue 2).

Generates ShopWorld logs with at least --steps steps, then runs the data stage (read → raw
contract → split → SFT/RL examples → examples contract → Parquet) in a fresh process per size,
reporting steps/s and the process's peak RSS. Two sizes show whether memory grows with data.

    python benchmarks/bench_ingest.py --steps 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from shopr1.data.build import BuildConfig, build_dataset
src, out, examples = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
t = time.perf_counter()
summary = build_dataset([src], out, BuildConfig(examples=examples))
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "steps": summary["steps_accepted"], "sessions": summary["sessions"]["in"],
                  "examples": summary["examples"]["built"], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BASELINE = """
import resource
import great_expectations, pandas, polars, shopr1.data.build
print(round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
"""


def generate(folder: Path, steps: int, page_size: str) -> dict:
    from shopr1.shopworld import ShopWorldConfig, write_shopworld

    sessions = max(100, steps // 4)
    while True:  # sessions needed for the step target (ShopWorld sessions vary in length)
        t = time.perf_counter()
        manifest = write_shopworld(folder, sessions=sessions, seed=0, config=ShopWorldConfig(page_size=page_size))
        manifest["generate_seconds"] = time.perf_counter() - t
        if manifest["steps"] >= steps:
            return manifest
        sessions = int(sessions * steps / manifest["steps"] * 1.05) + 1


def measure(src: Path, examples: bool) -> dict:
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(src), out, "1" if examples else "0"],
                              capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000, help="steps in the large run (a quarter in the small one)")
    parser.add_argument("--page-size", default="compact", choices=["compact", "realistic"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for steps in (args.steps // 4, args.steps):
            folder = Path(tmp) / f"sw{steps}"
            manifest = generate(folder, steps, args.page_size)
            src = folder / "sessions.jsonl"
            mb = src.stat().st_size / 2**20
            for examples in (False, True):
                r = measure(src, examples)
                rows.append((r["steps"], r["sessions"], mb, "validate+build" if examples else "validate",
                             r["steps"] / r["seconds"], r["seconds"], r["peak_rss_mb"], r["examples"]))
            print(f"generated {manifest['steps']:,} steps in {manifest['generate_seconds']:.1f} s", file=sys.stderr)
    print(f"| steps | sessions | input MB | stage | steps/s | seconds | peak RSS MB | examples |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    for steps, sessions, mb, stage, rate, sec, rss, ex in rows:
        print(f"| {steps:,} | {sessions:,} | {mb:.0f} | {stage} | {rate:,.0f} | {sec:.1f} | {rss:.0f} | {ex:,} |")
    base = subprocess.run([sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True).stdout.strip()
    print(f"\nbaseline: a process that only imports the stage's libraries (GX, pandas, polars) peaks at {base} MB")


if __name__ == "__main__":
    main()
