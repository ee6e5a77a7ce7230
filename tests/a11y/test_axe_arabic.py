"""axe-core on every console page in Arabic (the browser's Accept-Language is `ar`): see
tests/a11y/pages.py for what is checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.a11y.conftest import A11yServer
from tests.a11y.pages import PAGES, Visit, check_visit


@pytest.mark.parametrize("visit", PAGES, ids=str)
def test_page_has_no_serious_accessibility_violation(
        visit: Visit, server: A11yServer, sessions: Callable[[str | None, str], Any]) -> None:
    check_visit(visit, "ar", server, sessions)
