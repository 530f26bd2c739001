"""shopr1: train LLM simulators of human online-shopping behaviour (Shop-R1)."""

__version__ = "0.1.0"
