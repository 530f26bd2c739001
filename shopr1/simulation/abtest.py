"""Synthetic A/B tests: does the simulator react to a site change the way the real shoppers do?

A variants file (YAML) names a control store and site changes as ShopWorld config overrides:

```yaml
seed: 0                 # the world (catalog, visitors)
sessions: 300           # visitors per arm
base: {}                # the control store (ShopWorldConfig overrides)
variants:
  - name: prices-up-20
    description: every price +20%
    set: {site: {price_factor: 1.2}}
```

For control and each variant, ShopWorld's ground-truth shoppers and the simulator each shop with
the same visitors (visitor i is the same person in every arm), so effects are paired:
per variant, the effect (variant − control) on purchase and bounce rate for both, with 95%
intervals from resampling visitors; over all variants, the directional agreement (the simulator's
effect has the true effect's sign) and the Pearson correlation of the effects.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shopr1.shopworld.config import ShopWorldConfig, _merge
from shopr1.simulation.closed_loop import (
    GroundTruthAgent,
    is_bounce,
    run_closed_loop,
    world_for,
    write_run,
)

DRAWS = 1000
DEFAULT_VARIANTS = Path(__file__).with_name("variants.yaml")


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    set: dict[str, Any] = Field(default_factory=dict, description="ShopWorldConfig overrides over the base")


class VariantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    sessions: int = Field(300, ge=2, description="visitors per arm for the simulator")
    truth_sessions: int | None = Field(
        None, ge=2, description="visitors per arm for the ground truth (cheap; default max(sessions, 2000))"
    )
    base: dict[str, Any] = Field(default_factory=dict)
    variants: list[Variant] = Field(min_length=1)

    @property
    def n_truth(self) -> int:
        return self.truth_sessions or max(self.sessions, 2000)

    def config(self, variant: Variant | None = None) -> ShopWorldConfig:
        return ShopWorldConfig(**_merge(self.base, variant.set if variant else {}))


def load_variants(path: Path) -> VariantsFile:
    """Read and validate a variants file; every variant's config is built once, so a wrong key
    is one message naming the file, the variant and the key."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the variants file ({exc})") from None
    try:
        spec = VariantsFile.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    names = [v.name for v in spec.variants]
    if len(set(names)) != len(names) or "control" in names:
        raise ValueError(f"{path}: variant names must be unique and not 'control'")
    for where, variant in [("base", None), *((f"variant {v.name!r}", v) for v in spec.variants)]:
        try:
            spec.config(variant)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"{path}: {where}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return spec


def _rates(outcomes: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {
        "purchase": np.array([o["purchase"] for o in outcomes], float),
        "bounce": np.array([is_bounce(o) for o in outcomes], float),
    }


def paired_effect(control: np.ndarray, variant: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    """Mean(variant) − mean(control) over the same visitors, with a 95% resampled interval."""
    n = len(control)
    diff = variant - control
    boot = w @ diff / n
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"control": round(float(control.mean()), 4), "variant": round(float(variant.mean()), 4),
            "effect": round(float(diff.mean()), 4), "ci": [round(float(lo), 4), round(float(hi), 4)]}


def _sign(x: float, eps: float = 1e-12) -> int:
    return 0 if abs(x) <= eps else (1 if x > 0 else -1)


def agreement(true: list[float], sim: list[float]) -> dict[str, Any]:
    """Directional agreement (same sign; both zero counts as agreeing) and Pearson r."""
    agree = [_sign(t) == _sign(s) for t, s in zip(true, sim, strict=True)]
    r = float(np.corrcoef(true, sim)[0, 1]) if len(true) > 1 and np.std(true) > 0 and np.std(sim) > 0 else math.nan
    return {"directional_agreement": round(sum(agree) / len(agree), 4), "agree": sum(agree), "of": len(agree),
            "pearson": None if math.isnan(r) else round(r, 4)}


def analyse(
    arms: dict[str, dict[str, list[dict[str, Any]]]], *, draws: int = DRAWS, seed: int = 0
) -> dict[str, Any]:
    """`arms[arm]["truth"|"sim"]` = outcomes per visitor (the same visitors in the same order in
    every arm, per agent; the two agents may have different numbers of visitors).
    Per variant and metric: the true and the simulated effect; over variants: agreement."""
    control = arms["control"]
    n = {who: len(control[who]) for who in ("truth", "sim")}
    # One draw set per agent, shared by its arms: control and variant resampled as pairs (the
    # same seed for both agents, so equal outcomes give equal intervals).
    w = {who: np.random.default_rng(seed).multinomial(n[who], np.full(n[who], 1 / n[who]), size=draws).astype(float)
         for who in n}
    out: dict[str, Any] = {"visitors": n, "draws": draws, "variants": {}, "overall": {}}
    c_rates = {who: _rates(control[who]) for who in ("truth", "sim")}
    for name, arm in arms.items():
        if name == "control":
            continue
        for who in n:
            if len(arm[who]) != n[who]:
                raise ValueError(f"arm {name!r} has {len(arm[who])} {who} visitors, control {n[who]}")
        v_rates = {who: _rates(arm[who]) for who in ("truth", "sim")}
        out["variants"][name] = {
            metric: {who: paired_effect(c_rates[who][metric], v_rates[who][metric], w[who]) for who in ("truth", "sim")}
            for metric in ("purchase", "bounce")
        }
    for metric in ("purchase", "bounce"):
        true = [v[metric]["truth"]["effect"] for v in out["variants"].values()]
        sim = [v[metric]["sim"]["effect"] for v in out["variants"].values()]
        overall = agreement(true, sim)
        # Variants whose true effect is clear (its interval excludes 0): where direction is knowable.
        clear = [(t, s) for v, t, s in zip(out["variants"].values(), true, sim, strict=True)
                 if v[metric]["truth"]["ci"][0] > 0 or v[metric]["truth"]["ci"][1] < 0]
        overall["clear_true_effects"] = len(clear)
        overall["directional_agreement_on_clear"] = (
            agreement([t for t, _ in clear], [s for _, s in clear])["directional_agreement"] if clear else None
        )
        out["overall"][metric] = overall
    return out


def markdown(result: dict[str, Any], descriptions: dict[str, str] | None = None) -> str:
    descriptions = descriptions or {}

    def pp(e: dict[str, Any]) -> str:
        return f"{e['effect'] * 100:+.1f} [{e['ci'][0] * 100:+.1f}, {e['ci'][1] * 100:+.1f}]"

    lines = ["| variant | Δ purchase, true | Δ purchase, simulator | Δ bounce, true | Δ bounce, simulator |",
             "|---|---|---|---|---|"]
    for name, v in result["variants"].items():
        label = f"{name} ({descriptions[name]})" if descriptions.get(name) else name
        lines.append(f"| {label} | {pp(v['purchase']['truth'])} | {pp(v['purchase']['sim'])} | "
                     f"{pp(v['bounce']['truth'])} | {pp(v['bounce']['sim'])} |")
    lines.append("")
    for metric, o in result["overall"].items():
        clear = o["directional_agreement_on_clear"]
        lines.append(
            f"- {metric} rate: directional agreement {o['agree']}/{o['of']} = {o['directional_agreement'] * 100:.0f}%"
            f" (on the {o['clear_true_effects']} variants whose true effect is clear: "
            f"{'–' if clear is None else f'{clear * 100:.0f}%'}), Pearson r = {o['pearson'] if o['pearson'] is not None else '–'}"
        )
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path, title: str = "") -> Path:
    """Simulator effect against true effect per variant (purchase and bounce), with intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    for ax, metric in zip(axes, ("purchase", "bounce"), strict=True):
        xs, ys = [], []
        for name, v in result["variants"].items():
            t, s = v[metric]["truth"], v[metric]["sim"]
            x, y = t["effect"] * 100, s["effect"] * 100
            xs.append(x)
            ys.append(y)
            ax.errorbar(x, y, xerr=[[x - t["ci"][0] * 100], [t["ci"][1] * 100 - x]],
                        yerr=[[y - s["ci"][0] * 100], [s["ci"][1] * 100 - y]], fmt="o", capsize=3)
            ax.annotate(name, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
        lim = max([abs(v) for v in xs + ys] + [1.0]) * 1.2
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8, label="simulator = truth")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        o = result["overall"][metric]
        r = "–" if o["pearson"] is None else f"{o['pearson']:.2f}"
        ax.set_title(f"{metric} rate effect (pp): agreement {o['directional_agreement'] * 100:.0f}%, r = {r}")
        ax.set_xlabel("true effect (ground-truth shoppers)")
        ax.set_ylabel("simulated effect")
        ax.legend(loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_abtest(
    spec: VariantsFile,
    make_sim_agent: Callable[[], Any],
    *,
    first_visitor: int,
    sim_first_visitor: int | None = None,
    max_invalid: int = 3,
    progress: Callable[[str, int], None] | None = None,
    sessions_dir: Path | None = None,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Outcomes of the ground-truth shoppers and the simulator in control and every variant.
    `sim_first_visitor` (default: the same visitors) lets a ground-truth "simulator" shop as
    other people: the noise floor of the design."""
    arms: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name, variant in [("control", None), *((v.name, v) for v in spec.variants)]:
        world = world_for(spec.seed, spec.config(variant))
        arms[name] = {}
        for who, agent, first, count in (
            ("truth", GroundTruthAgent(), first_visitor, spec.n_truth),
            ("sim", make_sim_agent(), sim_first_visitor if sim_first_visitor is not None else first_visitor, spec.sessions),
        ):
            run = run_closed_loop(world, agent, count, first_visitor=first, max_invalid=max_invalid,
                                  progress=(lambda k, _n=name, _w=who: progress(f"{_n}/{_w}", k)) if progress else None)
            arms[name][who] = run.outcomes
            if sessions_dir is not None:
                write_run(run, sessions_dir / name / who, {"arm": name, "agent": who})
    return arms
