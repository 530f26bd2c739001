"""Training stages: SFT cold start and GRPO with the Shop-R1 rewards and online self-certainty.

`train_sft` / `train_grpo` (in `shopr1.train.sft` / `.grpo`) take a recipe, a dataset folder and
an output folder and return a `TrainResult`; `python -m shopr1.train` is the one entry point for
`accelerate launch`. Importing this package loads neither torch nor TRL.
"""

from shopr1.train.common import TrainingError, TrainResult

__all__ = ["TrainResult", "TrainingError"]
