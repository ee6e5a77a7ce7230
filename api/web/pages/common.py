"""What the console pages share: times in the user's zone, countdowns, labels of kinds,
states and events, the request read with its content, and the form's add-a-row action."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request

import workflows
from api.deps import SessionDep
from mla import access, i18n, inputs, kinds, templates
from mla.clock import utcnow
from mla.errors import InvalidInput, NotFound
from mla.i18n import _
from mla.models import Request as MlaRequest
from mla.models import User


class _LanguageNames(Mapping[str, str]):
    """Languages of request texts by code, each named in the reader's language (CLDR names,
    by Babel): the languages translations are commonly made into, in this order."""

    CODES = ("ar", "zh", "en", "fr", "ru", "es", "de", "it", "pt", "sw", "nl")

    def __getitem__(self, code: str) -> str:
        if code not in self.CODES:
            raise KeyError(code)
        return i18n.locale(i18n.language()).languages.get(code, code)

    def __iter__(self) -> Iterator[str]:
        return iter(self.CODES)

    def __len__(self) -> int:
        return len(self.CODES)


LANGUAGES = _LanguageNames()
UN_LANGUAGES = i18n.LANGUAGES


def reader_language(request: Request, user: User) -> str:
    """The language the page is read in (chosen by api.web.session.read_as): legal texts
    shown with it (deadline titles, template labels) are in the same language."""
    return i18n.language()


def local(instant: datetime | None, tz: str) -> str:
    """`instant` in `tz`, written the reader's way (Babel, CLDR)."""
    return i18n.when(instant, tz)


def countdown(due: datetime, now: datetime) -> str:
    """"in 3 d 4 h" / "overdue by 2 h 5 min": the server's text, refreshed by console.js
    with the same words (api.web.session.countdown_words)."""
    seconds = int((due - now).total_seconds())
    past = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    d, h, m = (_("{n} d", n=days), _("{n} h", n=hours), _("{n} min", n=minutes))
    text = f"{d} {h}" if days else f"{h} {m}" if hours else m
    return _("overdue by {time}", time=text) if past else _("in {time}", time=text)


def kind_label(kind: str) -> str:
    """The kind's name: kinds.yaml in English, else the title of its template (six languages,
    templates/requests/)."""
    try:
        english = kinds.get(kind).label
    except InvalidInput:
        return kind
    if i18n.language() == i18n.DEFAULT:
        return english
    try:
        return i18n.localized(templates.get(kind).title) or english
    except (InvalidInput, NotFound):
        return english


def state_label(workflow: str, state: str) -> str:
    wf = workflows.get(workflow)
    found = wf.states.get(state)
    return _(found.label) if found else state


def event_label(workflow: str, event: str) -> str:
    for t in workflows.get(workflow).definition.transitions:
        if t.event == event and t.label:
            return _(t.label)
    return event.replace("_", " ").capitalize()


def user_tz(user: User) -> str:
    return user.authority.timezone


def my_offset(user: User) -> str:
    offset = utcnow().astimezone(ZoneInfo(user_tz(user))).isoformat()[-6:]
    return offset


def with_content(session: SessionDep, request_id: uuid.UUID, user: User) -> MlaRequest:
    """The request, for a role that reads case content (404 if not a party, 403 if the role
    sees only status)."""
    row = access.get_request(session, request_id, user)
    access.require_content(user)
    return row


def form_version(value: str) -> int | None:
    """The version of the request a form was drawn at (its `version` field); None when the
    form carries none. Anything else that is no version ("abc", "²", 5,000 digits) counts as
    one no request has: the change is refused as a conflict, not made unchecked."""
    value = value.strip()
    if not value:
        return None
    number = inputs.parse_int(value, 0, 10**30)
    return -1 if number is None else number


def add_rows(form: FormData) -> list[str]:
    action = str(form.get("action") or "")
    return [action[4:]] if action.startswith("add:") else []
