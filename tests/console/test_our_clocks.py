"""A clock of ours on the request page: its title in the reader's language with the article
under it, and what we must do before it expires when the step that stops it is not ours to
take. After a provisional arrest, the formal extradition request is due from the requesting
side: the page offers to file it, prefilled from the arrest request and linked to it."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

from mla.cases import links
from mla.deadlines.rules import rules
from mla.models import Request
from tests.api_helpers import Api
from tests.console.submitted import Submitted

KIND = "extradition.provisional_arrest"


def _arrested(api: Api) -> str:
    rid = api.file(kind=KIND, title="Provisional arrest - J. Doe")["id"]
    for who, event in (("fr.officer", "submit"), ("fr.supervisor", "approve"),
                       ("fr.officer", "transmit"), ("ke.officer", "arrest"),
                       ("ke.officer", "notify_arrest")):
        done = api.call(who, "POST", f"/requests/{rid}/transitions", json={"event": event})
        assert done.status_code == 200, done.text
    return str(rid)


def _text(body: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def _page(api: Api, who: str, path: str, language: str = "en") -> Any:
    api.client.headers["Accept-Language"] = language
    try:
        return api.console(who, "GET", path)
    finally:
        del api.client.headers["Accept-Language"]


def test_our_clock_says_what_to_file_and_offers_it(api: Api) -> None:
    rid = _arrested(api)
    rule = next(r for r in rules().rules.values()
                if r.follow_up and r.applies(KIND, "untoc") and r.acts == "requesting")
    page = _page(api, "fr.officer", f"/console/requests/{rid}")
    text = _text(page.text)
    # The rule's title, never its id; the article under it.
    assert rule.title["en"] in text and rule.id not in text
    assert rule.citation in text
    assert "Nothing for you to do now" not in text
    clocks = page.text[page.text.index('id="our-clocks"'):]
    assert "A time limit of FR-MJ runs" in _text(clocks)
    link = f"/console/new/extradition.request?follows={rid}&amp;link=" \
           "provisional_arrest_to_extradition"
    assert link in clocks and "File the extradition request, linked to FR-MJ-" in _text(clocks)

    # In French for a reader whose browser asks for it, Arabic likewise.
    assert rule.title["fr"] in _text(_page(api, "fr.officer", f"/console/requests/{rid}",
                                           "fr-FR,fr;q=0.9,en;q=0.8").text)
    assert rule.title["ar"] in _text(_page(api, "fr.officer", f"/console/requests/{rid}",
                                           "ar").text)

    # KE's officer reads the same clock as FR's, with nothing of ours to do.
    theirs = _page(api, "ke.officer", f"/console/requests/{rid}").text
    assert 'id="our-clocks"' not in theirs and rule.title["en"] in _text(theirs)
    # The liaison officer sees the clock but is offered nothing to file.
    liaison = _page(api, "fr.liaison", f"/console/requests/{rid}").text
    assert "follows=" not in liaison


def test_the_follow_up_is_prefilled_and_linked_when_saved(api: Api) -> None:
    rid = _arrested(api)
    path = f"/console/new/extradition.request?follows={rid}&link=provisional_arrest_to_extradition"
    form_page = _page(api, "fr.officer", path)
    assert form_page.status_code == 200
    assert "This request follows FR-MJ-" in _text(form_page.text)
    arrest = api.call("fr.officer", "GET", f"/requests/{rid}").json()
    submitted = Submitted("/console/new/extradition.request")
    submitted.feed(form_page.text)
    fields: dict[str, list[str]] = {}
    for name, value in submitted.pairs:
        fields.setdefault(name, []).append(value)
    # Same counterpart and title; the person is not typed twice.
    assert fields["requested_authority"] == ["KE-ODPP"]
    assert fields["title"] == [arrest["title"]]
    carried = [v for k, vs in fields.items() if k.startswith("data.") for v in vs if v]
    assert carried, "nothing of the arrest request was carried over"
    assert fields["follows"] == [rid]

    saved = api.console("fr.officer", "POST", "/console/new/extradition.request",
                        {**fields, "action": "save"})
    assert saved.status_code == 303, _text(saved.text)[:500]
    new_id = saved.headers["location"].split("/")[-2]
    api.session.rollback()
    made = links.links_of(api.session, api.world["fr.officer"],
                          api.session.get_one(Request, uuid.UUID(new_id)))
    assert [(m.link.kind, str(m.other.id), m.earlier) for m in made] == \
        [("provisional_arrest_to_extradition", rid, True)]


def test_another_authority_cannot_start_from_our_request(api: Api) -> None:
    rid = _arrested(api)
    path = f"/console/new/extradition.request?follows={rid}&link=provisional_arrest_to_extradition"
    assert _page(api, "us.officer", path).status_code == 404
    forged = api.console("us.officer", "POST", "/console/new/extradition.request", {
        "requested_authority": "FR-MJ", "legal_basis": "untoc", "title": "x",
        "language": "en", "follows": rid, "link": "provisional_arrest_to_extradition",
        "action": "save"})
    assert forged.status_code == 404
