"""`evaluate_checkpoint`: a checkpoint's SPEC §3 figures on one split, beside the split's ceilings.

Generates a completion for every RL example of the split (greedy, and sampled at the settings'
temperature), scores both and the best constant policy through one path (`scoring.score`), and
writes report.md, confusion.png, metrics.json, predictions.jsonl and summary.json into `out_dir`
at once (a failed run leaves a previous `out_dir` as it was). Nothing is truncated: an example
whose prompt leaves no room for `max_new_tokens` within the model's positions is skipped and
counted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from shopr1.evaluation.data import load_rl_examples, split_ceilings
from shopr1.evaluation.scoring import Scored, best_constant_action, score_passes
from shopr1.evaluation.settings import EvalSettings
from shopr1.metrics import EvalResult
from shopr1.modeling.load import CheckpointError
from shopr1.schema import Action, parse_prediction

log = logging.getLogger(__name__)


class EvalSummary(BaseModel):
    """What one evaluation measured and where it wrote it."""

    model_config = ConfigDict(frozen=True)

    metrics: dict[str, float]  # flat names (see shopr1.evaluation.scoring); sampled ones under `sampled/`
    ceilings: dict[str, Any] | None
    files: dict[str, Path]  # report, confusion, metrics, predictions, summary
    decodings: list[str]  # the passes that ran, the headline (unprefixed metrics) first
    examples: int  # evaluated (after skipping the over-long ones)
    skipped_too_long: int = 0
    seconds: float
    tokens_per_second: float  # generated tokens per second of generation, all passes together


def load_for_evaluation(checkpoint: Path, device: str = "auto", dtype: str = "float32"):
    """(model in eval mode, tokenizer) of a Hugging Face checkpoint folder (safetensors only)."""
    import torch
    from transformers.utils import logging as hf_logging

    from shopr1.modeling.load import check_checkpoint, load_model_and_tokenizer

    try:
        check_checkpoint(checkpoint, "checkpoint")
    except CheckpointError as exc:
        raise CheckpointError(
            f"{exc}; pass --model the folder a training run saved (config.json, *.safetensors and "
            "the tokenizer), e.g. the checkpoint `shopr1 train sft` printed"
        ) from None
    hf_logging.disable_progress_bar()  # the CLI draws its own bar
    model, tokenizer = load_model_and_tokenizer(checkpoint, dtype=dtype)
    if tokenizer.chat_template is None:
        raise CheckpointError(f"the tokenizer in {checkpoint} has no chat template; save one with the model")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval(), tokenizer


def tokenize_prompts(tokenizer, examples: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Each example's prompt messages through the chat template, ready for the assistant's turn."""
    return [
        list(tokenizer.apply_chat_template(
            list(e["prompt"]), add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"])
        for e in examples
    ]


def _write_predictions(
    path: Path, examples: Sequence[Mapping[str, Any]], passes: Mapping[str, Any]
) -> None:
    from shopr1.matching import DEFAULT_MATCHER, as_gold_action
    from shopr1.metrics import predicted_action

    with open(path, "w", encoding="utf-8") as fh:
        for decoding, generation in passes.items():
            groups = generation.samples or [None] * len(examples)
            for example, text, tokens, group in zip(
                examples, generation.texts, generation.new_tokens, groups, strict=True
            ):
                parsed = parse_prediction(text)
                action = parsed.prediction.action if parsed.prediction is not None else None
                gold = as_gold_action(example["gold_action"])
                row = {
                    "decoding": decoding,
                    "session_id": example["session_id"],
                    "step_index": example["step_index"],
                    "step_kind": example["step_kind"],
                    "completion": text,
                    "action": action.to_json_dict() if action is not None else None,
                    "parse_error": parsed.error,
                    "gold": gold.to_json_dict(),
                    "exact": DEFAULT_MATCHER.exact_match(action, gold),
                    "new_tokens": tokens,
                }
                if group is not None:  # what the consensus chose from: other decision rules replay offline
                    row["sample_actions"] = [
                        a.to_json_dict() if (a := predicted_action(t)) is not None else None for t in group
                    ]
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_predictions(path: Path, decoding: str | None = None) -> list[dict[str, Any]]:
    """The rows `_write_predictions` wrote to `path` (predictions.jsonl), only `decoding`'s if given
    (greedy, sampled, vote), in file order."""
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return rows if decoding is None else [row for row in rows if row["decoding"] == decoding]


def _headroom_basis_note(baseline: float, scored_constant: float) -> str:
    """Why the constant of the headroom table can differ from the constant scored above."""
    if f"{100 * baseline:.2f}" == f"{100 * scored_constant:.2f}":  # equal as the tables show them
        return ""
    return (
        f" The constant ({100 * baseline:.2f}) and the ceilings here are the build's expectations"
        " over every step of the split under the shoppers' own action probabilities, one basis for"
        f" all three; the constant scored on the evaluated steps above is {100 * scored_constant:.2f}."
    )


def _report_markdown(
    *,
    checkpoint: Path,
    split: str,
    settings: EvalSettings,
    scored: Scored,
    ceilings: Mapping[str, Any] | None,
    constant: tuple[Action, str],
    skipped: int,
    tokens_per_second: float,
) -> str:
    from shopr1.report import headroom_markdown, per_kind_markdown, per_type_markdown, table2_markdown

    constant_action, constant_source = constant
    ceilings = ceilings or {}
    first = next(iter(scored.results.values()))
    exact_only = {
        label: ceilings[key]
        for label, key in (("goal-blind ceiling", "goal_blind"), ("oracle ceiling", "oracle"))
        if ceilings.get(key) is not None
    }
    sections = [
        f"# Evaluation of `{checkpoint}` on split `{split}`",
        f"{first.n} examples from {first.n_sessions} sessions"
        + (f"; {skipped} skipped because their prompt leaves fewer than {settings.max_new_tokens} "
           "positions for the answer (lower `data.max_context_tokens` or `evaluate.max_new_tokens`)" if skipped else "")
        + f". Decoding: greedy and sampled at temperature {settings.temperature:g} (no top-k/top-p)"
        + (f", and consensus: of {settings.vote_samples} samples at temperature {settings.vote_temperature:g}, "
           "the one whose action agrees with most of them under exact match" if settings.vote_samples else "")
        + f"; at most {settings.max_new_tokens} new tokens; {tokens_per_second:,.1f} generated tokens/s. "
        f"Constant policy: `{json.dumps(constant_action.to_json_dict())}`, {constant_source}.",
        "## Action prediction (%)",
        table2_markdown(scored.results, exact_only=exact_only),
        f"Cells: estimate [95% bootstrap interval, sessions resampled {first.n_bootstrap} times]. "
        "Ceilings (exact match only, over every step of the split): the oracle knows the shopper's "
        "hidden goal; the goal-blind ceiling predicts best from what the context shows.",
        "## Per type (%)",
        per_type_markdown(scored.results),
        "## Exact match per step kind (%)",
        per_kind_markdown(scored.by_kind, ceilings.get("by_kind")),
    ]
    if ceilings.get("goal_blind") is not None:
        models = {label: r.metrics["exact_match"] for label, r in scored.results.items() if label != "constant policy"}
        sections += [
            "## Against the ceilings",
            headroom_markdown(models, scored.headroom_baseline, ceilings["goal_blind"], ceilings.get("oracle")),
            "Share of headroom closed = (model − constant) / (goal-blind − constant)."
            + _headroom_basis_note(scored.headroom_baseline, scored.constant_exact),
        ]
    lines = vs_constant_lines(scored.metrics, scored.passes, pass_labels(settings))
    if lines:
        sections += ["## Against the constant policy (exact match, points)", "\n".join(f"- {line}" for line in lines)]
    sections.append("![confusion matrix of the headline decoding](confusion.png)")
    return "\n\n".join(sections) + "\n"


def pass_labels(settings: EvalSettings) -> dict[str, str]:
    """How reports name each decoding pass."""
    return {"sampled": f"sampled (T={settings.temperature:g})",
            "vote": f"consensus of {settings.vote_samples} samples (T={settings.vote_temperature:g})"}


def vs_constant_lines(metrics: Mapping[str, float], decodings: Sequence[str],
                      labels: Mapping[str, str] | None = None) -> list[str]:
    """One line per decoding: its exact match minus the constant policy's on the same steps
    (sessions resampled once for both) and whether the two marginal 95% intervals are apart."""
    lines = []
    for i, name in enumerate(decodings):
        prefix = "" if i == 0 else f"{name}/"
        point = metrics.get(f"{prefix}vs_constant/exact_match")
        if point is None:
            continue
        low, high = metrics.get(f"{prefix}vs_constant/exact_match_ci_low"), metrics.get(f"{prefix}vs_constant/exact_match_ci_high")
        interval = f" [{100 * low:+.1f}, {100 * high:+.1f}]" if low is not None and high is not None else ""
        model_low, model_high = metrics.get(f"{prefix}exact_match_ci_low"), metrics.get(f"{prefix}exact_match_ci_high")
        constant_low, constant_high = metrics.get("constant/exact_match_ci_low"), metrics.get("constant/exact_match_ci_high")
        apart = ""
        if None not in (model_low, model_high, constant_low, constant_high):
            if model_low > constant_high:
                apart = "; above the constant with the marginal 95% intervals apart"
            elif model_high < constant_low:
                apart = "; below the constant with the marginal 95% intervals apart"
            else:
                apart = "; the marginal 95% intervals overlap"
        label = (labels or {}).get(name, name)
        lines.append(f"{label} − constant: {100 * point:+.1f} points{interval}, paired by session{apart}")
    return lines


def _vote_pass(model, tokenizer, prompts: Sequence[list[int]], settings: EvalSettings,
               progress: Callable[[int], None] | None):
    """The consensus pass: `vote_samples` completions per prompt at `vote_temperature`, and of
    each prompt's samples the one whose action agrees with most of them (`consensus`). Its
    tokens and seconds count every sample generated."""
    from shopr1.evaluation.consensus import consensus
    from shopr1.evaluation.generate import Generation, generate

    n = settings.vote_samples
    done = 0

    def per_prompt(rows: int) -> None:  # the bar counts prompts, as the other passes do
        nonlocal done
        before, done = done // n, done + rows
        if progress is not None and done // n > before:
            progress(done // n - before)

    samples = generate(
        model, tokenizer, prompts, max_new_tokens=settings.max_new_tokens, batch_tokens=settings.batch_tokens,
        temperature=settings.vote_temperature, seed=settings.seed + 1, progress=per_prompt, samples_per_prompt=n,
    )
    groups = [samples.texts[k * n:(k + 1) * n] for k in range(len(prompts))]
    tokens = [sum(samples.new_tokens[k * n:(k + 1) * n]) for k in range(len(prompts))]
    return Generation(texts=consensus(groups), new_tokens=tokens, seconds=samples.seconds, samples=groups)


def passes_per_example(settings: EvalSettings) -> int:
    """How many decoding passes `evaluate_checkpoint` reports progress for, per example."""
    return (2 if settings.greedy else 1) + (1 if settings.vote_samples else 0)


OUTPUT_FILES = {"report": "report.md", "confusion": "confusion.png", "metrics": "metrics.json",
                "predictions": "predictions.jsonl", "summary": "summary.json"}


def _write_outputs(out_dir: Path, examples: Sequence[Mapping[str, Any]], passes: Mapping[str, Any],
                   headline: EvalResult, headline_label: str, metrics: Mapping[str, float],
                   summary: Mapping[str, Any], report: str) -> dict[str, Path]:
    """Every output file at once: a failure leaves a previous `out_dir` untouched."""
    from shopr1.atomic import atomic_dir
    from shopr1.report import plot_confusion_matrix

    with atomic_dir(out_dir) as tmp:
        _write_predictions(tmp / OUTPUT_FILES["predictions"], examples, passes)
        plot_confusion_matrix(headline, tmp / OUTPUT_FILES["confusion"], title=headline_label)
        (tmp / OUTPUT_FILES["metrics"]).write_text(json.dumps(dict(metrics), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / OUTPUT_FILES["summary"]).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        (tmp / OUTPUT_FILES["report"]).write_text(report, encoding="utf-8")
    return {key: out_dir / name for key, name in OUTPUT_FILES.items()}


def _fitting(rows: Sequence[Mapping[str, Any]], prompts: Sequence[list[int]], limit: int) -> tuple[list[int], list[dict[str, Any]]]:
    """Indices of the prompts that leave room for the answer, and a note of each one skipped."""
    keep = [i for i, p in enumerate(prompts) if len(p) <= limit]
    skipped = [
        {"session_id": rows[i]["session_id"], "step_index": rows[i]["step_index"], "prompt_tokens": len(p)}
        for i, p in enumerate(prompts) if len(p) > limit
    ]
    return keep, skipped


def evaluate_checkpoint(
    checkpoint: Path,
    dataset_dir: Path,
    *,
    split: str = "test",
    settings: EvalSettings | None = None,
    out_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> EvalSummary:
    """Generate, score and report a checkpoint on one split (SPEC §3); see the module docstring.

    `progress(n)` is called as examples finish, once per decoding pass: the total is
    `count_rl_examples(dataset_dir, split, settings.max_examples)` × `passes_per_example(settings)`.
    """
    from shopr1.evaluation.generate import generate
    from shopr1.modeling.load import context_length

    settings = settings or EvalSettings()
    started = time.perf_counter()
    checkpoint, dataset_dir, out_dir = Path(checkpoint), Path(dataset_dir), Path(out_dir)
    rows = load_rl_examples(dataset_dir, split, settings.max_examples)
    model, tokenizer = load_for_evaluation(checkpoint, settings.device, settings.dtype)
    prompts = tokenize_prompts(tokenizer, rows)
    max_positions = context_length(model)
    keep, skipped = _fitting(rows, prompts, max_positions - settings.max_new_tokens)
    decodings = {"greedy": None} if settings.greedy else {}
    decodings["sampled"] = settings.temperature
    if not keep:
        raise ValueError(
            f"all {len(rows)} examples of split {split!r} in {dataset_dir} are longer than the model's "
            f"{max_positions} positions minus evaluate.max_new_tokens={settings.max_new_tokens}: "
            "rebuild the data with a smaller data.max_context_tokens or lower evaluate.max_new_tokens"
        )
    if skipped:
        log.warning("%d of %d examples skipped: prompt leaves under %d positions for the answer",
                    len(skipped), len(rows), settings.max_new_tokens)
        if progress is not None:
            progress(len(skipped) * passes_per_example(settings))
    examples = [rows[i] for i in keep]
    passes = {
        name: generate(
            model, tokenizer, [prompts[i] for i in keep], max_new_tokens=settings.max_new_tokens,
            batch_tokens=settings.batch_tokens, temperature=temperature, seed=settings.seed, progress=progress,
        )
        for name, temperature in decodings.items()
    }
    if settings.vote_samples:
        passes["vote"] = _vote_pass(model, tokenizer, [prompts[i] for i in keep], settings, progress)
    generated = sum(sum(g.new_tokens) for g in passes.values())
    generation_seconds = sum(g.seconds for g in passes.values())
    tokens_per_second = generated / generation_seconds if generation_seconds > 0 else 0.0

    ceilings = split_ceilings(dataset_dir, split)
    constant_spec = (ceilings or {}).get("constant") or {}
    if constant_spec.get("action"):
        constant_action, source = Action(**constant_spec["action"]), "from the split's ceilings"
    else:
        constant_action = best_constant_action([e["gold_action"] for e in examples])
        source = "the best single action on these examples"
    scored = score_passes(
        examples, {name: g.texts for name, g in passes.items()}, constant_action=constant_action,
        ceilings=ceilings, labels=pass_labels(settings),
        n_bootstrap=settings.n_bootstrap, seed=settings.seed,
    )
    metrics = dict(scored.metrics)
    for name, generation in passes.items():
        metrics[f"tokens_per_second/{name}"] = generation.tokens_per_second
    metrics["tokens_per_second"] = tokens_per_second  # every pass together
    metrics["examples"] = float(len(examples))
    metrics["examples_skipped_too_long"] = float(len(skipped))

    headline = next(iter(scored.results))
    seconds = time.perf_counter() - started
    summary = {
        "checkpoint": str(checkpoint), "dataset_dir": str(dataset_dir), "split": split,
        "settings": settings.model_dump(), "examples": len(examples),
        "sessions": scored.results[headline].n_sessions, "max_positions": max_positions,
        "skipped_too_long": skipped, "ceilings": ceilings,
        "constant_policy": {"action": constant_action.to_json_dict(), "source": source},
        "prompt_tokens": sum(len(prompts[i]) for i in keep), "generated_tokens": generated,
        "generation_seconds": round(generation_seconds, 3), "tokens_per_second": round(tokens_per_second, 2),
        "seconds": round(seconds, 2), "confusion": {name: r.confusion for name, r in scored.results.items()},
    }
    report = _report_markdown(
        checkpoint=checkpoint, split=split, settings=settings, scored=scored, ceilings=ceilings,
        constant=(constant_action, source), skipped=len(skipped), tokens_per_second=tokens_per_second,
    )
    files = _write_outputs(out_dir, examples, passes, scored.results[headline], headline, metrics, summary, report)
    log.info("evaluated %s on %s/%s: %d examples in %.1f s", checkpoint, dataset_dir, split, len(examples), seconds)
    return EvalSummary(
        metrics=metrics, ceilings=ceilings, files=files, decodings=list(passes), examples=len(examples),
        skipped_too_long=len(skipped), seconds=seconds, tokens_per_second=tokens_per_second,
    )
