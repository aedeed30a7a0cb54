"""Typed errors for input the analysis cannot accept.

Every error carries a stable machine-readable `code` (stored as `error.code` on the recording and
shown by the API) and a message for people. Codes are part of the public contract: add new ones,
never rename them.
"""

from __future__ import annotations

from typing import Literal, get_args

InputErrorCode = Literal[
    "not_audio",  # the bytes are not a readable audio file
    "unsupported_format",  # audio, but a codec/layout we do not accept
    "empty",  # a valid header with no samples
    "truncated",  # the file ends before its header says it should
    "invalid_samples",  # NaN or infinite sample values
    "silent",  # digital silence: nothing to analyse
    "too_short",  # shorter than the minimum duration
    "too_long",  # longer than the maximum duration
    "sample_rate_out_of_range",  # below 1 kHz or above 384 kHz
    "unsupported_kind",  # neither heart nor lung
]

INPUT_ERROR_CODES: tuple[str, ...] = get_args(InputErrorCode)


class AnalysisInputError(ValueError):
    """The recording cannot be analysed; retrying will not help."""

    def __init__(self, code: InputErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: InputErrorCode = code
        self.message = message
