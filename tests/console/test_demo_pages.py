"""What a newcomer sees after the README's first command: `mla demo` in an empty directory,
then `mla serve` there, then the console in a browser. The 24/7 page shows the demo's desks,
and the provisional arrest shows the clock that now runs on the requesting side (the formal
request is due) with what to do before it expires. Screenshots go to test-output/demo/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli import demo
from tests.console.browser import chromium, emptied, expect, login, shots_dir
from tests.serving import mla_serve

SHOTS = shots_dir("demo")


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """`mla demo` then `mla serve` in a new directory (its embedded SQLite default), and a
    browser."""
    workdir: Path = tmp_path_factory.mktemp("newcomer")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLA_")}
    mla = [sys.executable, "-m", "cli"]
    shown = subprocess.run([*mla, "demo"], cwd=workdir, env=env, capture_output=True,
                           text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "/console/" in shown.stdout and demo.DEMO_PASSWORD in shown.stdout
    with mla_serve(workdir, env, ready="/ready") as base:
        emptied(SHOTS)
        with chromium() as browser:
            yield base, browser


def test_demo_24_7_page_shows_who_answers_and_how_pages_climb(
        newcomer: tuple[str, Any]) -> None:
    base, browser = newcomer
    page = login(browser, base, "ke.contact", demo.DEMO_PASSWORD)
    page.get_by_role("link", name="24/7").click()
    page.wait_for_url("**/console/oncall")
    main = page.locator("main")
    text = main.inner_text()
    # One of the rotation's two people is on call now; the ladder names the duty desk.
    assert "Achieng Njoroge" in text or "Brian Mwangi" in text
    assert "ODPP Duty Desk, after 15 min" in text
    # Phones are stored in E.164 (mla.oncall.phone), as the SMS channel dials them.
    assert "+25420273000" in text and "Claire Dubois" in text  # FR's points, shared
    page.screenshot(path=str(SHOTS / "demo-oncall-ke-contact.png"), full_page=True)


def test_demo_provisional_arrest_shows_our_running_clock(newcomer: tuple[str, Any]) -> None:
    base, browser = newcomer
    page = login(browser, base, "fr.officer", demo.DEMO_PASSWORD)
    page.locator("tbody tr", has_text=demo.ARREST_TITLE).get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(demo.ARREST_TITLE)
    row = page.locator("#deadlines-h ~ .table-wrap tbody tr").filter(has_text="FR-MJ").first
    expect(row).to_be_visible()
    assert re.search(r"in (3\d|40) d", row.inner_text()), row.inner_text()
    assert "running" in row.inner_text()
    assert "formal_request" not in row.inner_text()  # a title for people, not the rule's id
    # Our clock runs: the page says what to do before it expires, with the button.
    ours = page.locator("#our-clocks")
    expect(ours).to_contain_text("A time limit of FR-MJ runs")
    button = ours.get_by_role("link", name=re.compile("File the extradition request"))
    expect(button).to_be_visible()
    assert "Nothing for you to do now" not in page.locator("main").inner_text()
    page.screenshot(path=str(SHOTS / "demo-request-our-clock.png"), full_page=True)
    button.click()
    page.wait_for_url(re.compile(r"/console/new/extradition\.request\?follows="))
    expect(page.locator("#follows")).to_contain_text("This request follows FR-MJ-")
    page.screenshot(path=str(SHOTS / "demo-formal-request-prefilled.png"))
