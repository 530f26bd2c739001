"""Rationale synthesis (SPEC §5): a teacher writes the first-person rationale real logs lack.

`synthesize_file` is the stage; `make_backend` builds a teacher (heuristic, openai, local);
`check_reply` is the one definition of a usable rationale.
"""

from shopr1.rationales.backends import BACKENDS, TeacherBackend, make_backend
from shopr1.rationales.cache import RationaleCache
from shopr1.rationales.retry import RetryPolicy
from shopr1.rationales.synthesize import (
    InputError,
    Summary,
    SynthesisSettings,
    TeacherUnavailable,
    TooManyFailures,
    count_work,
    missing_path_for,
    synthesize,
    synthesize_file,
)
from shopr1.rationales.validity import check_reply

__all__ = [
    "BACKENDS",
    "InputError",
    "RationaleCache",
    "RetryPolicy",
    "Summary",
    "SynthesisSettings",
    "TeacherBackend",
    "TeacherUnavailable",
    "TooManyFailures",
    "check_reply",
    "count_work",
    "make_backend",
    "missing_path_for",
    "synthesize",
    "synthesize_file",
]
