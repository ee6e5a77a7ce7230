"""The console's country profile page: a user reads a country's requirements with their
sources, its competent authorities, asks the finder and files to the authority it names;
a draft's form lists what the requested State's profile still requires."""

from __future__ import annotations

import re
from typing import Any

from api.web.session import CSRF_COOKIE, CSRF_FIELD
from mla import security, templates
from tests.api_helpers import Api
from tests.profiles.data import load

PASSWORD = "correct horse battery staple"
CSRF = "same-in-form-and-cookie"
KE = {"code": "KE", "languages": {"*": ["en", "sw"]}, "certified_translation": True,
      "dual_criminality": {"measures": ["coercive"], "mandatory": True},
      "legal_bases": ["untoc", "uncac"],
      "notes": [{"text": "Originals follow by courier.", "source": "MLA Act 2011 s. 8",
                 "date": "2026-01-15"}]}


def _login(api: Api, username: str) -> None:
    security.set_password(api.session, api.world[username], PASSWORD)
    api.session.commit()
    api.client.cookies.clear()
    api.client.cookies.set(CSRF_COOKIE, CSRF)
    response = api.client.post("/console/login", follow_redirects=False, data={
        "username": username, "password": PASSWORD, CSRF_FIELD: CSRF})
    assert response.status_code == 303, response.text


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_user_reads_a_country_profile_and_files_where_the_finder_says(api: Api) -> None:
    load(api.session, [KE])
    _login(api, "fr.officer")
    listing = api.client.get("/console/profiles?measure=mla.search_seizure")
    assert listing.status_code == 200
    assert 'href="/console/profiles" aria-current="page">Country profiles' in listing.text
    assert '<option value="mla.search_seizure" selected>' in listing.text
    page = api.client.get("/console/profiles/KE")
    text = _text(page.text)
    assert "Languages accepted any request: en, sw" in text
    assert "Certified translation required" in text
    assert "Dual criminality required (transmission refused without the statement) for: any "\
           "coercive measure" in text
    assert "Originals follow by courier. — MLA Act 2011 s. 8, 2026-01-15" in text
    assert "ODPP Mombasa regional office" in text  # the competent authorities table
    # The finder, from the list page's form: redirected to the country's answer.
    found = api.client.get("/console/profiles/find", params={
        "country": "KE", "measure": "mla.search_seizure", "place": "Kilifi"})
    answer = _text(found.text)
    assert "Executing authority ODPP Mombasa regional office (Coast region)" in answer
    assert "through the central authority: ODPP Central Authority (KE-ODPP)" in answer
    link = re.search(r'id="file-here" href="([^"]+)"', found.text)
    assert link and link.group(1) == "/console/new/mla.search_seizure?requested_authority=" \
                                     "KE-ODPP"
    form = api.client.get(link.group(1).replace("&amp;", "&"))
    assert '<option value="KE-ODPP" selected>' in form.text
    assert 'id="find-authority"' in form.text
    nowhere = api.client.get("/console/profiles/BR")
    assert nowhere.status_code == 404


def test_the_draft_form_lists_the_profile_requirements(api: Api) -> None:
    load(api.session, [KE])
    form: dict[str, Any] = templates.example("mla.search_seizure")
    form["dual_criminality_statement"] = ""
    request = api.file(kind="mla.search_seizure", data=form, language="fr")
    _login(api, "fr.officer")
    page = api.client.get(f"/console/requests/{request['id']}/edit")
    assert page.status_code == 200
    box = page.text.split('id="profile-findings"')[1].split("</div>")[0]
    assert 'href="#h-language"' in box and "required to transmit" in box
    assert "KE requires dual criminality" in box
    assert "data.dual_criminality_statement" in box


def test_officer_records_why_a_request_came_back(api: Api) -> None:
    request = api.file()
    url = f"/requests/{request['id']}/transitions"
    for user, event in (("fr.officer", "submit"), ("fr.supervisor", "approve"),
                        ("fr.officer", "transmit"), ("fr.officer", "acknowledge")):
        assert api.call(user, "POST", url, json={"event": event}).status_code == 200
    _login(api, "fr.officer")
    page = api.client.get(f"/console/requests/{request['id']}")
    assert '<option value="wrong_authority">Sent to an authority that is not competent' \
        in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    done = api.client.post(f"/console/requests/{request['id']}/events", data={
        CSRF_FIELD: CSRF, "version": version, "event": "request_info",
        "reason": "KE asks us to address the Mombasa court", "return_reason": "wrong_authority"},
        follow_redirects=True)
    assert done.status_code == 200
    assert "came back: wrong authority" in done.text
    history = api.call("fr.officer", "GET", f"/requests/{request['id']}/history").json()
    assert history[-1]["data"] == {"return_reason": "wrong_authority"}
