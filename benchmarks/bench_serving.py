"""Next-action predictions per second through `mlflow models serve` (batched /invocations requests).

    python benchmarks/bench_serving.py                                  # a random tiny-cpu-sized model
    python benchmarks/bench_serving.py --model models:/shopr1-simulator@champion \
        --tracking-uri sqlite:///$PWD/runs/quickstart/mlflow.db         # the champion of `shopr1 run`

Requests are ShopWorld sessions cut at every step (the session so far), sent `--batch` records
per request, one request at a time after a warm-up. A random model never stops early, so it
writes `--max-new-tokens` every time (a trained one stops after its JSON): the random figure is
the worst case. Prints one JSON object: predictions/s end to end and in-process (pyfunc, no
HTTP), request latency, prompt tokens, and the server's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def contexts(n: int, seed: int) -> list[dict]:
    """`n` requests: ShopWorld sessions cut after every step, round-robin over sessions."""
    from shopr1.shopworld import iter_shopworld

    out = []
    for session, _ in iter_shopworld(max(8, n // 3), seed=seed):
        steps = [s.model_dump(mode="json", exclude_none=True) for s in session.steps]
        out.extend({"steps": json.dumps(steps[: i + 1])} for i in range(len(steps)))
        if len(out) >= n:
            break
    return out[:n]


def random_champion(root: Path, max_new_tokens: int, max_context_tokens: int, batch_tokens: int) -> str:
    """Register a random model of tiny-cpu's shape as champion in a store under `root`; its URI."""
    from shopr1 import registry, tracking
    from shopr1.modeling.tiny import build_tiny_model
    from shopr1.recipes import load_recipe
    from shopr1.registry_settings import PromotionSettings
    from shopr1.serving.simulator import SimulatorSettings
    from shopr1.shopworld import iter_shopworld

    model = load_recipe("tiny-cpu").model
    texts = [s.page_html for session, _ in iter_shopworld(30, seed=1) for s in session.steps]
    checkpoint = build_tiny_model(texts, root / "tiny", vocab_size=model.vocab_size, hidden_size=model.hidden_size,
                                  layers=model.layers, heads=model.heads, max_position_embeddings=model.max_position_embeddings)
    target = tracking.resolve_target(tracking.TrackingSettings(), root)
    experiment = tracking.use(target)
    settings = SimulatorSettings(max_new_tokens=max_new_tokens, max_context_tokens=max_context_tokens, batch_tokens=batch_tokens)
    with tracking.stage_run("register", experiment_id=experiment, system_metrics=False):
        version = registry.register_simulator(checkpoint, registry.EvalFigures(exact_match=0, per_type={}, split_hash="bench"),
                                              PromotionSettings(), simulator_settings_json=settings.model_dump_json())
    registry.promote(version.version, PromotionSettings())
    return target.uri


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="MLflow model URI (default: a random tiny-cpu-sized champion)")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--requests", type=int, default=128, help="contexts to predict in all")
    parser.add_argument("--batch", type=int, default=32, help="contexts per /invocations request")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--max-context-tokens", type=int, default=4096)
    parser.add_argument("--batch-tokens", type=int, default=65536, help="padded tokens per generation batch")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import httpx

    root = Path(tempfile.mkdtemp(prefix="shopr1-bench-serving-"))
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    model = args.model
    if model is None:
        uri = random_champion(root, args.max_new_tokens, args.max_context_tokens, args.batch_tokens)
        model = "models:/shopr1-simulator@champion"
    records = contexts(args.requests, args.seed)

    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    loaded = mlflow.pyfunc.load_model(model)
    loaded.predict(records[: min(4, len(records))])  # warm-up
    started = time.perf_counter()
    for i in range(0, len(records), args.batch):
        loaded.predict(records[i:i + args.batch])
    in_process = len(records) / (time.perf_counter() - started)

    port = 5100 + os.getpid() % 800
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", model, "--env-manager", "local",
                               "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - t0 > 180 or server.poll() is not None:
                raise SystemExit("mlflow models serve did not come up")
            time.sleep(0.5)
        startup = time.perf_counter() - t0
        with httpx.Client(timeout=600) as client:
            client.post(f"{base}/invocations", json={"dataframe_records": records[:4]}).raise_for_status()
            latencies = []
            started = time.perf_counter()
            for i in range(0, len(records), args.batch):
                t = time.perf_counter()
                reply = client.post(f"{base}/invocations", json={"dataframe_records": records[i:i + args.batch]})
                reply.raise_for_status()
                latencies.append(time.perf_counter() - t)
            served = len(records) / (time.perf_counter() - started)
        worker_rss = [peak_rss_mb(int(p)) for p in subprocess.run(["pgrep", "-g", str(server.pid)], capture_output=True,
                                                                   text=True).stdout.split()]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    from shopr1.prompts import approx_tokens

    prompt_chars = [len(r["steps"]) for r in records]
    result = {
        "model": model, "requests": len(records), "batch": args.batch, "max_new_tokens": args.max_new_tokens,
        "predictions_per_s_served": round(served, 2), "predictions_per_s_in_process": round(in_process, 2),
        "request_latency_s_p50": round(sorted(latencies)[len(latencies) // 2], 3),
        "mean_context_tokens_approx": round(sum(approx_tokens("x" * c) for c in prompt_chars) / len(prompt_chars)),
        "server_startup_s": round(startup, 1),
        "server_peak_rss_mb": round(max((r for r in worker_rss if r), default=0), 1),
        "cores": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
