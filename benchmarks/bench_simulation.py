"""Closed-loop simulation speed and fidelity: ground-truth visits/s, simulator visits/s and
steps/s (batched generation), and the simulator's fidelity against the ground truth.

    python benchmarks/bench_simulation.py --model runs/quickstart/sft/final --sessions 100

The A/B figures come from the CLI itself:
    shopr1 abtest --model ground-truth -n 300 --no-mlflow      # the noise floor of the design
    shopr1 abtest --model CKPT_OR_URI -n 300                   # the simulator
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint folder or MLflow URI (omit: ground truth only)")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--sessions", type=int, default=100, help="simulated visitors")
    parser.add_argument("--truth-sessions", type=int, default=2000, help="ground-truth visitors")
    parser.add_argument("--temperature", type=float, default=1.0)
    args = parser.parse_args()

    from shopr1.simulation import fidelity
    from shopr1.simulation.closed_loop import GroundTruthAgent, ModelAgent, run_closed_loop, world_for

    world = world_for(0)
    started = time.perf_counter()
    truth = run_closed_loop(world, GroundTruthAgent(), args.truth_sessions)
    seconds = time.perf_counter() - started
    out = {"truth": {**truth.summary(), "visits_per_s": round(args.truth_sessions / seconds, 1)}}
    if args.model:
        import torch

        from shopr1.cli.simulate import load_simulator

        torch.manual_seed(0)
        simulator = load_simulator(args.model, args.tracking_uri)
        started = time.perf_counter()
        sim = run_closed_loop(world, ModelAgent(simulator, temperature=args.temperature), args.sessions)
        seconds = time.perf_counter() - started
        summary = sim.summary()
        attempts = sum(o["steps"] + o["unparsed"] for o in sim.outcomes)
        out["simulator"] = {**summary, "visits_per_s": round(args.sessions / seconds, 2),
                            "model_calls_per_s": round(attempts / seconds, 2)}
        a = [fidelity._record(s, o) for s, o in zip(truth.sessions, truth.outcomes, strict=True)]
        by_id = {s.session_id: s for s in sim.sessions}
        b = [fidelity._record(by_id.get(o["session_id"]), o) for o in sim.outcomes]
        result = fidelity.compare(a, b)
        out["fidelity"] = {k: {"diff": m["diff"], "ci": m["ci"], "b": m["b"]} for k, m in result["metrics"].items()}
        out["jsd"] = {k: d["jsd"] for k, d in result["divergences"].items()}
        print(fidelity.markdown(result, "truth", "simulator"))
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
