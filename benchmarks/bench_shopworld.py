"""ShopWorld generation benchmark: throughput, page sizes, action mix and ceilings (oracle,
goal-blind, best constant) for compact and realistic pages (one core, files written as in
`shopr1 data generate`, the manifest's ceilings included).

    python benchmarks/bench_shopworld.py     # 32,000 compact (~90k steps), 3,000 realistic
    python benchmarks/bench_shopworld.py --compact 5000 --realistic 500 --preset paper-like
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shopr1.shopworld import ShopWorldConfig, oracle_ceiling, write_shopworld  # noqa: E402

SAMPLE_SESSIONS = 2000


def page_kind(url: str) -> str:
    path = url.split("shopworld.example", 1)[1]
    return {"/": "home", "/cart": "cart"}.get(path) or {
        "s": "results",
        "c": "category",
        "p": "product",
    }[path[1]]


def page_sizes(sessions_path: Path) -> dict[str, float]:
    """Mean characters per page kind, streamed from sessions.jsonl."""
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with open(sessions_path, encoding="utf-8") as f:
        for line in f:
            for step in json.loads(line)["steps"]:
                total = sizes[page_kind(step["url"])]
                total[0] += len(step["page_html"])
                total[1] += 1
    every = [sum(v[0] for v in sizes.values()), sum(v[1] for v in sizes.values())]
    return {k: round(s / n) for k, (s, n) in {**sizes, "all": every}.items()}


def bench(page_size: str, sessions: int, out: Path, preset: str = "default") -> dict:
    start = time.perf_counter()
    config = ShopWorldConfig(preset=preset, page_size=page_size)
    manifest = write_shopworld(out, sessions, seed=0, config=config)
    seconds = time.perf_counter() - start
    c = manifest["ceilings"]
    sample = {f"shopworld-0-{i:06d}" for i in range(min(SAMPLE_SESSIONS, sessions))}
    return {
        "preset": preset,
        "page_size": page_size,
        "sessions": sessions,
        "steps": manifest["steps"],
        "seconds": round(seconds, 1),
        "sessions_per_s": round(sessions / seconds),
        "steps_per_s": round(manifest["steps"] / seconds),
        "mb_written": round(sum(p.stat().st_size for p in out.iterdir()) / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "action_mix": manifest["action_mix"],
        "purchase_rate": manifest["purchase_rate"],
        "mean_steps_per_session": manifest["mean_steps_per_session"],
        "oracle_ceiling_all": manifest["oracle_ceiling"],
        "goal_blind_all": c["goal_blind"],
        "constant_all": c["constant"],
        "headroom_all": c["headroom"],
        f"oracle_ceiling_first_{len(sample)}": round(
            oracle_ceiling(out / "policy.jsonl", sample), 4
        ),
        "page_chars": page_sizes(out / "sessions.jsonl"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--compact", type=int, default=32_000, help="compact sessions (~3.15 steps each)"
    )
    parser.add_argument("--realistic", type=int, default=3_000, help="realistic sessions")
    parser.add_argument("--preset", default="default", choices=["default", "paper-like"])
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the files here (default: a temp dir)"
    )
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench_shopworld_"))
    try:
        for page_size, sessions in (("compact", args.compact), ("realistic", args.realistic)):
            print(json.dumps(bench(page_size, sessions, root / page_size, args.preset)), flush=True)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
