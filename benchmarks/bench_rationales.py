"""Benchmark rationale synthesis: teacher throughput under injected latency, and cache-hit speed.

    python benchmarks/bench_rationales.py --sessions 100 --latency 0.05 0.2 --concurrency 1 4 16 64

Starts the fault-injecting chat completions server from tests/ on 127.0.0.1 in its own process
(each reply delayed by `--latency` seconds), runs the stage with the OpenAI-compatible backend at each concurrency on a
fresh cache, then re-runs against the warm cache; also times the heuristic backend. Sessions come
from ShopWorld (compact pages). Prints a Markdown table; `--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from chat_server import ChatServer

from shopr1.rationales import RetryPolicy, SynthesisSettings, make_backend, synthesize_file
from shopr1.shopworld import iter_shopworld


def _serve(latency: float, urls: mp.Queue, stop: mp.Event) -> None:
    with ChatServer(latency=latency) as server:
        urls.put(server.url)
        stop.wait()


@contextmanager
def chat_server_process(latency: float) -> Iterator[str]:
    """The chat server in its own process, so it does not share the client's GIL."""
    urls, stop = mp.Queue(), mp.Event()
    proc = mp.Process(target=_serve, args=(latency, urls, stop), daemon=True)
    proc.start()
    try:
        yield urls.get(timeout=30)
    finally:
        stop.set()
        proc.join(timeout=10)


def write_sample(path: Path, sessions: int, seed: int) -> int:
    steps = 0
    with open(path, "w", encoding="utf-8") as fh:
        for session, _ in iter_shopworld(sessions, seed=seed):
            fh.write(session.model_dump_json(exclude_none=True) + "\n")
            steps += len(session.steps)
    return steps


def timed_run(src: Path, out: Path, backend, cache: Path, concurrency: int) -> dict:
    settings = SynthesisSettings(concurrency=concurrency, timeout=30.0, retry=RetryPolicy(max_attempts=2))
    started = time.perf_counter()
    summary = synthesize_file(src, out, backend, cache_path=cache, settings=settings)
    seconds = time.perf_counter() - started
    # Cold runs: rationales the teacher wrote per second. Warm runs: steps served from the cache per second.
    served = summary.done or summary.cached
    return {"steps": summary.steps, "done": summary.done, "cached": summary.cached, "failed": summary.failed,
            "seconds": round(seconds, 3), "per_second": round(served / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.05, 0.2])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        src = tmp / "sessions.jsonl"
        steps = write_sample(src, args.sessions, args.seed)
        print(f"{args.sessions} ShopWorld sessions, {steps} steps\n")
        for latency in args.latency:
            with chat_server_process(latency) as url:
                for concurrency in args.concurrency:
                    cache = tmp / f"cache-{latency}-{concurrency}.sqlite"
                    backend = make_backend("openai", base_url=url, model="bench", timeout=30.0)
                    cold = timed_run(src, tmp / "out.jsonl", backend, cache, concurrency)
                    warm = timed_run(src, tmp / "out.jsonl", backend, cache, concurrency)
                    rows.append({"backend": "openai", "latency_s": latency, "concurrency": concurrency,
                                 "cold": cold, "warm": warm, "ideal_per_second": round(concurrency / latency, 1)})
        heuristic = make_backend("heuristic")
        cold = timed_run(src, tmp / "out.jsonl", heuristic, tmp / "cache-heuristic.sqlite", 8)
        warm = timed_run(src, tmp / "out.jsonl", heuristic, tmp / "cache-heuristic.sqlite", 8)
        rows.append({"backend": "heuristic", "latency_s": 0.0, "concurrency": 8, "cold": cold, "warm": warm,
                     "ideal_per_second": None})

    print("| backend | latency (s) | concurrency | rationales/s (cold) | ideal c/latency | steps/s from cache |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ideal = "—" if r["ideal_per_second"] is None else r["ideal_per_second"]
        print(f"| {r['backend']} | {r['latency_s']} | {r['concurrency']} | {r['cold']['per_second']} | {ideal} "
              f"| {r['warm']['per_second']} |")
    if args.json:
        args.json.write_text(json.dumps({"sessions": args.sessions, "steps": steps, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
