"""Linking people to Matrix accounts, without a homeserver: an admin sets a user's Matrix
account (whose replies then acknowledge as that user), a contact point's (paged over the
`matrix` channel), and an authority's desk room; bad or taken ids are refused naming the
field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mla.models import AuditEvent
from mla.oncall import matrix
from tests.api_helpers import Api


def test_admin_links_a_users_matrix_account(api: Api) -> None:
    target = api.world["ke.contact_point"]
    url = f"/users/{target.id}"
    linked = api.call("ke.admin", "PATCH", url, json={"matrix_id": "@wanjiru:odpp.example"})
    assert linked.status_code == 200, linked.text
    assert linked.json()["matrix_id"] == "@wanjiru:odpp.example"
    audit = api.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "matrix.link_user")).one()
    assert audit.detail == {"matrix_id": "@wanjiru:odpp.example"}
    api.session.commit()

    for bad, why in (("wanjiru", "@name:server"), ("@wanjiru", "@name:server"),
                     ("@x y:odpp.example", "@name:server")):
        refused = api.call("ke.admin", "PATCH", url, json={"matrix_id": bad})
        assert refused.status_code == 422, refused.text
        [problem] = refused.json()["errors"]
        assert problem["field"] == "matrix_id" and why in problem["message"]
    # One Matrix account acts as one user only.
    taken = api.call("ke.admin", "PATCH", f"/users/{api.world['ke.supervisor'].id}",
                     json={"matrix_id": "@wanjiru:odpp.example"})
    assert taken.status_code == 422 and "ke.contact_point" in taken.text
    # Another authority's admin cannot tell the user exists; a non-admin may not.
    assert api.call("fr.admin", "PATCH", url, json={"matrix_id": "@a:b.example"}
                    ).status_code == 404
    assert api.call("ke.supervisor", "PATCH", url, json={"matrix_id": "@a:b.example"}
                    ).status_code == 403
    unlinked = api.call("ke.admin", "PATCH", url, json={"matrix_id": ""})
    assert unlinked.status_code == 200 and unlinked.json()["matrix_id"] is None


def test_contact_point_matrix_channel_needs_a_matrix_id(api: Api) -> None:
    body = {"network": "national", "name": "Night desk", "channels": ["matrix"],
            "timezone": "Africa/Nairobi"}
    missing = api.call("ke.admin", "POST", "/contact-points", json=body)
    assert missing.status_code == 422 and "matrix_id" in missing.text
    bad = api.call("ke.admin", "POST", "/contact-points", json=body | {"matrix_id": "desk"})
    assert bad.status_code == 422 and "@name:server" in bad.text
    made = api.call("ke.admin", "POST", "/contact-points",
                    json=body | {"matrix_id": "@night:odpp.example"})
    assert made.status_code == 201, made.text
    assert made.json()["matrix_id"] == "@night:odpp.example"
    # The directory is shared; Matrix ids are shown to the contact's own authority only.
    listed = api.call("fr.officer", "GET", "/contact-points?authority=KE-ODPP").json()
    assert [c["matrix_id"] for c in listed] == [None]


def test_desk_room_must_look_like_a_room(api: Api) -> None:
    ke = api.world.ke
    matrix.set_desk_room(api.session, ke, "!desk:odpp.example")
    assert ke.matrix_room_id == "!desk:odpp.example"
    matrix.set_desk_room(api.session, ke, "#ke-24-7:odpp.example")
    for bad in ("desk", "@someone:odpp.example", "!nohost"):
        with pytest.raises(ValueError, match="a Matrix room looks like"):
            matrix.set_desk_room(api.session, ke, bad)
    assert ke.matrix_room_id == "#ke-24-7:odpp.example"
