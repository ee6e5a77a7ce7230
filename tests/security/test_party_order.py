"""Being a party is equality of authority ids, whatever their order.

Every other test's stranger is US-OIA, created last, so its id is above both parties'; a
comparison turned into `>=` or `<=` (mutation testing let both through) went unnoticed. Here
the stranger is FR-MJ, created first, and the parties are KE and US, both ways round."""

from __future__ import annotations

import uuid

import pytest

from mla import access
from mla.errors import NotFound
from mla.requests import lifecycle
from tests.api_helpers import Api


@pytest.mark.parametrize("requesting, requested", [("ke", "us"), ("us", "ke")])
def test_an_authority_created_before_both_parties_sees_nothing(
        api: Api, requesting: str, requested: str) -> None:
    target = {"ke": "KE-ODPP", "us": "US-OIA"}[requested]
    filed = api.file(f"{requesting}.officer", requested_authority=target,
                     title="Osprey ledger")
    assert api.call("fr.officer", "GET", f"/requests/{filed['id']}").status_code == 404
    listed = api.call("fr.officer", "GET", "/requests").json()
    assert "Osprey ledger" not in str(listed)
    with pytest.raises(NotFound):
        access.get_request(api.session, uuid.UUID(filed["id"]), api.world["fr.officer"])
    for party in (requesting, requested):
        assert api.call(f"{party}.officer", "GET", f"/requests/{filed['id']}").status_code == 200


def test_the_acting_party_follows_the_ids_not_their_order(api: Api) -> None:
    """KE (created second) asks FR (created first): each side acts as its own party."""
    filed = api.file("ke.officer", requested_authority="FR-MJ")
    request = access.get_request(api.session, uuid.UUID(filed["id"]), api.world["ke.officer"])
    assert lifecycle.acting_party(request, api.world["ke.officer"]) == "requesting"
    assert lifecycle.acting_party(request, api.world["fr.officer"]) == "requested"
    assert lifecycle.acting_party(request, api.world["us.officer"]) is None
    # A draft is the requesting side's to submit; the requested side may fire nothing.
    assert "submit" in lifecycle.allowed_events(request, api.world["ke.officer"])
    assert lifecycle.allowed_events(request, api.world["fr.officer"]) == []
