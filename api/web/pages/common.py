"""What the console pages share: times in the user's zone, countdowns, labels of kinds,
states and events, the request read with its content, and the form's add-a-row action."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request

import workflows
from api.deps import SessionDep
from mla import access, inputs, kinds
from mla.clock import utcnow
from mla.errors import InvalidInput
from mla.models import Request as MlaRequest
from mla.models import User

LANGUAGES = {"ar": "Arabic", "zh": "Chinese", "en": "English", "fr": "French",
             "ru": "Russian", "es": "Spanish", "de": "German", "it": "Italian",
             "pt": "Portuguese", "sw": "Swahili", "nl": "Dutch"}


# The six official languages of the United Nations, which the legal texts shown to people
# (deadline titles, template labels) exist in.
UN_LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")


def reader_language(request: Request, user: User) -> str:
    """The language the reader reads: the browser's first choice among the six UN languages,
    else the first of the user's authority's languages that is one, else English."""
    choices = []
    for position, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.split("-")[0].lower()
        if primary in UN_LANGUAGES and quality > 0:
            choices.append((-quality, position, primary))
    if choices:
        return min(choices)[2]
    return next((lang for lang in user.authority.languages if lang in UN_LANGUAGES), "en")


def local(instant: datetime | None, tz: str) -> str:
    if instant is None:
        return ""
    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def countdown(due: datetime, now: datetime) -> str:
    """"in 3 d 4 h" / "overdue by 2 h 5 min": the server's text, refreshed by console.js."""
    seconds = int((due - now).total_seconds())
    past = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return f"overdue by {text}" if past else f"in {text}"


def kind_label(kind: str) -> str:
    try:
        return kinds.get(kind).label
    except InvalidInput:
        return kind


def state_label(workflow: str, state: str) -> str:
    wf = workflows.get(workflow)
    found = wf.states.get(state)
    return found.label if found else state


def event_label(workflow: str, event: str) -> str:
    for t in workflows.get(workflow).definition.transitions:
        if t.event == event and t.label:
            return t.label
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
