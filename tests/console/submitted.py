"""What a browser submits for a form of a console page, read from the page's HTML."""

from __future__ import annotations

from html.parser import HTMLParser


class Submitted(HTMLParser):
    """What a browser sends for a form: inputs, checked boxes, selected options, textareas
    (none of the <template> rows, which are not part of the form until cloned)."""

    def __init__(self, form_action: str | None = None) -> None:
        super().__init__()
        # Only the form that posts to `form_action` when a page holds several (search box,
        # logout); None: every field of the page.
        self._wanted = form_action
        self._in_form = form_action is None
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""
        self._in_template = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self._wanted is not None:
            self._in_form = a.get("action") == self._wanted
        if not self._in_form:
            return
        if tag == "template":
            self._in_template += 1
        if self._in_template:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.pairs.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.pairs.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._wanted is not None:
            self._in_form = False
        if tag == "template":
            self._in_template -= 1
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.pairs.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._text += data
