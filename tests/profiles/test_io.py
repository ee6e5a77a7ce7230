"""Profiles and competent authorities in and out as JSON and CSV: good rows imported, each
bad one named by its line with every problem; exports import back unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla.models import CompetentAuthority, Profile
from mla.profiles import io as profiles_io
from tests.conftest import World, _migrated_engine, _wipe, build_world

JSON = """{
  "profiles": [
    {"code": "KE", "languages": {"*": ["en", "sw"]}, "channels": ["email_signed_pdf"],
     "dual_criminality": {"measures": ["coercive"], "mandatory": true},
     "penalty_thresholds": {"eaw_2002_584": {"maximum_months": 12, "imposed_months": 4}},
     "notes": [{"text": "Originals follow by post.", "source": "MLA Act 2011",
                "date": "2026-01-15"}]},
    {"code": "BR",
     "languages": {"mla.telepathy": ["pt"], "*": "pt"},
     "channels": ["pigeon"],
     "dual_criminality": {"measures": ["levitation"]},
     "penalty_thresholds": {"eaw_2002_584": {"maximum_months": "a year"}},
     "notes": [{"text": "No source given"}],
     "colour": "green"},
    {"code": "KE-ODPP", "transmission": {"*": "central", "mla.e_evidence.preservation":
                                         "direct"}}
  ],
  "competent_authorities": [
    {"country": "KE", "measure": "mla.search_seizure", "area": "Coast region",
     "places": ["Mombasa", "Kilifi"], "name": "ODPP Mombasa", "transmission": "central"},
    {"country": "kenya", "measure": "mla.mind_reading", "area": "", "name": "",
     "transmission": "sometimes", "languages": ["English"]},
    {"country": "KE", "measure": "*", "places": ["Nairobi"], "name": "Nowhere",
     "transmission": "direct"}
  ],
  "authorities": []
}
"""

PROFILES_CSV = ",".join(profiles_io.PROFILE_COLUMNS) + "\n" + (
    'FR,*:fr,peer_transfer;email_signed_pdf,true,false,coercive,eaw_2002_584:12/4,'
    'untoc;eaw_2002_584,*:central,mla.evidence:90,"2026-01-15 | EJN Atlas | French only\n'
    '2026-02-01 | Circulaire | Originals by post",email:bepi@justice.example\n'
    'US,*:en,email_signed_pdf,perhaps,,advisory:mla.search_seizure,,untoc,*:sometimes,,'
    'no date here,\n')

COMPETENT_CSV = ",".join(profiles_io.COMPETENT_COLUMNS) + """
FR,mla.search_seizure,Lyon,Lyon;Villeurbanne,Parquet de Lyon,,direct,67 rue Servient,fr,
FR,eio.c.interception,,,,,direct,,,
"""


def test_json_import_keeps_good_rows_and_names_each_bad_one(session: Session,
                                                           world: World) -> None:
    report = profiles_io.import_text(session, JSON, "json")
    session.commit()
    assert (report.created, report.updated) == (3, 0)
    errors = {(e.line, e.section): e for e in report.errors}
    assert set(errors) == {(1, "authorities"), (8, "profiles"), (21, "competent_authorities"),
                           (23, "competent_authorities")}
    br = errors[8, "profiles"]
    assert br.key == "BR"
    joined = " | ".join(br.problems)
    for field in ("colour: unknown field", "languages.mla.telepathy: not a request kind",
                  "languages.*: a list of ISO 639-1 codes", "channels: a list of",
                  "dual_criminality.measures.0: 'levitation'",
                  "penalty_thresholds.eaw_2002_584", "notes.0.source", "notes.0.date"):
        assert field in joined, field
    bad = " | ".join(errors[21, "competent_authorities"].problems)
    for field in ("country: ISO 3166", "measure: 'mla.mind_reading'", "name: required",
                  "transmission: central or direct", "languages: a list of ISO 639-1"):
        assert field in bad, field
    assert errors[23, "competent_authorities"].problems == (
        "area: name the area the places make up",)
    assert session.scalar(select(Profile).where(Profile.code == "KE-ODPP")).authority_id == \
        world.ke.id
    # Importing the same file again changes nothing and adds nothing.
    again = profiles_io.import_text(session, JSON, "json")
    assert (again.created, again.updated, len(again.errors)) == (0, 3, 4)
    assert session.scalar(select(func.count()).select_from(Profile)) == 2
    assert session.scalar(select(func.count()).select_from(CompetentAuthority)) == 1


def test_csv_import_of_each_section(session: Session, world: World) -> None:
    report = profiles_io.import_text(session, PROFILES_CSV, "csv")
    assert report.created == 1
    [us] = report.errors
    assert (us.line, us.key) == (4, "US")
    joined = " | ".join(us.problems)
    for part in ("electronic_signature: 'perhaps' is not true, false or empty",
                 "notes: 'no date here' is not 'date | source | text'"):
        assert part in joined
    fr = session.scalar(select(Profile).where(Profile.code == "FR"))
    assert fr.body["penalty_thresholds"] == {"eaw_2002_584": {"maximum_months": 12,
                                                              "imposed_months": 4}}
    assert [n["source"] for n in fr.body["notes"]] == ["EJN Atlas", "Circulaire"]
    assert fr.body["contact"] == {"email": "bepi@justice.example"}
    rows = profiles_io.import_text(session, COMPETENT_CSV, "csv")
    assert rows.created == 1
    assert [(e.line, e.problems) for e in rows.errors] == [(3, ("name: required",))]


def test_unreadable_files_are_refused_whole(session: Session, world: World) -> None:
    for text, fmt, start in (("{not json", "json", "line 1: not valid JSON"),
                             ("[]", "json", "line 1: expected an object"),
                             ("who,what\nx,y\n", "csv", "line 1: the header needs"),
                             ("code,colour\nKE,red\n", "csv", "line 1: unknown column(s) colour")):
        try:
            profiles_io.parse(text, fmt)
        except profiles_io.ParseError as exc:
            assert exc.detail.startswith(start), exc.detail
        else:
            raise AssertionError(f"{text!r} was read")


def test_exports_import_back_unchanged(session: Session, world: World) -> None:
    profiles_io.import_text(session, JSON, "json")
    profiles_io.import_text(session, PROFILES_CSV, "csv")
    profiles_io.import_text(session, COMPETENT_CSV, "csv")
    session.commit()
    before = profiles_io.export_data(session)
    for text, fmt in ((profiles_io.export_json(session), "json"),
                      (profiles_io.export_csv(session, "profiles"), "csv"),
                      (profiles_io.export_csv(session, "competent_authorities"), "csv")):
        report = profiles_io.import_text(session, text, fmt)
        assert report.created == 0 and not report.errors, report.errors
        assert profiles_io.export_data(session) == before


def test_cli_import_show_find_export(sqlite_base_url: str, tmp_path: Path) -> None:
    engine = _migrated_engine(sqlite_base_url)
    _wipe(engine)
    with Session(engine) as s:
        build_world(s)
    source = tmp_path / "profiles.json"
    source.write_text(JSON)
    env = {**os.environ, "MLA_DATABASE_URL": sqlite_base_url}
    cli = [sys.executable, "-m", "cli", "profiles"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], env=env, capture_output=True, text=True,
                              timeout=120)

    result = run("import", str(source))
    assert result.returncode == 1, result.stderr
    assert "3 rows imported (3 new, 0 updated), 4 rejected" in result.stdout
    assert f"{source}:line 8 (profiles BR): " in result.stderr
    assert "Traceback" not in result.stderr
    shown = run("show", "KE-ODPP")
    assert shown.returncode == 0 and shown.stdout.startswith("KE-ODPP (from KE, KE-ODPP)")
    assert '"mla.e_evidence.preservation": "direct"' in shown.stdout
    found = run("find", "KE", "mla.search_seizure", "kilifi")
    assert "Executing authority: ODPP Mombasa (Coast region)" in found.stdout
    assert "through the central authority" in found.stdout
    missing = run("find", "KE", "mla.search_seizure_x")
    assert missing.returncode == 1 and missing.stderr.count("\n") <= 3
    assert "measure: a request kind" in missing.stderr
    out = tmp_path / "unodc.json"
    assert run("export", "--format", "unodc", "--authority", "KE-ODPP", "-o",
               str(out)).returncode == 0
    entry = json.loads(out.read_text())
    assert entry["authority"]["languages_accepted"] == ["en", "sw"]
    assert entry["authority"]["urgent_requests"] == {"by_email": True,
                                                     "through_interpol": False}
    no_authority = run("export", "--format", "unodc")
    assert no_authority.returncode == 2 and "--authority" in no_authority.stderr
