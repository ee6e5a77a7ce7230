"""The console and the pager's messages exist in the six UN languages: every visible string of
the console templates and pages is marked for translation, every marked string has a
finished translation in each catalog (no missing, no fuzzy entry), and every translation
keeps its message's placeholders."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

from mla import i18n

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "api" / "web" / "html"
PAGES = ROOT / "api" / "web" / "pages"
CATALOGS = {lang: ROOT / "mla" / "locale" / lang / "LC_MESSAGES" / "messages.po"
            for lang in i18n.LANGUAGES}
PLACEHOLDER = re.compile(r"\{(\w*)\}|%\((\w+)\)[sd]")
# Text that reads the same in every language: symbols, codes, the "24/7" network's name.
NEUTRAL = re.compile(r"^(?:[\W\d_]|24/7|SHA-256|PDF|ISO|UTC|MLA|[A-Z]{2})*$")
VISIBLE_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "label", "aria-description"}
EXPR = "\x00"
# Elements whose text is code, the same in every language.
CODE = ("script", "style", "code", "pre", "kbd", "samp")
ATTRIBUTES = re.compile(r'[\w-]+="[^"]*"')


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with CATALOGS[lang].open("rb") as f:
        return read_po(f, locale=lang)


def _extracted() -> set[str]:
    """What `pybabel extract -F babel.cfg -k N_` finds in the source today."""
    method_map = [("mla/locale/**", "ignore"), ("tests/**", "ignore"), ("**/*.py", "python"),
                  ("api/web/html/**.html", "jinja2")]
    found = set()
    for package in ("mla", "api", "workflows"):
        for _, _, message, _, _ in extract_from_dir(
                ROOT / package, method_map=[(p.removeprefix(f"{package}/"), m)
                                            for p, m in method_map],
                keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}):
            found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_marked_string_has_a_finished_translation(lang: str) -> None:
    catalog = _catalog(lang)
    entries = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    missing = sorted(_extracted() - set(entries))
    assert not missing, (f"{lang}: not in the catalog (run pybabel extract and update, "
                         f"README 'Languages'): {missing[:10]}")
    empty = sorted(k for k, m in entries.items()
                   if not (m.string if isinstance(m.string, str) else all(m.string)))
    assert not empty, f"{lang}: untranslated: {empty[:10]}"
    fuzzy = sorted(k for k, m in entries.items() if m.fuzzy)
    assert not fuzzy, f"{lang}: fuzzy (to be checked by a translator): {fuzzy[:10]}"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_translations_keep_their_placeholders(lang: str) -> None:
    wrong = []
    for m in _catalog(lang):
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        expected = sorted(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            found = sorted(PLACEHOLDER.findall(text or ""))
            if len(ids) > 1:
                # A plural form may say the number in words ("محاولتان", two attempts):
                # only the count may be left out, never another value.
                counts = {("", "count"), ("", "num")}
                expected_here = sorted(set(expected) - counts)
                found = sorted(set(found) - counts)
            else:
                expected_here = expected
            if text and found != expected_here:
                wrong.append((ids[0], text))
    assert not wrong, f"{lang}: placeholders differ: {wrong[:5]}"


def test_catalogs_compile_and_are_read_once_per_process() -> None:
    i18n.translations.cache_clear()
    with i18n.reading("ar"):
        assert i18n._("Approve") != "Approve"
        assert i18n.translations("ar") is i18n.translations("ar")
    with i18n.reading("zh"):
        assert i18n._("{n} min", n=5) == "5 分钟"


class _Visible(HTMLParser):
    """Text nodes and visible attributes of a template whose Jinja parts are EXPR."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in CODE:
            self.skip += 1
        values = dict(attrs)
        names = set(VISIBLE_ATTRIBUTES)
        if tag == "input" and values.get("type") in ("submit", "button", "reset"):
            names.add("value")
        for name, value in attrs:
            if name in names and value:
                self._check(f"<{tag} {name}>", value)

    def handle_endtag(self, tag: str) -> None:
        if tag in CODE:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self._check("text", data)

    def _check(self, where: str, text: str) -> None:
        # Attributes written by a macro or an {% if %} outside a tag read as text here.
        bare = ATTRIBUTES.sub(" ", text.replace(EXPR, " ")).strip()
        if bare and not NEUTRAL.match(bare.replace(" ", "")):
            self.found.append(f"{where}: {bare!r}")


def unmarked(source: str) -> list[str]:
    """Visible text of a template outside {% trans %} and _() (Jinja's own lexer)."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    out: list[str] = []
    in_trans = False
    in_tag = False
    last_name = None
    for _, kind, value in env.lex(source):
        if kind in ("block_begin", "variable_begin"):
            in_tag = True
            last_name = None
            out.append(EXPR)
        elif kind in ("block_end", "variable_end"):
            in_tag = False
        elif in_tag and kind == "name" and last_name is None:
            last_name = value
            if value == "trans":
                in_trans = True
            elif value == "endtrans":
                in_trans = False
        elif kind == "data" and not in_trans:
            out.append(value)
    parser = _Visible()
    parser.feed("".join(out))
    return parser.found


def test_the_checker_finds_unmarked_text() -> None:
    assert unmarked("<h1>Requests</h1>") == ["text: 'Requests'"]
    assert unmarked('<input placeholder="Name" value="x">') == ["<input placeholder>: 'Name'"]
    assert unmarked('<button aria-label="Close">&times;</button>') == [
        "<button aria-label>: 'Close'"]
    assert unmarked("<h1>{{ _('Requests') }}</h1><p>{% trans n=1 %}{{ n }} day{% endtrans %}"
                    "</p><td>{{ row.kind }} · 24/7</td>") == []


@pytest.mark.parametrize("template", sorted(p.name for p in HTML.glob("*.html")))
def test_every_visible_string_of_a_template_is_marked(template: str) -> None:
    found = unmarked((HTML / template).read_text())
    assert not found, f"{template}: mark for translation ({{{{ _('...') }}}}): {found[:8]}"


def _shown_literals(tree: ast.AST) -> list[str]:
    """String literals (plain or f-strings) passed straight to flash() or error_page()."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                "flash", "error_page"):
            for arg in node.args[1:]:
                if isinstance(arg, ast.JoinedStr) or (
                        isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    found.append(ast.unparse(arg))
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in PAGES.glob("*.py")))
def test_messages_of_the_pages_are_marked(module: str) -> None:
    found = _shown_literals(ast.parse((PAGES / module).read_text()))
    assert not found, f"{module}: wrap in _(): {found}"


def test_the_page_checker_finds_unmarked_messages() -> None:
    assert _shown_literals(ast.parse('flash(request, f"Saved {x}.")')) == ["f'Saved {x}.'"]
    assert _shown_literals(ast.parse('flash(request, _("Saved {x}.", x=x))')) == []


def test_choosing_the_language() -> None:
    assert i18n.choose("ru", "ar", ["fr"]) == "ru"
    assert i18n.choose(None, "zh-CN,zh;q=0.9,en;q=0.5", ["fr"]) == "zh"
    assert i18n.choose(None, "de-DE, es;q=0.4", ["fr"]) == "es"
    assert i18n.choose(None, "de-DE", ["sw", "fr"]) == "fr"
    assert i18n.choose(None, "", ["sw"]) == "en"
    assert i18n.for_recipient(None, ["sw"], ["ar", "en"]) == "ar"


def test_dates_and_numbers_follow_the_locale_and_the_zone() -> None:
    from datetime import UTC, datetime

    instant = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)
    with i18n.reading("fr", "Asia/Amman"):
        assert i18n.when(instant) == "3 déc. 2026, 01:30"
        assert i18n.number(12345.5) == "12\u202f345,5"
    with i18n.reading("zh", "Asia/Shanghai"):
        assert i18n.when(instant) == "2026年12月3日 06:30"


def test_the_build_compiles_the_catalogs(tmp_path: Path) -> None:
    """The package's build (setup.py's build_py) writes messages.mo for each language into
    the build, never into the source tree."""
    import gettext
    import importlib.util

    spec = importlib.util.spec_from_file_location("mla_setup", ROOT / "setup.py")
    assert spec and spec.loader
    setup_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup_module)
    written = setup_module.compile_catalogs(ROOT, tmp_path)
    assert sorted(mo.parents[1].name for mo in written) == sorted(i18n.LANGUAGES)
    arabic = gettext.GNUTranslations(BytesIO(
        (tmp_path / "mla/locale/ar/LC_MESSAGES/messages.mo").read_bytes()))
    assert arabic.gettext("Approve") == "الموافقة"
    assert not list((ROOT / "mla" / "locale").glob("*/LC_MESSAGES/*.mo"))


def test_a_matrix_page_is_in_the_recipients_language_and_keeps_its_reply_words() -> None:
    from mla.oncall import matrix

    payload = {"page_id": 7, "reason": "urgent request received", "reference": "FR-MJ-1",
               "kind": "mla.evidence", "requesting": "FR-MJ", "requested": "KE-ODPP",
               "step": 1, "round": 1, "link": "https://mla.example/alerts/7"}
    for lang in i18n.LANGUAGES:
        with i18n.reading(lang):
            body = matrix.page_body(payload)
        # The reply words are what matrix.intent reads, whatever the reader's language.
        assert "ACK" in body and "RESOLVE" in body and payload["link"] in body, lang
    with i18n.reading("fr"):
        assert "Pour accuser réception : répondez ACK" in matrix.page_body(payload)
