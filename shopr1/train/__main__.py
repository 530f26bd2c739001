"""`python -m shopr1.train sft|grpo ...`: the entry point `accelerate launch -m shopr1.train` runs.

The same commands as `shopr1 train`; each process of a multi-GPU launch runs it.
"""

from shopr1.cli.train import app

if __name__ == "__main__":
    app()
