"""Context budgets on ShopWorld data: acceptance, stubbed SFT turns and RL pages dropped per budget.

    python benchmarks/bench_budgets.py --sessions 2000 --page-size realistic --budgets auto 16384
    python benchmarks/bench_budgets.py --page-size compact --tokenizer runs/tiny/model

Every step gets a placeholder rationale (as `data rationales` would add one), so SFT sessions are
built too; `auto` is the build's default (the budget chosen from the pages).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from shopr1.data.build import BuildConfig, BuildFailed, build_dataset
from shopr1.shopworld import ShopWorldConfig, iter_shopworld

RATIONALE = "I want a yellow insulated rain jacket under my budget, so this looks like the best next step for me."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--page-size", default="realistic")
    parser.add_argument("--budgets", nargs="+", default=["auto"])
    parser.add_argument("--tokenizer", default=None, help="local Hugging Face folder (default: the estimate)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sessions = Path(tmp) / "sessions.jsonl"
        with open(sessions, "w") as fh:
            config = ShopWorldConfig(page_size=args.page_size)
            for session, _ in iter_shopworld(args.sessions, seed=args.seed, config=config):
                steps = [s.model_copy(update={"rationale": RATIONALE}) for s in session.steps]
                fh.write(session.model_copy(update={"steps": steps}).model_dump_json(exclude_none=True) + "\n")
        for budget in args.budgets:
            started = time.perf_counter()
            build = BuildConfig(max_context_tokens=None if budget == "auto" else int(budget), tokenizer=args.tokenizer)
            try:
                summary = build_dataset([sessions], Path(tmp) / f"ds-{budget}", build)
            except BuildFailed as exc:
                summary = exc.summary
            ex = summary["examples"]
            print(json.dumps({
                "page_size": args.page_size, "budget": ex["context_budget"], "built": ex["built"],
                "accepted_share": round(1 - ex["quarantined"] / max(ex["built"], 1), 4),
                "sft_stubbed_turn_share": ex["sft_stubbed_turn_share"],
                "rl_pages_dropped_share": ex["rl_pages_dropped_share"],
                "seconds": round(time.perf_counter() - started, 1),
            }))


if __name__ == "__main__":
    main()
