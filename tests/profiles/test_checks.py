"""Filing checks driven by the requested authority's profile: each check gives a finding at
its field; a mandatory one refuses the transmission (422 naming the field) until it is met,
a warning never does."""

from __future__ import annotations

from typing import Any

import pytest

from mla import templates
from mla.profiles.checks import months
from tests.api_helpers import Api, refusal
from tests.profiles.data import load

KE_BASE: dict[str, Any] = {"code": "KE", "languages": {"*": ["en"]}}


def _approved(api: Api, kind: str = "mla.evidence", **overrides: Any) -> dict[str, Any]:
    request = api.file(kind=kind, **overrides)
    for user, event in (("fr.officer", "submit"), ("fr.supervisor", "approve")):
        r = api.call(user, "POST", f"/requests/{request['id']}/transitions",
                     json={"event": event})
        assert r.status_code == 200, r.text
    return request


def _translation(kind: str) -> dict[str, Any]:
    """The translatable fields of the example, as the translator would return them."""
    example = templates.example(kind)
    return {p: example[p] for p in templates.translatable_paths(kind) if p in example}


def _transmit(api: Api, request: dict[str, Any]) -> Any:
    return api.call("fr.officer", "POST", f"/requests/{request['id']}/transitions",
                    json={"event": "transmit"})


def _findings(api: Api, request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    r = api.call("fr.officer", "GET", f"/requests/{request['id']}/profile-checks")
    assert r.status_code == 200, r.text
    return {f["code"]: f for f in r.json()}


def _refused_at(response: Any, field: str) -> str:
    body = refusal(response, 422)
    messages = [e["message"] for e in body["errors"] if e["field"] == field]
    assert messages, body
    return messages[0]


def test_language_the_authority_does_not_accept_for_the_kind(api: Api) -> None:
    # KE-ODPP's directory entry says en and sw; its profile narrows extradition to English
    # and service of documents to Swahili.
    load(api.session, [{"code": "KE", "languages": {"*": ["en", "sw"],
                                                    "mla.service": ["sw"]}}], rows=[])
    request = _approved(api, kind="mla.service")
    finding = _findings(api, request)["language"]
    assert finding["mandatory"] and finding["field"] == "language"
    assert "mla.service requests in sw only" in _refused_at(_transmit(api, request), "language")
    # A Swahili translation meets it.
    data = _translation("mla.service")
    r = api.call("fr.officer", "PUT", f"/requests/{request['id']}/translations/sw",
                 json={"data": data})
    assert r.status_code == 204, r.text
    assert "language" not in _findings(api, request)
    assert _transmit(api, request).status_code == 200
    # Evidence in English is fine for the same profile.
    assert "language" not in _findings(api, _approved(api))


def test_coercive_measure_without_dual_criminality_statement(api: Api) -> None:
    load(api.session, [KE_BASE | {"dual_criminality": {"measures": ["coercive"],
                                                       "mandatory": True}}], rows=[])
    form = templates.example("mla.evidence") | {"coercive_measures": True}
    form.pop("dual_criminality_statement", None)
    # The template itself requires the statement once coercive measures are asked for, so
    # the request is saved without saying so: the profile finds it first.
    form["coercive_measures"] = False
    request = _approved(api, data=form)
    assert "dual_criminality" not in _findings(api, request)  # not coercive: not required
    search = templates.example("mla.search_seizure")
    search["dual_criminality_statement"] = "   "
    seizure = api.file(kind="mla.search_seizure", data=search)
    finding = _findings(api, seizure)["dual_criminality"]
    assert finding["mandatory"] and finding["field"] == "data.dual_criminality_statement"
    assert "KE requires dual criminality" in finding["message"]


def _production_without_statement() -> dict[str, Any]:
    """A production order that does not say it needs coercive measures (so the template
    lets the statement out): production is coercive all the same (measures.yaml)."""
    form = templates.example("mla.e_evidence.production") | {"coercive_measures": False}
    form.pop("dual_criminality_statement", None)
    return form


def test_dual_criminality_refuses_transmission_where_mandatory(api: Api) -> None:
    load(api.session, [KE_BASE | {"dual_criminality": {"measures": ["coercive"]}}], rows=[])
    form = _production_without_statement()
    request = _approved(api, kind="mla.e_evidence.production", data=form,
                        legal_basis="budapest")
    message = _refused_at(_transmit(api, request), "data.dual_criminality_statement")
    assert "dual criminality" in message


def test_dual_criminality_advisory_is_a_warning(api: Api) -> None:
    load(api.session, [KE_BASE | {"dual_criminality": {
        "measures": ["mla.e_evidence.production"], "mandatory": False}}], rows=[])
    form = _production_without_statement()
    request = _approved(api, kind="mla.e_evidence.production", data=form,
                        legal_basis="budapest")
    assert _findings(api, request)["dual_criminality"]["mandatory"] is False
    response = _transmit(api, request)
    assert response.status_code == 200, response.text


EAW = {"eaw_2002_584": {"maximum_months": 12, "imposed_months": 4}}


def _eaw_form() -> dict[str, Any]:
    """The example on the EAW form's own version (filed under the Framework Decision)."""
    return templates.example("extradition.request",
                             templates.latest_version("extradition.request", "eaw_2002_584"))


@pytest.mark.parametrize(("penalty", "refused"), [
    ({"maximum": "6 months' imprisonment"}, "data.penalty.maximum"),
    ({"maximum": "eleven months and 29 days"}, "data.penalty.maximum"),
    ({"maximum": "1 year's imprisonment"}, None),
    ({"maximum": "10 years", "imposed": "3 months", "remaining_to_serve": "3 months"},
     "data.penalty.imposed"),
    ({"maximum": "10 years", "imposed": "4 months", "remaining_to_serve": "4 months"}, None),
])
def test_eaw_below_the_penalty_threshold(api: Api, penalty: dict[str, str],
                                         refused: str | None) -> None:
    load(api.session, [KE_BASE | {"penalty_thresholds": EAW}], rows=[])
    form = _eaw_form()
    form["penalty"] = penalty
    request = _approved(api, kind="extradition.request", data=form,
                        legal_basis="eaw_2002_584")
    response = _transmit(api, request)
    if refused is None:
        assert response.status_code == 200, response.text
    else:
        assert "below the" in _refused_at(response, refused)


def test_threshold_applies_to_its_instrument_only_and_unreadable_penalty_warns(
        api: Api) -> None:
    load(api.session, [KE_BASE | {"penalty_thresholds": EAW}], rows=[])
    form = templates.example("extradition.request")
    form["penalty"] = {"maximum": "6 months"}
    under_untoc = _approved(api, kind="extradition.request", data=form)
    assert "penalty_threshold" not in _findings(api, under_untoc)
    form = _eaw_form()
    form["penalty"] = {"maximum": "a heavy fine"}
    vague = _approved(api, kind="extradition.request", data=form, legal_basis="eaw_2002_584")
    finding = _findings(api, vague)["penalty_threshold"]
    assert not finding["mandatory"] and "cannot read a duration" in finding["message"]
    assert _transmit(api, vague).status_code == 200


def test_warnings_never_stop_transmission(api: Api) -> None:
    load(api.session, [KE_BASE | {
        "legal_bases": ["uncac"], "channels": ["diplomatic", "paper"],
        "electronic_signature": False}], rows=[
        {"country": "KE", "measure": "mla.evidence", "area": "", "name": "ODPP Nairobi",
         "authority_code": "KE-NAIROBI", "transmission": "direct"}])
    request = _approved(api)
    found = _findings(api, request)
    assert {k: f["mandatory"] for k, f in found.items()} == {
        "legal_basis": False, "channel": False, "electronic_signature": False,
        "competent_authority": False}
    assert "untoc is not among the legal bases in force with KE" in \
        found["legal_basis"]["message"]
    assert "ODPP Nairobi (KE-NAIROBI, direct transmission)" in \
        found["competent_authority"]["message"]
    assert _transmit(api, request).status_code == 200


def test_certified_translation_is_a_warning_once_translated(api: Api) -> None:
    load(api.session, [KE_BASE | {"certified_translation": True}], rows=[])
    request = _approved(api, language="fr")
    assert _findings(api, request)["language"]["mandatory"]
    data = _translation("mla.evidence")
    api.call("fr.officer", "PUT", f"/requests/{request['id']}/translations/en",
             json={"data": data})
    found = _findings(api, request)
    assert set(found) == {"certified_translation"}
    assert not found["certified_translation"]["mandatory"]


def test_no_profile_no_findings_and_strangers_see_nothing(api: Api) -> None:
    request = _approved(api)
    assert _findings(api, request) == {}
    assert refusal(api.call("us.officer", "GET",
                            f"/requests/{request['id']}/profile-checks"), 404)
    assert refusal(api.call("fr.liaison", "GET",
                            f"/requests/{request['id']}/profile-checks"), 403)


@pytest.mark.parametrize(("text", "expected"), [
    ("10 years' imprisonment and a fine of EUR 1,000,000", 120),
    ("3 years, 4 months and 15 days", 40.5),
    ("six (6) months", 6),
    ("18 mois d'emprisonnement", 18),
    ("cinco años de prisión", 60),
    ("life imprisonment", 1200),
    ("réclusion criminelle à perpétuité", 1200),
    ("a fine", None),
    ("", None),
])
def test_penalty_durations_are_read_in_months(text: str, expected: float | None) -> None:
    found = months(text)
    assert (found if found is None else round(found, 1)) == expected
