"""Profiles and competent authorities the profile tests import (shape of
`mla profiles import`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mla.profiles import io as profiles_io

KE_ROWS: list[dict[str, Any]] = [
    {"country": "KE", "measure": "*", "area": "", "places": [], "name": "ODPP Central Authority",
     "authority_code": "KE-ODPP", "transmission": "central", "contact": "Nairobi"},
    {"country": "KE", "measure": "mla.search_seizure", "area": "Coast region",
     "places": ["Mombasa", "Kilifi", "Kwale"], "name": "ODPP Mombasa regional office",
     "transmission": "central", "contact": "Mombasa Law Courts"},
    {"country": "KE", "measure": "mla.search_seizure", "area": "Kisumu",
     "places": ["Kisumu"], "name": "ODPP Kisumu office", "transmission": "central"},
    {"country": "KE", "measure": "*", "area": "Coast region", "places": ["Mombasa"],
     "name": "Coast regional coordinator", "transmission": "central"},
    {"country": "KE", "measure": "mla.e_evidence.preservation", "area": "", "places": [],
     "name": "DCI Cybercrime Unit", "transmission": "direct"},
]
FR_ROWS: list[dict[str, Any]] = [
    {"country": "FR", "measure": "*", "area": "", "places": [], "name": "BEPI",
     "authority_code": "FR-MJ", "transmission": "central"},
    {"country": "FR", "measure": "eio.c.interception", "area": "Lyon",
     "places": ["Lyon", "Villeurbanne"], "name": "Parquet de Lyon",
     "transmission": "direct"},
    {"country": "FR", "measure": "mla.search_seizure", "area": "Île-de-France",
     "places": ["Paris", "Saint-Denis"], "name": "Parquet de Paris",
     "transmission": "direct"},
]


def load(session: Session, profiles: list[dict[str, Any]] | None = None,
         rows: list[dict[str, Any]] | None = None) -> None:
    items = [profiles_io.Row("profiles", i, p) for i, p in enumerate(profiles or [], 1)]
    items += [profiles_io.Row("competent_authorities", i, r)
              for i, r in enumerate(rows if rows is not None else KE_ROWS + FR_ROWS, 100)]
    report = profiles_io.import_rows(session, items)
    assert not report.errors, report.errors
    session.commit()
