"""Training throughput against this machine's limit, GRPO step cost of self-certainty, eval speed.

    python benchmarks/bench_train.py --data runs/quickstart/dataset --sft-steps 30 --grpo-steps 4
    python benchmarks/bench_train.py --sessions 60 --sft-steps 10 --grpo-steps 3   # builds its own data

- SFT tokens/s of the tiny-cpu model (measured after the first logged step) against the limit
  F / (6·N) where F is the fp32 matmul FLOP/s measured in the same run and N the parameters; and
  against F / (6·N + 12·L·T·d), which also counts attention (L layers, width d, T the mean length).
- GRPO seconds per step with α = 0 (no self-certainty forward) and α > 0; and the cost of the
  self-certainty forward itself on a step's batch with every completion token scored (the worst
  case: a random model writes no rationale, so its real overhead is ~0).
- Evaluation: new tokens/s of batched generation with a KV cache, and `evaluate_checkpoint` on a
  few examples when the evaluation stage is installed.
- Peak resident memory of the process.
Prints one JSON object (and writes it to --out when given).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def matmul_flops(size: int = 1024, seconds: float = 3.0) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        n += 1
    return 2 * size**3 * n / (time.perf_counter() - start)


def build_data(root: Path, sessions: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import train_helpers

    train_helpers.SESSIONS = sessions
    return train_helpers.tiny_dataset(root)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def steady_rate(history: list[dict], key: str) -> float | None:
    """(Δ key) / (Δ elapsed) between the first and last logged rows: excludes start-up."""
    logged = [r for r in history if key in r and "elapsed_s" in r]
    if len(logged) < 2:
        return None
    return (logged[-1][key] - logged[0][key]) / (logged[-1]["elapsed_s"] - logged[0]["elapsed_s"])


def seconds_per_step(history: list[dict]) -> float | None:
    logged = [r for r in history if "loss" in r]
    if len(logged) < 2:
        return None
    return (logged[-1]["elapsed_s"] - logged[0]["elapsed_s"]) / (logged[-1]["step"] - logged[0]["step"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="dataset folder (default: build one with --sessions)")
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--recipe", default="tiny-cpu")
    parser.add_argument("--sft-steps", type=int, default=10)
    parser.add_argument("--grpo-steps", type=int, default=3)
    parser.add_argument("--eval-examples", type=int, default=8)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    import torch
    from transformers.utils import logging as hf_logging

    from shopr1.modeling import load_model_and_tokenizer
    from shopr1.recipes import load_recipe
    from shopr1.train.grpo import train_grpo
    from shopr1.train.online_certainty import completion_self_certainty
    from shopr1.train.sft import train_sft

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    data = args.data or build_data(work / "data", args.sessions)
    report: dict = {"recipe": args.recipe, "sets": args.sets, "torch_threads": torch.get_num_threads()}

    flops = matmul_flops()
    report["fp32_matmul_gflops"] = flops / 1e9

    sft_recipe = load_recipe(args.recipe, [f"sft.max_steps={args.sft_steps}", "sft.max_minutes=null",
                                           "sft.save_steps=100000", *args.sets])
    sft = train_sft(sft_recipe, data, work / "sft")
    model, tokenizer = load_model_and_tokenizer(sft.checkpoint)
    n_params = sum(p.numel() for p in model.parameters())
    cfg = model.config
    mean_len = sft.metrics["sft/tokens_per_epoch"] / max(sft.metrics["sft/examples"], 1)
    tokens_per_s = steady_rate(rows(sft.history_path), "num_tokens")
    limit_6n = flops / (6 * n_params)
    limit_attn = flops / (6 * n_params + 12 * cfg.num_hidden_layers * mean_len * cfg.hidden_size)
    report["sft"] = {
        "parameters": n_params, "mean_tokens_per_session": mean_len, "tokens_per_s": tokens_per_s,
        "limit_6N_tokens_per_s": limit_6n, "share_of_6N": tokens_per_s / limit_6n if tokens_per_s else None,
        "limit_with_attention_tokens_per_s": limit_attn,
        "share_with_attention": tokens_per_s / limit_attn if tokens_per_s else None,
        "seconds_per_step": seconds_per_step(rows(sft.history_path)),
        "dropped_too_long_share": sft.metrics["sft/dropped_too_long_share"],
    }

    grpo = {}
    for label, alpha in (("without_self_certainty", 0.0), ("with_self_certainty", 0.005)):
        recipe = load_recipe(args.recipe, [f"grpo.max_steps={args.grpo_steps}", "grpo.max_minutes=null",
                                           "grpo.save_steps=100000", f"grpo.rewards.alpha={alpha}", *args.sets])
        result = train_grpo(recipe, data, work / f"grpo-{label}", init_checkpoint=sft.checkpoint)
        history = rows(result.history_path)
        grpo[label] = {"seconds_per_step": seconds_per_step(history),
                       "scored_share": result.metrics.get("self_certainty/scored_share/run_mean")}
    # Worst case: one step's batch of full-length completions, every token a rationale token.
    g = recipe.grpo
    import polars as pl

    frame = pl.read_parquet(sorted((data / "rl" / "train").glob("*.parquet")))
    prompts = frame["prompt"].to_list()[: g.per_device_batch_size * g.gradient_accumulation_steps]
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    prompt_ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    completions = [[5] * g.max_completion_length for _ in prompt_ids]
    start = time.perf_counter()
    completion_self_certainty(model, prompt_ids, completions, [[True] * len(c) for c in completions],
                              pad_id=tokenizer.pad_token_id, chunk=g.self_certainty_chunk)
    forward = time.perf_counter() - start
    base_step = grpo["without_self_certainty"]["seconds_per_step"]
    grpo["self_certainty_forward_full_batch_s"] = forward
    grpo["worst_case_overhead_share"] = forward / base_step if base_step else None
    report["grpo"] = grpo

    batch = [torch.tensor(ids) for ids in prompt_ids[:8]]
    width = max(len(b) for b in batch)
    ids = torch.stack([torch.cat([torch.full((width - len(b),), tokenizer.pad_token_id), b]) for b in batch])
    mask = (torch.arange(width)[None, :] >= (width - torch.tensor([len(b) for b in batch]))[:, None]).long()
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=64, min_new_tokens=64, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    report["generation"] = {"batch": len(batch), "prompt_tokens": width,
                            "new_tokens_per_s": (out.shape[1] - width) * len(batch) / (time.perf_counter() - start)}
    try:
        from shopr1.evaluation import evaluate_checkpoint
        from shopr1.evaluation.settings import EvalSettings

        start = time.perf_counter()
        evaluate_checkpoint(sft.checkpoint, data, split="test", out_dir=work / "eval",
                            settings=EvalSettings(max_examples=args.eval_examples, greedy=False, n_bootstrap=50))
        seconds = time.perf_counter() - start
        report["evaluate"] = {"examples": args.eval_examples, "seconds": seconds,
                              "examples_per_s": args.eval_examples / seconds}
    except ImportError as exc:
        report["evaluate"] = {"skipped": str(exc)}
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = json.dumps(report, indent=2, default=float)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
