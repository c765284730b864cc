"""Problems found in flows, as values.

Every stage of fsgen (load, validate, check, render) reports what is wrong by returning
`Problem` values instead of raising, so that one run shows every mistake in every file at
once and the CLI alone decides how to print them and which exit status to use.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Loc(NamedTuple):
    """A place in a flow file: 1-based line and column, like compilers print them.

    A named tuple rather than a dataclass: the loader makes one per YAML node."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow: where, which node (if any), what, and what to do."""

    file: str
    line: int
    column: int
    node: str | None
    message: str
    hint: str | None = None
    severity: Severity = Severity.ERROR

    @classmethod
    def at(
        cls,
        loc: Loc,
        message: str,
        *,
        node: str | None = None,
        hint: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> Problem:
        return cls(loc.file, loc.line, loc.column, node, message, hint, severity)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format(self) -> str:
        """`file:line:col: error: node 'x': message`, plus an indented hint line."""
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        node = f"node '{self.node}': " if self.node else ""
        text = f"{where}: {self.severity.value}: {node}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.message)


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.is_error for p in problems)


def sorted_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Deterministic order (file, line, column), duplicates removed."""
    return sorted(set(problems), key=Problem.sort_key)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a choice is close to `word`, else ''."""
    import difflib

    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
