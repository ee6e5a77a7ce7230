"""Files of rows imported in one go (the directory, country profiles): each row with the line
it came from, what is wrong with a row by line, and what the import did. A bad row is
reported and skipped; the others are imported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Row:
    section: str
    line: int
    data: Any


@dataclass(frozen=True)
class RowError:
    line: int
    section: str
    key: str
    problems: tuple[str, ...]

    def __str__(self) -> str:
        what = f" {self.key}" if self.key else ""
        return f"line {self.line} ({self.section}{what}): {'; '.join(self.problems)}"


@dataclass
class Report:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated


def guess_format(filename: str, text: str) -> str:
    """csv or json: by the file's extension, else by its first character."""
    if filename.lower().endswith(".json"):
        return "json"
    if filename.lower().endswith(".csv"):
        return "csv"
    return "json" if text.lstrip().startswith(("[", "{")) else "csv"
