"""Every console page has an accessibility test: the console's GET routes, read from the
app's router, are each visited by tests/a11y/pages.py or listed there as no page."""

from __future__ import annotations

from api.app import create_app
from tests.a11y.pages import NOT_PAGES, PAGES
from tests.app_routes import routes


def test_every_console_page_is_checked() -> None:
    console = {r.path for r in routes(create_app())
               if r.method == "GET" and r.path.startswith("/console")}
    visited = {v.route for v in PAGES}
    assert console - visited - set(NOT_PAGES) == set(), "console pages no accessibility test opens"
    assert (visited | set(NOT_PAGES)) - console == set(), "routes that no longer exist"
