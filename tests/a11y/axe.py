"""axe-core (npm, tests/a11y/package-lock.json, installed by `.ci/run` with `npm ci --prefix
tests/a11y`) run inside a page that Playwright opened: the WCAG 2.0 and 2.1 A and AA rules.

Without the package the tests skip with the command that installs it; under CI=true they
fail instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# What a user of assistive technology is blocked by (axe's own impact scale).
BLOCKING = {"serious", "critical"}

if not AXE.is_file():
    message = (f"{AXE} not found: run `npm ci --prefix tests/a11y` (.ci/run does) to run the "
               "accessibility tests")
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def run(page: Any) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (a CSP does not stop the injection: the
    contexts of these tests are made with `bypass_csp=True`)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})", TAGS)
    return list(result["violations"])


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v.get("impact") in BLOCKING]


def report(violations: list[dict[str, Any]]) -> str:
    """One line per violation: its rule, impact, what it says, and where (CSS selectors)."""
    lines = []
    for v in violations:
        targets = [" ".join(map(str, node["target"])) for node in v["nodes"]][:8]
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return "\n".join(lines)
