"""Request kinds and the lifecycle each one follows, read from data/kinds.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from mla.errors import FieldProblem, InvalidInput

# Which workflow a request follows, by family and by the side this instance is on.
WORKFLOW_BY_FAMILY = {
    ("mla", "requesting"): "mla_requesting",
    ("mla", "requested"): "mla_requested",
    ("extradition", "requesting"): "extradition",
    ("extradition", "requested"): "extradition",
}


@dataclass(frozen=True)
class Kind:
    name: str
    family: str
    urgent: bool
    label: str

    def workflow(self, side: str = "requesting") -> str:
        return WORKFLOW_BY_FAMILY[(self.family, side)]


@cache
def all_kinds() -> dict[str, Kind]:
    raw = yaml.safe_load((Path(__file__).parent / "data" / "kinds.yaml").read_text("utf-8"))
    return {name: Kind(name=name, **spec) for name, spec in raw.items()}


def get(name: str) -> Kind:
    kinds = all_kinds()
    if name not in kinds:
        raise InvalidInput(
            f"unknown request kind '{name}'",
            [FieldProblem("kind", f"must be one of: {', '.join(kinds)}")],
        )
    return kinds[name]
