"""Debian's Chromium driven by Playwright, for the tests that look at pages: found or the
test module skipped (CI=true: failed, since CI must run them), launched, logged in."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Chromium's own calls home are refused on air-gapped machines; without these flags it
# keeps trying.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
LAPTOP = {"width": 1366, "height": 800}

if IN_CI:
    # CI=true runs everything: a missing package or browser is a failure, not a skip.
    import playwright.sync_api as playwright_api

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found and CI=true requires the browser tests: install "
                    "Debian's chromium package (.ci/run does)", pytrace=False)
else:
    playwright_api = pytest.importorskip("playwright.sync_api",
                                         reason="the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package "
                    "(apt-get install chromium; .ci/run does) to run the browser tests",
                    allow_module_level=True)
expect = playwright_api.expect


def shots_dir(name: str) -> Path:
    """test-output/<name>/: the screenshots of one test module, for a person to look at."""
    return ROOT / "test-output" / name


def emptied(path: Path) -> Path:
    """`path`, made empty (by the module fixture that takes the screenshots, never at import:
    every xdist worker imports every test module)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def chromium() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def login(browser: Any, base: str, username: str, password: str) -> Any:
    """A fresh browser context (its own cookies) logged in as `username`, by keyboard."""
    context = browser.new_context(viewport=LAPTOP, timezone_id="Europe/Paris", locale="en-GB")
    page = context.new_page()
    page.goto(base + "/console/requests")
    assert "/console/login" in page.url  # no session: sent to log in, and back afterwards
    page.get_by_label("User name").fill(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/requests")
    return page
