"""Recipes: one YAML file per experiment, validated by one schema that composes the existing settings.

A recipe names the data (ShopWorld knobs, the context budget and the tokenizer that counts it),
the model, and the settings of SFT, GRPO, evaluation and promotion. The packaged recipes live in
`shopr1/recipes/*.yaml`; a path to any YAML file works too. Loading does no heavy import.
Baselines and ablations are recipe switches (`grpo.reward_setting`, `grpo.rewards.*`), not code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shopr1.evaluation.settings import EvalSettings
from shopr1.registry_settings import PromotionSettings
from shopr1.rewards.components import RewardParams
from shopr1.shopworld.config import ShopWorldConfig

RECIPES_DIR = Path(__file__).parent / "recipes"

_STRICT = ConfigDict(extra="forbid")


class RecipeError(ValueError):
    """A recipe that cannot be found, read or validated; the message names the file and the key."""


class DataSettings(BaseModel):
    """How the examples are built: the sessions to generate and the context budget in tokens."""

    model_config = _STRICT

    sessions: int = Field(2000, ge=1, description="ShopWorld sessions that `shopr1 run` generates")
    seed: int = Field(0, description="seed of the data and of the splits")
    max_context_tokens: int = Field(4096, gt=0, description="token budget of one context (SPEC §1)")
    tokenizer: Literal["model", "approx"] = Field(
        "model", description="what counts the budget: the recipe model's tokenizer, or ~3.5 chars/token"
    )
    persona: bool = Field(
        False, description="persona conditioning: prompts carry the shopper's persona, never the goal"
    )


class LoraSettings(BaseModel):
    model_config = _STRICT

    r: int = Field(16, gt=0)
    alpha: int = Field(32, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class ModelSettings(BaseModel):
    """Which model: `tiny` (from scratch on the data), `smollm2` (the packaged GGUF), `hf` (id/folder)."""

    model_config = _STRICT

    kind: Literal["tiny", "smollm2", "hf"] = "tiny"
    name_or_path: str | None = Field(None, description="`hf`: a Hugging Face id or a local folder")
    hidden_size: int = Field(128, gt=0, description="tiny: width")
    layers: int = Field(2, gt=0, description="tiny: transformer blocks")
    heads: int = Field(4, gt=0, description="tiny: attention heads")
    vocab_size: int = Field(2048, ge=300, description="tiny: BPE vocabulary trained on the SFT text")
    max_position_embeddings: int = Field(4096, gt=0, description="tiny: context length")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: str | None = Field(None, description="e.g. sdpa, flash_attention_2")
    lora: LoraSettings | None = Field(None, description="train LoRA adapters instead of all weights")
    seed: int = 0

    @model_validator(mode="after")
    def _needs_path(self) -> ModelSettings:
        if self.kind == "hf" and not self.name_or_path:
            raise ValueError("model.kind 'hf' needs model.name_or_path (a Hugging Face id or folder)")
        if self.hidden_size % self.heads:
            raise ValueError(f"model.hidden_size {self.hidden_size} is not divisible by model.heads {self.heads}")
        return self


class RuntimeSettings(BaseModel):
    """Where and how training runs: one process on CPU, or accelerate/DeepSpeed on GPUs."""

    model_config = _STRICT

    device: Literal["cpu", "auto"] = Field("cpu", description="cpu forces the CPU; auto uses GPUs when present")
    bf16: bool = Field(False, description="mixed precision (GPU)")
    deepspeed: Literal["zero2", "zero3"] | None = Field(None, description="a packaged DeepSpeed ZeRO config")
    dataloader_num_workers: int = Field(0, ge=0)
    report_to: list[str] = Field(default_factory=list, description="e.g. [mlflow]")


class StageSettings(BaseModel):
    """What SFT and GRPO share: optimiser, schedule, batch, checkpoints and the wall-clock budget."""

    model_config = _STRICT

    learning_rate: float = Field(gt=0)
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    per_device_batch_size: int = Field(2, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    max_steps: int = Field(-1, ge=-1, description="-1: run the epochs")
    max_minutes: float | None = Field(None, gt=0, description="wall-clock budget; stops (and saves) after it")
    save_steps: int = Field(200, gt=0, description="checkpoint every N optimiser steps")
    save_total_limit: int | None = Field(2, gt=0)
    logging_steps: int = Field(1, gt=0)
    gradient_checkpointing: bool = Field(False, description="off on CPU: slower, little memory to save")
    max_examples: int | None = Field(None, gt=0, description="use only the first N training examples")
    seed: int = 0


class SFTSettings(StageSettings):
    """The cold start (SPEC §1): whole sessions, loss on the assistant turns only."""

    learning_rate: float = Field(3e-3, gt=0)
    epochs: float = Field(1.0, gt=0)
    group_by_length: bool = Field(False, description="sort batches by length (longest first in TRL)")
    train_stubbed_turns: bool = Field(False, description="also learn the turns whose page was stubbed")


GRPO_LOSSES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo")


class GRPOSettings(StageSettings):
    """GRPO with the Shop-R1 rewards (SPEC §2); β, temperature, group and loss are choices here."""

    learning_rate: float = Field(3e-5, gt=0)
    per_device_batch_size: int = Field(8, gt=0, description="completions (not prompts) per device step")
    reward_setting: str = Field("shop_r1", description="a row of shopr1.rewards.registry.SETTINGS")
    rewards: RewardParams = RewardParams()
    beta: float = Field(0.001, ge=0, description="KL coefficient (TRL's default is 0)")
    temperature: float = Field(0.9, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    num_generations: int = Field(8, ge=2, description="group size")
    loss_type: Literal[GRPO_LOSSES] = "grpo"  # type: ignore[valid-type]
    scale_rewards: Literal["group", "batch", "none"] = "group"
    epsilon: float = Field(0.2, gt=0, description="clip range")
    max_completion_length: int = Field(96, gt=0)
    steps_per_generation: int | None = Field(None, gt=0)
    self_certainty_chunk: int = Field(8, gt=0, description="completions per extra forward of the self-certainty")
    use_vllm: bool = Field(False, description="generate with vLLM (GPU); transformers otherwise")
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1)

    @field_validator("reward_setting")
    @classmethod
    def _known_setting(cls, value: str) -> str:
        from shopr1.rewards.registry import SETTINGS

        if value not in SETTINGS:
            raise ValueError(f"unknown reward setting {value!r}; allowed: {', '.join(SETTINGS)}")
        return value

    @model_validator(mode="after")
    def _batch_fits_groups(self) -> GRPOSettings:
        generation = self.per_device_batch_size * (self.steps_per_generation or self.gradient_accumulation_steps)
        if generation % self.num_generations:
            raise ValueError(
                f"the generation batch ({generation} completions = grpo.per_device_batch_size × "
                f"grpo.steps_per_generation or grpo.gradient_accumulation_steps) is not divisible by "
                f"grpo.num_generations ({self.num_generations})"
            )
        return self


class Recipe(BaseModel):
    """One experiment, from data to promotion."""

    model_config = _STRICT

    name: str
    description: str = ""
    shopworld: ShopWorldConfig = ShopWorldConfig()
    data: DataSettings = DataSettings()
    model: ModelSettings = ModelSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    sft: SFTSettings = SFTSettings()
    grpo: GRPOSettings = GRPOSettings()
    evaluate: EvalSettings = EvalSettings()
    promotion: PromotionSettings = PromotionSettings()
    source: str | None = Field(None, description="the file it came from (filled in by load_recipe)")

    def build_config(self) -> Any:
        """The data stage's `BuildConfig` for this recipe."""
        from shopr1.data.build import BuildConfig

        return BuildConfig(max_context_tokens=self.data.max_context_tokens, seed=self.data.seed,
                           persona=self.data.persona)


def recipe_names() -> list[str]:
    """The packaged recipes."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name_or_path: str | Path) -> Path:
    """A packaged recipe by name, or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise RecipeError(f"recipe file {path} does not exist")
        return path
    packaged = RECIPES_DIR / f"{name_or_path}.yaml"
    if not packaged.is_file():
        raise RecipeError(f"unknown recipe {name_or_path!r}; packaged recipes: {', '.join(recipe_names())} (or a path to a .yaml file)")
    return packaged


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The field names at `loc`'s parent, for an unknown key."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return list(model.model_fields)


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(Recipe, loc)
            hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
            lines.append(f"{key}: unknown key{hint}")
        else:
            lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return f"recipe {source}: " + "; ".join(lines)


def validate_recipe(data: dict[str, Any], source: str = "<dict>") -> Recipe:
    """Validate plain data as a recipe; a RecipeError names the source, the key and what is allowed."""
    try:
        return Recipe.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise RecipeError(_describe(exc, source)) from None


def load_recipe(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a recipe (packaged name or YAML path), apply `--set a.b=value` overrides, validate."""
    import yaml

    from shopr1.overrides import OverrideError, apply_overrides

    path = recipe_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path} must be a mapping of sections, not {type(data).__name__}")
    data.setdefault("name", path.stem)
    try:
        data = apply_overrides(data, overrides)
    except OverrideError as exc:
        raise RecipeError(f"recipe {path}: {exc}") from None
    source = str(path) + (f" (with --set {' '.join(overrides)})" if overrides else "")
    return validate_recipe(data, source)
