"""Import and export of profiles and competent authorities as JSON or CSV.

JSON: an object with the sections `profiles` (each a profile body, mla/profiles/model.py,
plus its `code`) and `competent_authorities` (each a finder row):

    {"profiles": [{"code": "KE", "languages": {"*": ["en"]}, "channels": ["email_signed_pdf"],
                   "notes": [{"text": "...", "source": "...", "date": "2026-01-15"}]}],
     "competent_authorities": [{"country": "KE", "measure": "mla.search_seizure",
                                "area": "Mombasa", "places": ["Mombasa", "Kilifi"],
                                "name": "...", "authority_code": null,
                                "transmission": "central", "contact": "...",
                                "languages": ["en"], "notes": ""}]}

CSV holds one section, told by its header: a `measure` column makes it competent
authorities (columns `COMPETENT_COLUMNS`, lists separated by `;`), a `code` column profiles
(`PROFILE_COLUMNS`; maps by kind as `kind:value` entries separated by `;`, e.g.
`*:en,sw;extradition.request:en`; thresholds as `basis:maximum/imposed` months, e.g.
`eaw_2002_584:12/4`; dual criminality as its measures, `advisory:` before them when it is
not mandatory; contact as `key:value` entries; notes one a line, `date | source | text`).

Rows are upserted on their natural key (profile code; country, measure and area), so
importing twice changes nothing. Each row is imported on its own: good rows are kept, bad
ones are reported with their line number and every problem found.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mla.errors import DomainError, FieldProblem, InvalidInput
from mla.models import CompetentAuthority
from mla.profiles import editing, service
from mla.profiles.model import COUNTRY, KEYS, LANGUAGE, TRANSMISSIONS, measures
from mla.rowfiles import Report, Row, RowError

SECTIONS = ("profiles", "competent_authorities")
PROFILE_COLUMNS = ("code", *KEYS)
COMPETENT_COLUMNS = ("country", "measure", "area", "places", "name", "authority_code",
                     "transmission", "contact", "languages", "notes")
BY_KIND = ("languages", "transmission", "execution_days")


class ParseError(DomainError):
    """The file as a whole cannot be read (not CSV/JSON, unknown columns)."""

    title = "Unreadable profiles file"


# --- CSV cells -----------------------------------------------------------------------------

def _list(cell: str) -> list[str]:
    return [p.strip() for p in re.split(r"[;,]", cell) if p.strip()]


def _flag(cell: str, name: str, problems: list[FieldProblem]) -> bool | None:
    text = cell.strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    if text:
        problems.append(FieldProblem(name, f"{cell!r} is not true, false or empty"))
    return None


def _entries(cell: str, name: str, problems: list[FieldProblem]) -> list[tuple[str, str]]:
    out = []
    for entry in (e.strip() for e in cell.split(";") if e.strip()):
        key, sep, value = entry.partition(":")
        if not sep or not key.strip() or not value.strip():
            problems.append(FieldProblem(name, f"{entry!r} is not kind:value"))
            continue
        out.append((key.strip(), value.strip()))
    return out


def _number(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _profile_from_cells(cells: dict[str, str]) -> dict[str, Any]:
    problems: list[FieldProblem] = []
    data: dict[str, Any] = {"code": cells.get("code", "")}
    for key in BY_KIND:
        pairs = _entries(cells.get(key, ""), key, problems)
        if pairs:
            data[key] = {k: (_list(v) if key == "languages" else
                             _number(v) if key == "execution_days" else v) for k, v in pairs}
    for key in ("channels", "legal_bases"):
        if cells.get(key, "").strip():
            data[key] = _list(cells[key])
    for key in ("electronic_signature", "certified_translation"):
        flag = _flag(cells.get(key, ""), key, problems)
        if flag is not None:
            data[key] = flag
    dc = cells.get("dual_criminality", "").strip()
    if dc:
        # "coercive;mla.e_evidence.production" (mandatory), or prefixed "advisory:".
        advisory = dc.lower().startswith("advisory:")
        data["dual_criminality"] = {"measures": _list(dc.split(":", 1)[1] if advisory else dc),
                                    "mandatory": not advisory}
    thresholds: dict[str, Any] = {}
    for basis, value in _entries(cells.get("penalty_thresholds", ""), "penalty_thresholds",
                                 problems):
        maximum, _, imposed = value.partition("/")
        limits = {k: _number(v.strip()) for k, v in (("maximum_months", maximum),
                                                     ("imposed_months", imposed)) if v.strip()}
        thresholds[basis] = limits
    if thresholds:
        data["penalty_thresholds"] = thresholds
    contact = dict(_entries(cells.get("contact", ""), "contact", problems))
    if contact:
        data["contact"] = contact
    notes = []
    for line in (x.strip() for x in cells.get("notes", "").splitlines() if x.strip()):
        parts = [p.strip() for p in line.split("|", 2)]
        if len(parts) != 3:
            problems.append(FieldProblem("notes", f"{line!r} is not 'date | source | text'"))
            continue
        notes.append({"date": parts[0], "source": parts[1], "text": parts[2]})
    if notes:
        data["notes"] = notes
    if problems:
        data["_problems"] = problems
    return data


def _competent_from_cells(cells: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: cells.get(k, "") for k in COMPETENT_COLUMNS}
    data["places"] = _list(cells.get("places", ""))
    data["languages"] = _list(cells.get("languages", ""))
    data["authority_code"] = cells.get("authority_code") or None
    return data


def parse_csv(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "measure" in header:
        section, columns, convert = "competent_authorities", COMPETENT_COLUMNS, \
            _competent_from_cells
        required: tuple[str, ...] = ("country", "measure", "name", "transmission")
    elif "code" in header:
        section, columns, convert = "profiles", PROFILE_COLUMNS, _profile_from_cells
        required = ("code",)
    else:
        raise ParseError("line 1: the header needs a column 'code' (profiles: "
                         f"{','.join(PROFILE_COLUMNS)}) or 'measure' (competent authorities: "
                         f"{','.join(COMPETENT_COLUMNS)})")
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in columns]
    if missing or unknown:
        raise ParseError("line 1: " + "; ".join(
            ([f"the header lacks {', '.join(missing)}"] if missing else [])
            + ([f"unknown column(s) {', '.join(unknown)}"] if unknown else [])))
    reader.fieldnames = header
    rows, start = [], 2
    for record in reader:
        cells = {k: (v or "").strip() for k, v in record.items() if k is not None}
        data = convert(cells)
        if None in record:
            data["_extra"] = True
        rows.append(Row(section, start, data))
        start = reader.line_num + 1
    return rows


# --- JSON ----------------------------------------------------------------------------------

def _item_lines(text: str, section: str, count: int) -> list[int]:
    """The line each item of the top-level array `section` starts on (json gives none)."""
    decoder = json.JSONDecoder()
    match = re.search(r'"' + re.escape(section) + r'"\s*:\s*\[', text)
    if match is None:
        return [1] * count
    lines, i = [], match.end()
    for _ in range(count):
        while text[i] in " \t\r\n,":
            i += 1
        lines.append(text.count("\n", 0, i) + 1)
        _, i = decoder.raw_decode(text, i)
    return lines


def parse_json(text: str) -> tuple[list[Row], list[RowError]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(document, dict):
        raise ParseError(f"line 1: expected an object with the sections {', '.join(SECTIONS)}")
    rows: list[Row] = []
    errors: list[RowError] = []
    for name, items in document.items():
        if name not in SECTIONS:
            errors.append(RowError(1, name, "", (f"unknown section; expected one of "
                                                 f"{', '.join(SECTIONS)}",)))
        elif not isinstance(items, list):
            errors.append(RowError(1, name, "", ("must be a list",)))
        else:
            lines = _item_lines(text, name, len(items))
            rows.extend(Row(name, line, item) for item, line in zip(items, lines, strict=True))
    rows.sort(key=lambda r: SECTIONS.index(r.section))
    return rows, errors


def parse(text: str, fmt: str) -> tuple[list[Row], list[RowError]]:
    if fmt == "csv":
        return parse_csv(text), []
    if fmt == "json":
        return parse_json(text)
    raise ParseError(f"unknown format {fmt!r}; csv or json")


# --- importing -----------------------------------------------------------------------------

def _import_profile(session: Session, data: dict[str, Any]) -> bool:
    problems = list(data.get("_problems", []))
    if data.get("_extra"):
        problems.append(FieldProblem("row", "more cells than columns"))
    code = data.get("code")
    if not isinstance(code, str) or not code.strip():
        problems.append(FieldProblem("code", "a country (KE) or authority (KE-ODPP) code"))
    if problems:
        raise InvalidInput("profile not valid", problems)
    body = {k: v for k, v in data.items() if k not in ("code", "_problems", "_extra")}
    _, created = editing.save(session, code.strip(), body)
    return created


def _text(data: dict[str, Any], key: str, limit: int, problems: list[FieldProblem],
          required: bool = False) -> str:
    value = data.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.append(FieldProblem(key, "text"))
        return ""
    if required and not value.strip():
        problems.append(FieldProblem(key, "required"))
    if len(value) > limit:
        problems.append(FieldProblem(key, f"at most {limit} characters"))
    return value.strip()


def _import_competent(session: Session, data: dict[str, Any]) -> bool:
    problems: list[FieldProblem] = []
    if data.get("_extra"):
        problems.append(FieldProblem("row", "more cells than columns"))
    unknown = set(data) - set(COMPETENT_COLUMNS) - {"_extra"}
    if unknown:
        problems.append(FieldProblem(sorted(unknown)[0], "unknown field; expected "
                                     + ", ".join(COMPETENT_COLUMNS)))
    country = _text(data, "country", 2, problems, required=True)
    if country and not COUNTRY.fullmatch(country):
        problems.append(FieldProblem("country", "ISO 3166 alpha-2 in capitals, e.g. KE"))
    measure = _text(data, "measure", 80, problems, required=True)
    if measure and measure != "*" and measure not in measures():
        problems.append(FieldProblem("measure", f"{measure!r} is not a request kind, an EIO "
                                     "section C measure (eio.c.*) or *"))
    area = _text(data, "area", 200, problems)
    name = _text(data, "name", 300, problems, required=True)
    transmission = _text(data, "transmission", 10, problems, required=True)
    if transmission and transmission not in TRANSMISSIONS:
        problems.append(FieldProblem("transmission", "central or direct"))
    contact = _text(data, "contact", 2000, problems)
    notes = _text(data, "notes", 4000, problems)
    code = data.get("authority_code")
    if code is not None and (not isinstance(code, str) or len(code) > 32):
        problems.append(FieldProblem("authority_code", "a directory code, e.g. KE-ODPP"))
    places = data.get("places") or []
    if not isinstance(places, list) or not all(isinstance(p, str) and p.strip()
                                               for p in places):
        problems.append(FieldProblem("places", "a list of city, district or region names"))
        places = []
    if places and not area:
        problems.append(FieldProblem("area", "name the area the places make up"))
    languages = data.get("languages") or []
    if not isinstance(languages, list) or not all(isinstance(x, str) and LANGUAGE.fullmatch(x)
                                                  for x in languages):
        problems.append(FieldProblem("languages", "a list of ISO 639-1 codes"))
        languages = []
    if problems:
        raise InvalidInput("competent authority not valid", problems)
    row = session.scalar(select(CompetentAuthority).where(
        CompetentAuthority.country == country, CompetentAuthority.measure == measure,
        CompetentAuthority.area == area))
    created = row is None
    if row is None:
        row = CompetentAuthority(country=country, measure=measure, area=area)
        session.add(row)
    row.places = list(dict.fromkeys(p.strip() for p in places))
    row.name, row.authority_code, row.transmission = name, code or None, transmission
    row.contact, row.languages, row.notes = contact, languages, notes
    return created


IMPORTERS: dict[str, Callable[[Session, dict[str, Any]], bool]] = {
    "profiles": _import_profile,
    "competent_authorities": _import_competent,
}


def _key(row: Row) -> str:
    data = row.data if isinstance(row.data, dict) else {}
    parts = [data.get("code") or data.get("country"), data.get("measure"), data.get("area")]
    return "/".join(str(p) for p in parts if p)


def import_rows(session: Session, rows: Iterable[Row],
                on_row: Callable[[Row], None] | None = None) -> Report:
    """Imports each row in its own savepoint; the caller commits the good ones."""
    report = Report()
    for row in rows:
        try:
            if not isinstance(row.data, dict):
                raise InvalidInput("not an object", [FieldProblem("row", "must be an object")])
            with session.begin_nested():
                created = IMPORTERS[row.section](session, dict(row.data))
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
            reason = str(exc).splitlines()[0][:300]
            report.errors.append(RowError(row.line, row.section, _key(row), (reason,)))
        if on_row is not None:
            on_row(row)
    return report


def import_text(session: Session, text: str, fmt: str) -> Report:
    rows, errors = parse(text, fmt)
    report = import_rows(session, rows)
    report.errors = sorted(errors + report.errors, key=lambda e: e.line)
    return report


# --- exporting -----------------------------------------------------------------------------

def competent_row(row: CompetentAuthority) -> dict[str, Any]:
    return {"country": row.country, "measure": row.measure, "area": row.area,
            "places": row.places, "name": row.name, "authority_code": row.authority_code,
            "transmission": row.transmission, "contact": row.contact,
            "languages": row.languages, "notes": row.notes}


def export_data(session: Session, country: str | None = None) -> dict[str, list[Any]]:
    stmt = select(CompetentAuthority).order_by(CompetentAuthority.country,
                                               CompetentAuthority.measure,
                                               CompetentAuthority.area)
    if country:
        stmt = stmt.where(CompetentAuthority.country == country)
    return {
        "profiles": [{"code": p.code, **p.body} for p in service.listing(session, country)],
        "competent_authorities": [competent_row(r) for r in session.scalars(stmt)],
    }


def export_json(session: Session, country: str | None = None) -> str:
    return json.dumps(export_data(session, country), indent=2, ensure_ascii=False) + "\n"


def _profile_cells(item: dict[str, Any]) -> dict[str, str]:
    cells = {k: "" for k in PROFILE_COLUMNS}
    cells["code"] = item["code"]
    for key in BY_KIND:
        if key in item:
            cells[key] = ";".join(f"{k}:{','.join(v) if isinstance(v, list) else v}"
                                  for k, v in item[key].items())
    for key in ("channels", "legal_bases"):
        cells[key] = ";".join(item.get(key, []))
    for key in ("electronic_signature", "certified_translation"):
        if key in item:
            cells[key] = "true" if item[key] else "false"
    if "dual_criminality" in item:
        rule = item["dual_criminality"]
        listed = ";".join(rule.get("measures", []))
        cells["dual_criminality"] = listed if rule.get("mandatory", True) else \
            f"advisory:{listed}"
    cells["penalty_thresholds"] = ";".join(
        f"{basis}:{limits.get('maximum_months', '')}/{limits.get('imposed_months', '')}"
        for basis, limits in item.get("penalty_thresholds", {}).items())
    cells["contact"] = ";".join(f"{k}:{v}" for k, v in item.get("contact", {}).items())
    cells["notes"] = "\n".join(f"{n['date']} | {n['source']} | {n['text']}"
                               for n in item.get("notes", []))
    return cells


def export_csv(session: Session, section: str, country: str | None = None) -> str:
    """One section as CSV: `profiles` or `competent_authorities`."""
    data = export_data(session, country)
    out = io.StringIO()
    if section == "profiles":
        writer = csv.DictWriter(out, fieldnames=PROFILE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for item in data["profiles"]:
            writer.writerow(_profile_cells(item))
    else:
        writer = csv.DictWriter(out, fieldnames=COMPETENT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for item in data["competent_authorities"]:
            writer.writerow({**item, "places": ";".join(item["places"]),
                             "languages": ";".join(item["languages"]),
                             "authority_code": item["authority_code"] or ""})
    return out.getvalue()
