"""The 24/7 directory in and out as CSV and JSON: good rows imported, each bad one named by
line with its reasons; exports import back unchanged and carry no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla import db
from mla.directory import io as directory_io
from mla.models import ContactPoint, EscalationPolicy, Rotation
from mla.oncall import service as oncall
from tests.conftest import World, _migrated_engine, _wipe, build_world

CSV = ",".join(directory_io.CSV_COLUMNS) + """
FR-MJ,budapest_24_7,OCLCTIC desk,desk@fr.example,+33 100,fr;en,email;phone,Europe/Paris,,,true
KE-ODPP,budapest_24_7,Cyber unit,cyber@ke.example,,en;sw,email;webhook,Africa/Nairobi,https://h.ke/p,0123456789abcdef0123,yes
XX-NONE,g7,Ghost,ghost@example.org,,en,email,UTC,,,
FR-MJ,telepathy,Seer,seer@fr.example,,fr,email,Europe/Paris,,,
FR-MJ,interpol_ncb,"NCB Paris
night desk",ncb@fr.example,,fr,"email;pigeon",Mars/Olympus,,,maybe
US-OIA,g7,Hotline,not-an-address,,en,email,America/New_York,,,
"""

JSON = """{
  "authorities": [
    {"code": "BR-DRCI", "country": "BR", "name": "DRCI", "timezone": "America/Sao_Paulo",
     "languages": ["pt", "en"]},
    {"code": "bad code", "country": "ZZZ", "name": "x", "timezone": "UTC", "languages": []}
  ],
  "contact_points": [
    {"authority": "BR-DRCI", "network": "budapest_24_7", "name": "Plantao",
     "email": "plantao@br.example", "languages": ["pt"], "channels": ["email"],
     "timezone": "America/Sao_Paulo"},
    {"authority": "BR-DRCI", "network": "budapest_24_7", "name": "Reserva",
     "email": "reserva@br.example", "languages": ["pt", "en"], "channels": ["email"],
     "timezone": "America/Sao_Paulo"},
    {"authority": "BR-DRCI", "network": "budapest_24_7", "name": "Typo", "colour": "red",
     "timezone": "America/Sao_Paulo"}
  ],
  "rotations": [
    {"authority": "BR-DRCI", "network": "budapest_24_7", "timezone": "America/Sao_Paulo",
     "handoff_time": "08:00", "shift_hours": 168, "starts_on": "2026-01-05",
     "members": ["Plantao", "Reserva"]},
    {"authority": "BR-DRCI", "network": "g7", "timezone": "America/Sao_Paulo",
     "handoff_time": "25:00", "shift_hours": 24, "starts_on": "someday",
     "members": ["Nobody"]}
  ],
  "escalation_policies": [
    {"authority": "BR-DRCI", "network": "budapest_24_7", "repeat": 2,
     "steps": [{"notify": "on_call", "delay_minutes": 5},
               {"notify": "contact:Reserva", "delay_minutes": 10},
               {"notify": "role:supervisor", "delay_minutes": 15}]},
    {"authority": "BR-DRCI", "network": "g7", "steps": [{"notify": "contact:Nobody",
     "delay_minutes": 5}]}
  ]
}
"""


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_csv_imports_good_rows_and_names_each_bad_one(session: Session, world: World) -> None:
    seen = []
    report = directory_io.import_text(session, CSV, "csv", on_row=lambda r: seen.append(r.line))
    session.commit()
    assert (report.created, report.updated) == (2, 0)
    assert seen == [2, 3, 4, 5, 6, 8]
    bad = {e.line: e for e in report.errors}
    assert sorted(bad) == [4, 5, 6, 8]
    assert "no authority XX-NONE" in str(bad[4])
    assert "network" in str(bad[5])
    # The quoted name spans lines 6-7; the row is named by its first line, all problems at once.
    fields = {p.split(":")[0] for p in bad[6].problems}
    assert {"active", "channels", "timezone"} <= fields
    assert str(bad[8]).startswith("line 8 (contact_points US-OIA/g7/Hotline): email")
    ke = oncall.contact_by_name(session, world.ke.id, "budapest_24_7", "Cyber unit")
    assert ke is not None and ke.channels == ["email", "webhook"] and ke.languages == ["en", "sw"]
    assert ke.webhook_secret == "0123456789abcdef0123"
    # Importing again updates in place.
    again = directory_io.import_text(session, CSV, "csv")
    assert (again.created, again.updated, len(again.errors)) == (0, 2, 4)
    assert _count(session, ContactPoint) == 2


def test_json_sections_with_line_numbers_and_references_by_name(session: Session,
                                                                world: World) -> None:
    report = directory_io.import_text(session, JSON, "json")
    session.commit()
    assert report.created == 5  # authority, 2 contact points, rotation, policy
    assert [(e.line, e.section) for e in report.errors] == [
        (5, "authorities"), (14, "contact_points"), (21, "rotations"),
        (30, "escalation_policies")]
    errors = {e.section: e for e in report.errors}
    assert "colour: unknown field" in errors["contact_points"].problems
    assert {p.split(":")[0] for p in errors["rotations"].problems} == {"members.0", "starts_on"}
    assert "Nobody" in str(errors["escalation_policies"])
    br = session.scalar(select(Rotation))
    assert br is not None and br.shift_hours == 168
    reserva = session.scalar(select(ContactPoint).where(ContactPoint.name == "Reserva"))
    policy = session.scalar(select(EscalationPolicy))
    assert policy is not None and reserva is not None
    assert policy.steps[1] == {"notify": f"contact:{reserva.id}", "delay_minutes": 10}
    # The imported rotation answers: 2026-01-12 08:00 local starts Reserva's week.
    who = oncall.on_call(session, br.authority_id, "budapest_24_7",
                         datetime(2026, 1, 12, 11, 0, tzinfo=UTC))
    assert who is not None and who.member.name == "Reserva"


def test_export_round_trips_without_secrets(session: Session, world: World) -> None:
    directory_io.import_text(session, CSV, "csv")
    directory_io.import_text(session, JSON, "json")
    session.commit()
    exported = directory_io.export_json(session)
    assert "0123456789abcdef0123" not in exported
    data = json.loads(exported)
    assert data["escalation_policies"][0]["steps"][1]["notify"] == "contact:Reserva"
    assert data["rotations"][0]["members"] == ["Plantao", "Reserva"]
    csv_text = directory_io.export_csv(session)
    assert "webhook_secret" not in csv_text and "Cyber unit" in csv_text
    # Back in: everything is an update, nothing rejected, the stored secret kept.
    report = directory_io.import_text(session, exported, "json")
    assert (report.created, len(report.errors)) == (0, 0)
    assert directory_io.import_text(session, csv_text, "csv").errors == []
    ke = oncall.contact_by_name(session, world.ke.id, "budapest_24_7", "Cyber unit")
    assert ke is not None and ke.webhook_secret == "0123456789abcdef0123"
    assert directory_io.export_json(session) == exported


def test_unreadable_files_are_refused_whole(session: Session, world: World) -> None:
    for text, fmt, message in (("{not json", "json", "line 1: not valid JSON"),
                               ("who,what\n1,2\n", "csv", "lacks the column"),
                               ('"just a string"', "json", "expected a list")):
        try:
            directory_io.import_text(session, text, fmt)
            raise AssertionError("accepted")
        except directory_io.ParseError as exc:
            assert message in exc.detail
    report = directory_io.import_text(session, '{"people": [], "rotations": 3}', "json")
    assert [str(e) for e in report.errors] == [
        "line 1 (people): unknown section; expected one of authorities, contact_points, "
        "rotations, escalation_policies", "line 1 (rotations): must be a list"]


def test_cli_import_with_report_and_export(sqlite_base_url: str, tmp_path: Path) -> None:
    engine = _migrated_engine(sqlite_base_url)
    _wipe(engine)
    with db.session_factory(engine)() as s:
        build_world(s)
    source = tmp_path / "directory.csv"
    source.write_text(CSV)
    env = {**os.environ, "MLA_DATABASE_URL": sqlite_base_url}
    cli = [sys.executable, "-m", "cli", "directory"]
    result = subprocess.run([*cli, "import", str(source)], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "2 rows imported (2 new, 0 updated), 4 rejected" in result.stdout
    assert "Importing directory.csv" in result.stderr  # the progress bar
    assert f"{source}:line 4 (contact_points XX-NONE/g7/Ghost): authority: no authority" \
        in result.stderr
    out = subprocess.run([*cli, "export", "--format", "csv"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.count("\n") == 3
    json_file = tmp_path / "out.json"
    subprocess.run([*cli, "export", "--format", "json", "-o", str(json_file)], env=env,
                   check=True, timeout=120)
    clean = subprocess.run([*cli, "import", str(json_file)], env=env, capture_output=True,
                           text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert "0 rejected" in clean.stdout
