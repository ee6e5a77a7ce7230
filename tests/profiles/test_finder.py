"""The competent-authority finder: a measure and a place give the authority that executes
it, and where the request goes (directly, or through the central authority)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from mla.errors import InvalidInput, NotFound
from mla.profiles import finder
from tests.api_helpers import Api, problem_fields, refusal
from tests.conftest import World
from tests.profiles.data import load


def test_a_measure_and_a_city_give_the_local_authority(session: Session, world: World) -> None:
    load(session)
    match = finder.find(session, "KE", "mla.search_seizure", "Mombasa")
    assert match.row.name == "ODPP Mombasa regional office"
    assert (match.exact_measure, match.local) == (True, True)
    # Central transmission: the request is addressed to KE's central authority.
    assert (match.transmission, match.send_to) == ("central", "KE-ODPP")
    # Another city of the same area, written as people write it.
    assert finder.find(session, "KE", "mla.search_seizure", "  KILIFI ").row.name == \
        "ODPP Mombasa regional office"
    assert finder.find(session, "KE", "mla.search_seizure", "Kisumu").row.name == \
        "ODPP Kisumu office"


def test_a_place_no_area_covers_falls_back_to_the_country(session: Session,
                                                           world: World) -> None:
    load(session)
    match = finder.find(session, "KE", "mla.search_seizure", "Nairobi")
    assert match.row.name == "ODPP Central Authority" and not match.local
    assert finder.find(session, "KE", "mla.search_seizure").row.name == \
        "ODPP Central Authority"


def test_the_measure_itself_comes_before_any_measure(session: Session, world: World) -> None:
    load(session)
    # In Mombasa a row for any measure is local, but the search has a row of its own.
    assert finder.find(session, "KE", "mla.search_seizure", "Mombasa").exact_measure
    # Hearing in Mombasa: only the "any measure" rows apply; the local one wins.
    match = finder.find(session, "KE", "mla.hearing_videoconference", "Mombasa")
    assert match.row.name == "Coast regional coordinator" and not match.exact_measure


def test_direct_transmission_names_the_executing_authority(session: Session,
                                                           world: World) -> None:
    load(session)
    match = finder.find(session, "KE", "mla.e_evidence.preservation", "Nairobi")
    assert match.row.name == "DCI Cybercrime Unit"
    # Not in this instance's directory: no code to address, the name to write to.
    assert (match.transmission, match.send_to, match.send_to_name) == \
        ("direct", None, "DCI Cybercrime Unit")
    # EIO section C measures and accents: "Île-de-France" matches "ile de france".
    lyon = finder.find(session, "FR", "eio.c.interception", "villeurbanne")
    assert (lyon.row.name, lyon.transmission) == ("Parquet de Lyon", "direct")
    assert finder.find(session, "FR", "mla.search_seizure", "ile de france").row.name == \
        "Parquet de Paris"
    assert finder.find(session, "FR", "eio.c.interception", "Paris").send_to == "FR-MJ"


def test_unknown_country_and_bad_measure(session: Session, world: World) -> None:
    load(session)
    with pytest.raises(NotFound, match="central authority"):
        finder.find(session, "BR", "mla.evidence", "Recife")
    with pytest.raises(InvalidInput) as bad:
        finder.find(session, "ke", "mla.telepathy")
    assert {p.path for p in bad.value.problems} == {"country", "measure"}


def test_finder_over_http(api: Api) -> None:
    load(api.session)
    body = api.call("fr.liaison", "GET", "/finder", params={
        "country": "KE", "measure": "mla.search_seizure", "place": "Kwale"}).json()
    assert body["executing"]["name"] == "ODPP Mombasa regional office"
    assert (body["send_to"], body["transmission"], body["local"]) == ("KE-ODPP", "central", True)
    assert [a["name"] for a in body["alternatives"]] == ["ODPP Central Authority"]
    missing = api.call("fr.officer", "GET", "/finder", params={
        "country": "BR", "measure": "mla.evidence"})
    assert refusal(missing, 404)["detail"].startswith("no competent authority known")
    bad = api.call("fr.officer", "GET", "/finder", params={"country": "KE", "measure": "x"})
    assert problem_fields(refusal(bad, 422)) == {"measure"}
    assert api.call(None, "GET", "/finder", params={"country": "KE",
                                                    "measure": "mla.evidence"}).status_code == 401
