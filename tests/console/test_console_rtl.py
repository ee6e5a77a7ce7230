"""The request list and a request's page in Arabic (right to left) and Chinese, in Debian's
Chromium: the language comes from the browser (Accept-Language), the layout mirrors, the
headings are translated. Screenshots go to test-output/console-languages/ for a person to look
at (real glyphs, nothing clipped)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.browser import LAPTOP, chromium, emptied, expect, shots_dir
from tests.console.conftest import PASSWORD, Server

SHOTS = shots_dir("console-languages")

# What the pages must say, per language: the list's heading starts with it, the request
# page has these section headings (from the catalogs, mla/locale/).
EXPECTED = {
    "ar": {"locale": "ar", "dir": "rtl", "list": "طلبات", "timeline": "التسلسل الزمني",
           "actions": "الإجراءات التالية"},
    "zh": {"locale": "zh-CN", "dir": "ltr", "list": "的请求", "timeline": "时间线",
           "actions": "后续操作"},
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    emptied(SHOTS)
    with chromium() as launched:
        yield launched


def _login(browser: Any, server: Server, username: str, locale: str) -> Any:
    """A fresh context whose browser asks for `locale`, logged in by the form's fields (their
    labels are in that language)."""
    context = browser.new_context(viewport=LAPTOP, timezone_id="Asia/Amman", locale=locale)
    page = context.new_page()
    page.goto(server.url("/console/login"))
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_url("**/console/requests")
    return page


@pytest.mark.parametrize("lang", ["ar", "zh"])
def test_request_list_and_request_page_in_arabic_and_chinese(
        browser: Any, server: Server, lang: str) -> None:
    expected = EXPECTED[lang]
    page = _login(browser, server, "ke.officer", expected["locale"])
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", expected["dir"])
    expect(page.locator("h1")).to_contain_text(expected["list"])
    # The switcher marks the current language; each option is in its own language.
    expect(page.locator(f'.languages button[lang="{lang}"]')).to_have_attribute(
        "aria-current", "true")
    page.screenshot(path=str(SHOTS / f"requests-{lang}.png"), full_page=True)
    if lang == "ar":
        # Mirrored: the brand sits at the right edge, the first column of the table is the
        # rightmost one.
        width = page.viewport_size["width"]
        brand = page.locator(".brand").bounding_box()
        assert brand["x"] > width / 2
        cells = page.locator("table.list thead th")
        assert cells.nth(0).bounding_box()["x"] > cells.nth(1).bounding_box()["x"]
    # No label cut: every header cell's text fits in its box.
    clipped = page.evaluate("""() => [...document.querySelectorAll(
        'table.list th, .top nav a, .filters label, button')].filter(
        e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible')
        .map(e => e.textContent.trim())""")
    assert clipped == []

    page.locator("table.list tbody a").first.click()
    page.wait_for_url("**/console/requests/*")
    expect(page.locator("#timeline-h")).to_have_text(expected["timeline"])
    expect(page.locator("#actions-h")).to_have_text(expected["actions"])
    page.screenshot(path=str(SHOTS / f"request-{lang}.png"), full_page=True)
    page.context.close()
