"""Teacher backends behind one interface; `make_backend` builds one by name."""

from __future__ import annotations

from typing import Any

from shopr1.rationales.backends.base import TeacherBackend, TeacherError, TeacherFatalError

BACKENDS = ("heuristic", "openai", "local")

__all__ = ["BACKENDS", "TeacherBackend", "TeacherError", "TeacherFatalError", "make_backend"]


def make_backend(kind: str, **options: Any) -> TeacherBackend:
    """A backend by name; options go to its constructor (heavy imports happen only on use)."""
    if kind == "heuristic":
        from shopr1.rationales.backends.heuristic import HeuristicTeacher

        return HeuristicTeacher(**options)
    if kind == "openai":
        from shopr1.rationales.backends.openai import OpenAITeacher

        return OpenAITeacher(**options)
    if kind == "local":
        from shopr1.rationales.backends.local import LocalTeacher

        return LocalTeacher(**options)
    raise ValueError(f"unknown teacher backend {kind!r}; choose one of {', '.join(BACKENDS)}")
