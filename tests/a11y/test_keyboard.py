"""The whole file-approve-transmit path by keyboard alone (WCAG 2.1.1): an officer logs in,
files a request from a template, a supervisor approves it, the officer transmits it. Only
keys: Tab, Shift+Tab, Enter, Space and typing (no clicks, no focusing by script). Every
element the Tab key stops on shows where the focus is (2.4.7): an outline or a ring.

Screenshots of focus states go to test-output/a11y/ for a person to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from mla import templates
from mla.templates.model import Field
from tests.a11y.conftest import A11yServer, new_context
from tests.console.browser import emptied, shots_dir
from tests.console.conftest import PASSWORD

KIND = "mla.evidence"
SHOTS = shots_dir("a11y")
# A page has fewer tab stops than this; more means focus is trapped or circling.
MAX_TABS = 600

# What the focused element is, and whether anything shows it: an outline, or a box-shadow
# ring, drawn by the console's :focus-visible rule.
FOCUS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
  let around = 'rgb(255, 255, 255)';
  for (let p = e.parentElement; p; p = p.parentElement) {
    const c = getComputedStyle(p).backgroundColor;
    if (c && c !== 'transparent' && !c.startsWith('rgba(0, 0, 0, 0)')) { around = c; break; }
  }
  return {tag: e.tagName, name: e.getAttribute('name') || '', id: e.id,
          text: (e.innerText || e.value || '').trim().slice(0, 80),
          visible: outline || s.boxShadow !== 'none',
          colours: [outline ? s.outlineColor : null, s.boxShadow], around: around};
}"""
RGB = re.compile(r"rgba?\((\d+), (\d+), (\d+)")


def luminance(rgb: tuple[int, ...]) -> float:
    def channel(c: int) -> float:
        x = c / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def focus_contrast(here: dict[str, Any]) -> float:
    """The best contrast of the focus indicator's colours (outline, ring) with what is
    around the element (WCAG 1.4.11: 3:1 for what a user must see)."""
    around = tuple(int(c) for c in RGB.search(here["around"]).groups())
    colours = [tuple(int(c) for c in m) for text in here["colours"] if text
               for m in RGB.findall(text)]
    return max((contrast(c, around) for c in colours), default=1.0)


@pytest.fixture(scope="module", autouse=True)
def shots() -> None:
    emptied(SHOTS)


class Keyboard:
    """A page driven by its keyboard only, checking at each Tab stop that focus shows."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.stops = 0

    def focused(self) -> dict[str, Any]:
        found = self.page.evaluate(FOCUS)
        assert found is not None, "focus is lost (on the body) after a key press"
        return dict(found)

    def tab_to(self, matches: Any, *, backwards: bool = False) -> dict[str, Any]:
        """Tab (or Shift+Tab) until the focused element matches; asserts each stop on the
        way shows its focus."""
        for _ in range(MAX_TABS):
            self.page.keyboard.press("Shift+Tab" if backwards else "Tab")
            here = self.focused()
            self.stops += 1
            assert here["visible"], f"no visible focus on {here} at {self.page.url}"
            assert focus_contrast(here) >= 3, f"focus hard to see on {here} at {self.page.url}"
            if matches(here):
                return here
        raise AssertionError(f"never reached by Tab on {self.page.url}")

    def type(self, text: str) -> None:
        # Long text as a paste-like insertion (one keyboard event), short text key by key.
        if len(text) > 60:
            self.page.keyboard.insert_text(text)
        else:
            self.page.keyboard.type(text)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))


def named(name: str) -> Any:
    return lambda here: here["name"] == name


def text(value: str) -> Any:
    return lambda here: here["text"] == value


def starts(value: str) -> Any:
    return lambda here: here["text"].startswith(value)


def log_in(browser: Any, server: A11yServer, username: str) -> Keyboard:
    page = new_context(browser, "en").new_page()
    page.goto(server.url("/console/login"))
    keys = Keyboard(page)
    # The login form puts the focus in its first box (autofocus).
    assert keys.focused()["id"] == "username"
    keys.type(username)
    keys.press("Tab")
    assert keys.focused()["id"] == "password"
    keys.type(PASSWORD)
    keys.press("Enter")
    page.wait_for_url("**/console/requests")
    # A new page: the first Tab stop is the link past the header and navigation.
    keys.tab_to(lambda here: True)
    assert keys.focused()["text"] == "Skip to content"
    keys.shot(f"00-skip-link-{username}")
    return keys


def required_leaves(spec: Field, value: Any, path: str) -> Iterator[tuple[str, Field, Any]]:
    """The required fields of a template (first row of each list), with the example's value."""
    if spec.type == "object":
        for child in spec.fields:
            if child.required and child.name in value:
                yield from required_leaves(child, value[child.name], f"{path}.{child.name}")
    elif spec.type == "list":
        assert spec.item is not None
        yield from required_leaves(spec.item, value[0], f"{path}.0")
    else:
        yield path, spec, value


def choose(keys: Keyboard, select_name: str, value: str) -> None:
    """Picks an option of the focused <select> by typing the start of its label, as a
    keyboard user does (the list stays closed)."""
    label = keys.page.locator(f'select[name="{select_name}"] option[value="{value}"]'
                              ).inner_text()
    keys.type(label[:12])
    chosen = keys.page.locator(f'select[name="{select_name}"]').input_value()
    assert chosen == value, f"typing {label[:12]!r} chose {chosen!r}, not {value!r}"


def fill_by_keyboard(keys: Keyboard, spec: Field, value: Any) -> None:
    """Fills the focused field: a choice by typing its label, a box by Space, text typed."""
    if spec.type == "enum":
        choose(keys, keys.focused()["name"], str(value))
    elif spec.type == "boolean":
        if value:
            keys.press("Space")
    elif spec.type == "date":
        # Chromium's date box takes the digits in the locale's order (en-GB: dd mm yyyy).
        year, month, day = str(value).split("-")
        keys.type(day + month + year)
    else:
        keys.type(str(value))


def test_file_approve_and_transmit_by_keyboard_alone(browser: Any,
                                                     server: A11yServer) -> None:
    title = "Keyboard only - bank records Kestrel"
    # --- the officer files a request from the template -----------------------------------
    officer = log_in(browser, server, "fr.officer")
    officer.tab_to(text("New request"))
    officer.shot("01-nav-new-request-focused")
    officer.press("Enter")
    officer.page.wait_for_url("**/console/new")
    version = templates.get(KIND)
    officer.tab_to(lambda here: here["tag"] == "A" and here["text"] == version.title["en"])
    officer.press("Enter")
    officer.page.wait_for_url(f"**/console/new/{KIND}")

    officer.tab_to(named("requested_authority"))
    choose(officer, "requested_authority", "KE-ODPP")
    officer.tab_to(named("legal_basis"))
    choose(officer, "legal_basis", "untoc")
    officer.tab_to(named("title"))
    officer.type(title)
    officer.tab_to(named("language"))
    choose(officer, "language", "en")
    for path, spec, value in required_leaves(version.root, version.example, "data"):
        officer.tab_to(named(path))
        fill_by_keyboard(officer, spec, value)
    officer.tab_to(text("Submit for review"))
    officer.shot("02-form-submit-focused")
    with officer.page.expect_navigation():
        officer.press("Enter")
    # Saved as a draft, but a rule of the template wants one more field (the reasons for
    # confidentiality): the list of problems has the focus, its link leads to the field.
    officer.page.wait_for_url("**/edit?check=true")
    assert officer.focused()["id"] == "error-summary"
    officer.shot("03-error-summary-focused")
    reasons = "data.confidentiality_reasons"
    officer.tab_to(lambda here: here["tag"] == "A")
    officer.press("Enter")
    assert officer.focused()["name"] == reasons
    officer.shot("04-field-with-error-focused")
    officer.type(version.example["confidentiality_reasons"])
    officer.tab_to(text("Submit for review"))
    with officer.page.expect_navigation():
        officer.press("Enter")
    assert re.search(r"/console/requests/[0-9a-f-]{36}$", officer.page.url), \
        officer.page.locator("main").inner_text()[:3000]
    assert officer.page.locator("#state").inner_text() == "State: In review"
    reference = re.search(r"FR-MJ-\d{4}-\d{5}", officer.page.locator("h1").inner_text()
                          ).group(0)
    request_url = officer.page.url

    # --- the supervisor finds it in the list and approves it -----------------------------
    supervisor = log_in(browser, server, "fr.supervisor")
    supervisor.tab_to(text(reference))
    supervisor.press("Enter")
    supervisor.page.wait_for_url(request_url)
    supervisor.tab_to(text("Approve"))
    supervisor.shot("05-approve-focused")
    # The form posts and comes back to the same URL: wait for that navigation, not the URL.
    with supervisor.page.expect_navigation():
        supervisor.press("Space")
    assert supervisor.page.locator("#state").inner_text() == "State: Approved"

    # --- the officer transmits it; Shift+Tab goes back the way it came --------------------
    officer.page.reload()
    transmit = officer.tab_to(text("Transmit"))
    officer.tab_to(lambda here: here != transmit)
    officer.tab_to(text("Transmit"), backwards=True)
    officer.shot("06-transmit-focused")
    with officer.page.expect_navigation():
        officer.press("Enter")
    assert officer.page.locator("#state").inner_text().startswith("State: Transmitted"), \
        officer.page.locator("main").inner_text()[:2000]
    timeline = officer.page.locator("ol.timeline").inner_text()
    assert "fr.supervisor" in timeline and "fr.officer" in timeline
    for keys in (officer, supervisor):
        keys.page.context.close()
