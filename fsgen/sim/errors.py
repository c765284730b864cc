"""Errors as values: what went wrong, where (file, line), and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimError:
    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (":%d" % self.line if self.line else "") + ": "
        return where + self.message + (f" ({self.hint})" if self.hint else "")


class SimFailure(Exception):
    """Carries a :class:`SimError` out of deep code to the CLI boundary, which prints it."""

    def __init__(self, error: SimError):
        super().__init__(str(error))
        self.error = error
