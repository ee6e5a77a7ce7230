"""Import and export of the 24/7 directory as CSV or JSON.

CSV holds contact points, one a row, with the columns of `CSV_COLUMNS` (`languages` and
`channels` separated by `;`). JSON holds either a list of such rows, or an object with any of
the sections `authorities`, `contact_points`, `rotations`, `escalation_policies`:

    {"authorities": [{"code": "FR-MJ", "country": "FR", "name": "...",
                      "timezone": "Europe/Paris", "languages": ["fr", "en"]}],
     "contact_points": [{"authority": "FR-MJ", "network": "budapest_24_7", "name": "Desk",
                         "email": "desk@example.org", "channels": ["email"], ...}],
     "rotations": [{"authority": "FR-MJ", "network": "budapest_24_7",
                    "timezone": "Europe/Paris", "handoff_time": "09:00", "shift_hours": 168,
                    "starts_on": "2026-01-05", "members": ["Desk", "Duty officer"]}],
     "escalation_policies": [{"authority": "FR-MJ", "network": "budapest_24_7", "repeat": 1,
                              "steps": [{"notify": "on_call", "delay_minutes": 5},
                                        {"notify": "contact:Desk", "delay_minutes": 10},
                                        {"notify": "role:supervisor", "delay_minutes": 15}]}]}

Across files, contact points are named, not numbered: rotation members are contact point
names of the rotation's authority and network; a policy step names `contact:<name>` (same
network) or `contact:<network>/<name>`. Rows are upserted on their natural key (authority
code; authority, network and name; authority and network), so importing twice changes
nothing. Each row is imported on its own: good rows are kept, bad ones are reported with
their line number and every problem found. Exports never contain webhook secrets; an import
that leaves the secret out keeps the stored one.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mla.directory import service as directory
from mla.errors import DomainError, FieldProblem, InvalidInput
from mla.models import Authority, ContactPoint, EscalationPolicy, Rotation
from mla.oncall import paging
from mla.oncall import service as oncall
from mla.rowfiles import Report, Row, RowError

CSV_COLUMNS = ("authority", "network", "name", "email", "phone", "languages", "channels",
               "timezone", "webhook_url", "webhook_secret", "active", "matrix_id")
REQUIRED_CSV = ("authority", "network", "name", "timezone")
# In dependency order: contact points need their authority, rotations and policies their
# contact points.
SECTIONS = ("authorities", "contact_points", "rotations", "escalation_policies")


class ParseError(DomainError):
    """The file as a whole cannot be read (not CSV/JSON, missing columns)."""

    title = "Unreadable directory file"


# --- reading -----------------------------------------------------------------------------

def _split(value: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"[;,]", value or "") if p.strip()]


def _flag(value: str | None) -> bool | str:
    text = (value or "").strip().lower()
    if text in ("", "1", "true", "yes", "y"):
        return True
    if text in ("0", "false", "no", "n"):
        return False
    return f"active: {value!r} is not true or false"


def parse_csv(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_CSV if c not in header]
    if missing:
        raise ParseError(f"line 1: the header lacks the column(s) {', '.join(missing)}; "
                         f"expected {','.join(CSV_COLUMNS)}")
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise ParseError(f"line 1: unknown column(s) {', '.join(unknown)}")
    reader.fieldnames = header
    rows = []
    start = 2
    for record in reader:
        cells = {k: (v.strip() if isinstance(v, str) else v) for k, v in record.items()
                 if k is not None}
        data: dict[str, Any] = {k: (v or None) for k, v in cells.items()}
        data["languages"] = _split(cells.get("languages"))
        data["channels"] = _split(cells.get("channels"))
        data["active"] = _flag(cells.get("active"))
        if None in record:  # more cells than columns
            data["_extra"] = record[None]
        rows.append(Row("contact_points", start, data))
        start = reader.line_num + 1
    return rows


_WS = re.compile(r"[ \t\n\r]*")


class _Located:
    """Line numbers of the items of the top-level JSON arrays (json gives none)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder()
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def line(self, index: int) -> int:
        return bisect.bisect_left(self.newlines, index) + 1

    def skip(self, i: int) -> int:
        match = _WS.match(self.text, i)
        assert match is not None
        return match.end()

    def array(self, i: int) -> tuple[list[tuple[Any, int]], int]:
        i = self.skip(i + 1)
        items: list[tuple[Any, int]] = []
        if self.text[i] == "]":
            return items, i + 1
        while True:
            value, end = self.decoder.raw_decode(self.text, i)
            items.append((value, self.line(i)))
            i = self.skip(end)
            if self.text[i] == "]":
                return items, i + 1
            i = self.skip(i + 1)  # the comma

    def sections(self) -> dict[str, list[tuple[Any, int]] | int]:
        """Section name -> located items, or -> the line of a section that is no list."""
        i = self.skip(0)
        if self.text[i] == "[":
            return {"contact_points": self.array(i)[0]}
        out: dict[str, list[tuple[Any, int]] | int] = {}
        i = self.skip(i + 1)
        while self.text[i] != "}":
            key, end = self.decoder.raw_decode(self.text, i)
            i = self.skip(self.skip(end) + 1)  # past the colon
            if self.text[i] == "[":
                out[key], i = self.array(i)
            else:
                out[key] = self.line(i)
                _, i = self.decoder.raw_decode(self.text, i)
            i = self.skip(i)
            if self.text[i] == ",":
                i = self.skip(i + 1)
        return out


def parse_json(text: str) -> tuple[list[Row], list[RowError]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(document, list | dict):
        raise ParseError("line 1: expected a list of contact points or an object with "
                         f"sections {', '.join(SECTIONS)}")
    rows: list[Row] = []
    errors: list[RowError] = []
    located = _Located(text).sections()
    for name, items in located.items():
        if name not in SECTIONS:
            line = items if isinstance(items, int) else (items[0][1] if items else 1)
            errors.append(RowError(line, name, "", (f"unknown section; expected one of "
                                                    f"{', '.join(SECTIONS)}",)))
            continue
        if isinstance(items, int):
            errors.append(RowError(items, name, "", ("must be a list",)))
            continue
        rows.extend(Row(name, line, value) for value, line in items)
    rows.sort(key=lambda r: SECTIONS.index(r.section))
    return rows, errors


def parse(text: str, fmt: str) -> tuple[list[Row], list[RowError]]:
    """Rows of a CSV or JSON directory file, and the problems found reading it."""
    if fmt == "csv":
        return parse_csv(text), []
    if fmt == "json":
        return parse_json(text)
    raise ParseError(f"unknown format {fmt!r}; csv or json")


# --- importing ---------------------------------------------------------------------------

def _authority(session: Session, data: dict[str, Any]) -> Authority:
    code = data.get("authority")
    if not isinstance(code, str) or not code:
        raise InvalidInput("no authority", [FieldProblem("authority", "an authority code")])
    authority = session.scalar(select(Authority).where(Authority.code == code))
    if authority is None:
        raise InvalidInput(f"no authority {code}", [FieldProblem(
            "authority", f"no authority {code}; add it first (section authorities)")])
    return authority


def _key(row: Row) -> str:
    data = row.data if isinstance(row.data, dict) else {}
    parts = [data.get("code") or data.get("authority"), data.get("network"), data.get("name")]
    return "/".join(str(p) for p in parts if p)


def _contact_named(session: Session, authority: Authority, network: str,
                   ref: str) -> ContactPoint | None:
    net, _, name = ref.rpartition("/") if "/" in ref else (network, "", ref)
    return oncall.contact_by_name(session, authority.id, net, name)


def _import_authority(session: Session, data: dict[str, Any]) -> bool:
    code = data.get("code")
    problems: list[FieldProblem] = []
    if not isinstance(code, str) or not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{1,31}", code):
        problems.append(FieldProblem("code", "an authority code, e.g. FR-MJ"))
    if not isinstance(data.get("name", ""), str) or (not data.get("name") and code is None):
        problems.append(FieldProblem("name", "the authority's name"))
    languages = data.get("languages", [])
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        problems.append(FieldProblem("languages", "a list of ISO 639-1 codes"))
    for attr in ("country", "timezone"):
        if not isinstance(data.get(attr, ""), str):
            problems.append(FieldProblem(attr, "text"))
    if problems:
        raise InvalidInput("authority not valid", problems)
    existing = session.scalar(select(Authority).where(Authority.code == code)) \
        if isinstance(code, str) else None
    if existing is None:
        directory.add_authority(session, code=code, country=data.get("country", ""),
                                name=data.get("name", ""), timezone=data.get("timezone", ""),
                                languages=data.get("languages") or [])
        return True
    oncall.check_timezone(data.get("timezone", existing.timezone), "timezone", problems)
    if problems:
        raise InvalidInput(f"authority {code} is not valid", problems)
    for attr in ("name", "timezone", "languages"):
        if data.get(attr):
            setattr(existing, attr, data[attr])
    return False


def _import_contact(session: Session, data: dict[str, Any]) -> bool:
    problems = []
    if "_extra" in data:
        problems.append(FieldProblem("row", "more cells than columns"))
    if isinstance(data.get("active"), str):
        active = _flag(data["active"])
        if isinstance(active, str):
            problems.append(FieldProblem("active", active))
        data = {**data, "active": active}
    unknown = set(data) - set(CSV_COLUMNS) - {"_extra"}
    if unknown:
        problems.append(FieldProblem(sorted(unknown)[0], "unknown field"))
    authority = _authority(session, data)
    if problems:
        raise InvalidInput("row not valid", problems + oncall.check_contact(data))
    fields = {k: v for k, v in data.items() if k in CSV_COLUMNS and k != "authority"}
    new = oncall.contact_by_name(session, authority.id, str(data.get("network")),
                                 str(data.get("name") or "").strip()) is None
    oncall.save_contact(session, authority.id, fields)
    return new


def _import_rotation(session: Session, data: dict[str, Any]) -> bool:
    authority = _authority(session, data)
    network = str(data.get("network"))
    members, problems = [], []
    raw = data.get("members")
    if not isinstance(raw, list) or not raw:
        problems.append(FieldProblem("members", "a list of contact point names"))
        raw = []
    for i, name in enumerate(raw):
        contact = oncall.contact_by_name(session, authority.id, network, str(name))
        if contact is None:
            problems.append(FieldProblem(f"members.{i}",
                                         f"no contact point {name!r} of {authority.code} on "
                                         f"{network}"))
        else:
            members.append(contact.id)
    try:
        starts_on = date.fromisoformat(str(data.get("starts_on")))
    except ValueError:
        problems.append(FieldProblem("starts_on", "a date, YYYY-MM-DD"))
        starts_on = date.min
    shift_hours = data.get("shift_hours")
    if problems:
        raise InvalidInput("rotation not valid", problems)
    new = oncall.rotation_for(session, authority.id, network) is None
    oncall.set_rotation(session, authority.id, network=network,
                        timezone=str(data.get("timezone")),
                        handoff_time=str(data.get("handoff_time")),
                        shift_hours=shift_hours if isinstance(shift_hours, int) else -1,
                        starts_on=starts_on, members=members)
    return new


def _import_policy(session: Session, data: dict[str, Any]) -> bool:
    authority = _authority(session, data)
    network = str(data.get("network"))
    steps: list[Any] = []
    problems = []
    raw = data.get("steps")
    if not isinstance(raw, list):
        raise InvalidInput("policy not valid", [FieldProblem("steps", "a list of steps")])
    for i, step in enumerate(raw):
        if isinstance(step, dict) and str(step.get("notify", "")).startswith("contact:"):
            ref = str(step["notify"]).removeprefix("contact:")
            contact = _contact_named(session, authority, network, ref)
            if contact is None:
                problems.append(FieldProblem(f"steps.{i}.notify",
                                             f"no contact point {ref!r} of {authority.code}"))
                continue
            step = {**step, "notify": f"contact:{contact.id}"}
        steps.append(step)
    if problems:
        raise InvalidInput("policy not valid", problems)
    new = session.scalar(select(EscalationPolicy.id).where(
        EscalationPolicy.authority_id == authority.id,
        EscalationPolicy.network == network)) is None
    paging.set_policy(session, authority.id, network=network, steps=steps,
                      repeat=data.get("repeat", 0))
    return new


IMPORTERS: dict[str, Callable[[Session, dict[str, Any]], bool]] = {
    "authorities": _import_authority,
    "contact_points": _import_contact,
    "rotations": _import_rotation,
    "escalation_policies": _import_policy,
}


def import_rows(session: Session, rows: Iterable[Row],
                on_row: Callable[[Row], None] | None = None) -> Report:
    """Imports each row in its own savepoint; the caller commits the good ones."""
    report = Report()
    for row in rows:
        try:
            if not isinstance(row.data, dict):
                raise InvalidInput("not an object", [FieldProblem("row", "must be an object")])
            with session.begin_nested():
                created = IMPORTERS[row.section](session, row.data)
                session.flush()
            if created:
                report.created += 1
            else:
                report.updated += 1
        except InvalidInput as exc:
            problems = tuple(f"{p.path}: {p.message}" for p in exc.problems) or (exc.detail,)
            report.errors.append(RowError(row.line, row.section, _key(row), problems))
        except DomainError as exc:
            report.errors.append(RowError(row.line, row.section, _key(row), (exc.detail,)))
        except (SQLAlchemyError, TypeError, ValueError) as exc:
            # The savepoint rolled back; the row is named, the import goes on.
            reason = str(exc).splitlines()[0][:300]
            report.errors.append(RowError(row.line, row.section, _key(row), (reason,)))
        if on_row is not None:
            on_row(row)
    return report


def import_text(session: Session, text: str, fmt: str,
                on_row: Callable[[Row], None] | None = None) -> Report:
    rows, errors = parse(text, fmt)
    report = import_rows(session, rows, on_row)
    report.errors = sorted(errors + report.errors, key=lambda e: e.line)
    return report


# --- exporting ---------------------------------------------------------------------------

def _contact_row(c: ContactPoint, codes: dict[int, str]) -> dict[str, Any]:
    return {"authority": codes[c.authority_id], "network": c.network, "name": c.name,
            "email": c.email, "phone": c.phone, "languages": c.languages,
            "channels": c.channels, "timezone": c.timezone, "webhook_url": c.webhook_url,
            "active": c.active, "matrix_id": c.matrix_id}


def export_data(session: Session) -> dict[str, list[dict[str, Any]]]:
    authorities = list(session.scalars(select(Authority).order_by(Authority.code)))
    codes = {a.id: a.code for a in authorities}
    contacts = {c.id: c for c in oncall.contacts(session)}

    def ref(contact_id: int, network: str) -> str:
        c = contacts.get(contact_id)
        if c is None:
            return f"contact:{contact_id}"
        return f"contact:{c.name}" if c.network == network else f"contact:{c.network}/{c.name}"

    rotations = session.scalars(select(Rotation).order_by(Rotation.authority_id,
                                                          Rotation.network))
    policies = session.scalars(select(EscalationPolicy).order_by(
        EscalationPolicy.authority_id, EscalationPolicy.network))
    return {
        "authorities": [{"code": a.code, "country": a.country, "name": a.name,
                         "timezone": a.timezone, "languages": a.languages}
                        for a in authorities],
        "contact_points": [_contact_row(c, codes) for c in contacts.values()],
        "rotations": [{"authority": codes[r.authority_id], "network": r.network,
                       "timezone": r.timezone, "handoff_time": r.handoff_time,
                       "shift_hours": r.shift_hours, "starts_on": r.starts_on.isoformat(),
                       "members": [contacts[m].name for m in r.members if m in contacts]}
                      for r in rotations],
        "escalation_policies": [
            {"authority": codes[p.authority_id], "network": p.network, "repeat": p.repeat,
             "steps": [{**s, "notify": ref(int(s["notify"].split(":")[1]), p.network)}
                       if str(s["notify"]).startswith("contact:") else dict(s)
                       for s in p.steps]}
            for p in policies],
    }


def export_json(session: Session) -> str:
    return json.dumps(export_data(session), indent=2, ensure_ascii=False) + "\n"


def export_csv(session: Session) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[c for c in CSV_COLUMNS if c != "webhook_secret"],
                            lineterminator="\n")
    writer.writeheader()
    for row in export_data(session)["contact_points"]:
        writer.writerow({**row, "languages": ";".join(row["languages"]),
                         "channels": ";".join(row["channels"]),
                         "active": "true" if row["active"] else "false"})
    return out.getvalue()
