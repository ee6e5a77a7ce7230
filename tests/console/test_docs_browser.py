"""The API description pages in a real browser cut off from everything but loopback, as on a
ministry's air-gapped network: Swagger UI (`/docs`) and ReDoc (`/redoc`) render every
operation from the instance's own assets, nothing is asked of another host, and the pages'
Content-Security-Policy refuses nothing Swagger UI needs. Screenshots go to
test-output/docs/ for a person to look at. Skipped like test_console.py without Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.console.browser import CHROMIUM, CHROMIUM_ARGS, emptied, playwright_api, shots_dir
from tests.console.conftest import Server

SHOTS = shots_dir("docs")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="module")
def offline() -> Iterator[Any]:
    """A browser context that can reach loopback only; what it tried elsewhere is listed."""
    emptied(SHOTS)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            *CHROMIUM_ARGS,
            # Belt and braces: names other than loopback do not even resolve.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"])
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.elsewhere = []

        def only_loopback(route: Any) -> None:
            if urlsplit(route.request.url).hostname in LOOPBACK:
                route.continue_()
            else:
                context.elsewhere.append(route.request.url)
                route.abort()

        context.route("**/*", only_loopback)
        yield context
        browser.close()


def _open(context: Any, server: Server, path: str) -> tuple[Any, list[str]]:
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.goto(server.url(path))
    return page, refused


def test_swagger_ui_renders_every_operation_offline(offline: Any, server: Server) -> None:
    schema = offline.request.get(server.url("/openapi.json")).json()
    operations = sum(len(ops) for ops in schema["paths"].values())
    page, refused = _open(offline, server, "/docs")
    blocks = page.locator(".opblock")
    blocks.first.wait_for(timeout=30_000)
    page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {operations}")
    assert page.locator(".opblock-summary-path", has_text="/requests/{request_id}/transitions"
                        ).count() == 1
    # An operation opens and shows its parameters and responses, all drawn by Swagger UI.
    page.locator(".opblock-summary-path", has_text="/requests/{request_id}/history").click()
    page.get_by_text("request_id").first.wait_for()
    page.screenshot(path=str(SHOTS / "swagger-ui.png"))
    assert offline.elsewhere == [] and refused == [], (offline.elsewhere, refused)


def test_redoc_renders_offline(offline: Any, server: Server) -> None:
    page, refused = _open(offline, server, "/redoc")
    page.get_by_role("heading", name="MLA & extradition workflow engine (0.1.0)").wait_for(
        timeout=30_000)
    page.get_by_text("for a short-lived access token (OAuth2 password form)").wait_for()
    page.screenshot(path=str(SHOTS / "redoc.png"))
    assert offline.elsewhere == []
    # The one refusal: the Redocly logo ReDoc shows from its CDN (hidden when it fails).
    assert all("cdn.redoc.ly" in r for r in refused), refused
