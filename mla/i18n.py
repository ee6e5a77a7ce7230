"""The interface in the six UN languages: gettext catalogs (mla/locale/<lang>/LC_MESSAGES/
messages.po, managed with `pybabel extract / update / compile`), the language of the reader
chosen once per request or message, and numbers, dates and times written the reader's way.

Catalogs are read once per process (`translations`, cached): the package's build compiles
each `messages.po` to `messages.mo` (setup.py); a source checkout whose `.mo` is missing or
older than its `.po` compiles it in memory on first use, so a translator sees an edit after a
restart without a build step.

The current language lives in a context variable holding a mutable `Reading`: the console
sets a fresh one per HTTP request before FastAPI copies the context into the threads that
run dependencies and handlers, so the language chosen in the user dependency is the one the
handler and its templates use. Workers (pager e-mails) choose per message with `reading()`."""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

# The six official languages of the United Nations, in the UN's order; the interface exists in
# each of them, the legal texts shown to people (deadline titles, template labels) too.
LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")
DEFAULT = "en"
RTL = frozenset({"ar"})
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

# Each language named in itself, for the switcher (and `lang` on each option).
NATIVE_NAMES = {"ar": "العربية", "zh": "中文", "en": "English", "fr": "Français",
                "ru": "Русский", "es": "Español"}


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined (module constants, data); it is
    translated where it is shown, with `gettext`."""
    return message


def _compiled(po: Path) -> bytes:
    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parent.parent.name, domain=DOMAIN)
    out = BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The catalog of one language, read once per process."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as f:
            return gettext_module.GNUTranslations(f)
    if po.exists():
        return gettext_module.GNUTranslations(BytesIO(_compiled(po)))
    return gettext_module.NullTranslations()


class Reading:
    """The language (and time zone) the current reader reads in."""

    __slots__ = ("language", "timezone", "translations")

    def __init__(self, language: str = DEFAULT, timezone: str = "UTC") -> None:
        self.language = DEFAULT
        self.timezone = timezone
        self.translations: gettext_module.NullTranslations = gettext_module.NullTranslations()
        self.use(language)

    def use(self, language: str, timezone: str | None = None) -> None:
        self.language = language if language in LANGUAGES else DEFAULT
        self.translations = translations(self.language)
        if timezone:
            self.timezone = timezone


_current: ContextVar[Reading] = ContextVar("mla_i18n_reading")


def current() -> Reading:
    try:
        return _current.get()
    except LookupError:
        reading = Reading()
        _current.set(reading)
        return reading


def begin(language: str = DEFAULT, timezone: str = "UTC") -> Reading:
    """A fresh reading for this context (one HTTP request); returned to be changed once the
    reader is known."""
    reading = Reading(language, timezone)
    _current.set(reading)
    return reading


@contextmanager
def reading(language: str, timezone: str = "UTC") -> Iterator[Reading]:
    """Texts inside the block in `language` (a message to one recipient)."""
    token = _current.set(Reading(language, timezone))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def language() -> str:
    return current().language


def direction(lang: str | None = None) -> str:
    return "rtl" if (lang or language()) in RTL else "ltr"


def gettext(message: str, **variables: object) -> str:
    """`message` in the current language; `{name}` placeholders filled from `variables`."""
    text = current().translations.gettext(message)
    return text.format(**variables) if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    text = current().translations.ngettext(singular, plural, n)
    return text.format(**{"num": n, **variables})


_ = gettext


def jinja_gettext(message: str) -> str:
    """For Jinja's i18n extension (newstyle), which fills `%(name)s` itself and escapes."""
    return current().translations.gettext(message)


def jinja_ngettext(singular: str, plural: str, n: int) -> str:
    return current().translations.ngettext(singular, plural, n)


# --- choosing the language ------------------------------------------------------------------

def accepted(header: str) -> list[str]:
    """The tags of an Accept-Language header, best first (RFC 9110 §12.5.4)."""
    choices = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        if quality > 0:
            choices.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(choices)]


def negotiate(header: str) -> str | None:
    """The browser's first choice among the six languages (`zh-CN` → `zh`), Babel's rules."""
    tags = accepted(header)
    return negotiate_locale(tags, list(LANGUAGES), sep="-") if tags else None


def first_of(languages: Iterable[str] | None) -> str | None:
    return next((lang for lang in languages or () if lang in LANGUAGES), None)


def choose(preference: str | None, accept_language: str,
           authority_languages: Iterable[str] | None) -> str:
    """The user's stored preference, else the browser's Accept-Language, else the
    authority's first language that is one of the six, else English."""
    if preference in LANGUAGES:
        return preference  # type: ignore[return-value]
    return (negotiate(accept_language) or first_of(authority_languages) or DEFAULT)


def for_recipient(preference: str | None, *fallbacks: Iterable[str] | None) -> str:
    """The language of a message to someone not at a browser: their preference, else the
    first of the fallbacks' languages that is one of the six, else English."""
    if preference in LANGUAGES:
        return preference  # type: ignore[return-value]
    for languages in fallbacks:
        found = first_of(languages)
        if found:
            return found
    return DEFAULT


def localized(labels: Mapping[str, str] | None, lang: str | None = None) -> str:
    """One language of a six-language mapping held as data (template labels and messages),
    English when that language is missing."""
    if not labels:
        return ""
    return labels.get(lang or language()) or labels.get(DEFAULT) or ""


# --- writing numbers, dates and times the reader's way -----------------------------------------

@cache
def locale(lang: str) -> Locale:
    return Locale.parse(lang)


def when(instant: datetime | None, timezone: str | None = None) -> str:
    """Date and time in the reader's language, in `timezone` (default: the reading's), to the
    minute, on the 24-hour clock officers write deadlines in: "Dec 2, 2026, 14:05",
    "2 déc. 2026, 14:05", "2026年12月2日 14:05" (CLDR's medium date, its date-time pattern)."""
    if instant is None:
        return ""
    where = instant.astimezone(ZoneInfo(timezone or current().timezone))
    found = locale(language())
    pattern = str(found.datetime_formats["medium"])
    return pattern.replace("{1}", format_date(where, "medium", locale=found)).replace(
        "{0}", format_time(where, "HH:mm", locale=found))


def day(value: date | None) -> str:
    if value is None:
        return ""
    return format_date(value, "medium", locale=locale(language()))


def number(value: float | int | None) -> str:
    if value is None:
        return ""
    return format_decimal(value, locale=locale(language()))


def full_when(instant: datetime, timezone: str) -> str:
    """With the zone named, for messages read away from the console."""
    return format_datetime(instant, "medium", tzinfo=ZoneInfo(timezone),
                           locale=locale(language())) + f" ({timezone})"


def problem(found: object) -> str:
    """A field problem (mla.errors.FieldProblem) in the reader's language: its six-language
    labels when it has them, else the catalog's translation of its text, filled again."""
    labels = getattr(found, "labels", None)
    if labels:
        return localized(labels)
    text = getattr(found, "text", "") or ""
    params = getattr(found, "params", None) or {}
    if text:
        return gettext(text, **{k: localized(v) if isinstance(v, Mapping) else v
                                for k, v in params.items()})
    return gettext(str(getattr(found, "message", "")))
