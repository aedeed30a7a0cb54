"""Heart and lung sound analysis: pure Python on numpy/scipy, importable without any cloud package.

    >>> from stethoscope import analyze_file
    >>> result = analyze_file("mitral.wav", kind="heart")
    >>> result.heart.heart_rate_bpm

The numeric stack (numpy, scipy, soundfile) is imported on first use, not by `import stethoscope`,
so the result models and errors are cheap to import (the API and the cold start need only those).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stethoscope.errors import AnalysisInputError
from stethoscope.result import AnalysisResult
from stethoscope.version import ANALYSIS_VERSION

if TYPE_CHECKING:
    from stethoscope.analysis import analyze, analyze_file
    from stethoscope.exam import ExamAssessment, assess_exam
    from stethoscope.exam_lung import LungExamAssessment, assess_lung_exam

__all__ = [
    "ANALYSIS_VERSION",
    "AnalysisInputError",
    "AnalysisResult",
    "ExamAssessment",
    "LungExamAssessment",
    "analyze",
    "analyze_file",
    "assess_exam",
    "assess_lung_exam",
]


def __getattr__(name: str) -> Any:
    if name in ("analyze", "analyze_file"):
        from stethoscope import analysis

        return getattr(analysis, name)
    if name in ("assess_exam", "ExamAssessment"):
        from stethoscope import exam

        return getattr(exam, name)
    if name in ("assess_lung_exam", "LungExamAssessment"):
        from stethoscope import exam_lung

        return getattr(exam_lung, name)
    raise AttributeError(f"module 'stethoscope' has no attribute {name!r}")
