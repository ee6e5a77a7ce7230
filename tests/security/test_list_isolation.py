"""No leak through lists and aggregates: what a user of a third authority gets from every
route that lists or counts things (API and console, every filter) is exactly what it got
before two other authorities did any work, and names nothing of that work.

tests/security/test_isolation.py walks the routes that address one object by id; this walks
the others, read from the application itself, so a new list route is covered (or fails here
until it says which filters to try) without anyone remembering to add it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from api.app import create_app
from mla import clock, templates
from mla.requests import attachments, filing, lifecycle
from mla.stats import charts
from tests.api_helpers import Api
from tests.app_routes import Route, console, routes

# Every role of the stranger authority; the content roles and the admin (who sees the
# instance-wide statistics) try every filter, the others each route's unfiltered view.
STRANGERS = ("us.officer", "us.admin", "us.supervisor", "us.liaison", "us.contact_point")
EVERY_FILTER = ("us.officer", "us.admin")
OWNERS = ("fr.officer", "fr.admin", "ke.officer", "ke.contact_point")

# GET routes that are the same for everyone by design, or that show the shared directory;
# everything else without an object id in its path is walked.
EXEMPT = {
    "/health": "liveness of the instance",
    "/openapi.json": "API description", "/docs": "API description",
    "/docs/oauth2-redirect": "API description", "/redoc": "API description",
    "/.well-known/jwks.json": "public keys that verify tokens",
    "/transfer/identity": "public: which authority this instance hosts",
    "/transfer/jwks.json": "public keys of electronic transfer",
    "/transfer/schemas/v1/{name}.json": "the transfer protocol's schemas (public)",
    "/authorities": "the directory of authorities, shared by all",
    "/authorities/{code}": "one authority of the shared directory",
    "/contact-points": "the 24/7 directory, shared by all (README)",
    "/templates": "public reference data", "/templates/{kind}/schema": "public reference data",
    "/templates/{kind}/example": "public reference data", "/workflows": "public reference data",
    "/workflows/{name}/diagram": "public reference data",
    "/console/login": "the login page, before anyone is known",
    "/console/login/oidc": "starts single sign-on at the provider, before anyone is known",
    "/console/login/oidc/callback": "the provider's answer to a login, before anyone is known",
    "/console/login/second-factor": "the second step of a login, before anyone is known",
    "/console/login/enrol": "second-factor enrolment at the first login, the user's own",
    "/profiles": "country profiles, shared reference data (README)",
    "/profiles/measures": "public reference data",
    "/finder": "competent authorities, shared reference data (README)",
    "/console/profiles": "country profiles, shared reference data (README)",
    "/console/profiles/find": "a redirect to a country's profile page",
    "/audit/checkpoints": "public signed statements of the audit chain's length and head "
                          "(README, Operations): the same for everyone, no content",
    "/audit/checkpoints/witnessed/{code}": "a peer's public checkpoints, the same for everyone",
    "/sms/inbound": "the SMS gateway's callback: 404 to anyone without its shared secret "
                    "and address (tests/oncall/test_sms.py)",
    "/sms/dlr": "the SMS gateway's delivery reports: 404 to anyone without its shared "
                "secret and address (tests/oncall/test_sms.py)",
    "/metrics": "the operators' instance-wide counts (no names, no case content), read from "
                "this machine or with MLA_METRICS_TOKEN, never with a user's token "
                "(tests/ops/test_metrics.py)",
}
# Path parameters that name reference data (not an owned object): the values to walk.
PATH_VALUES: dict[str, list[dict[str, str]]] = {
    "/stats/charts/{name}.svg": [{"name": n} for n in charts.CHARTS],
    "/stats/{table}.csv": [],  # every table the report has, filled in from GET /stats
    "/console/new/{kind}": [{"kind": "mla.evidence"}],
    "/console/incoming/{kind}": [{"kind": "mla.e_evidence.preservation"}],
    "/console/workflows/{name}": [{"name": "mla_requesting"}],
}
# Statistics are the one aggregate an admin sees instance-wide (README, "Statistics"): for
# us.admin their counts move with FR's and KE's work, but still name nothing of it.
INSTANCE_WIDE_FOR_ADMIN = {"/stats", "/stats/charts/{name}.svg", "/stats/{table}.csv",
                           "/console/stats", "/console/stats/{table}.csv"}
# Routes whose lists the owners must see the work in, so an empty setup cannot pass.
MUST_SHOW_OWNERS = {"/requests", "/deadlines", "/alerts", "/audit", "/console/requests",
                    "/console/alerts"}
PERIOD = {"since": "2000-01-01", "until": "2100-01-01", "period": "quarter"}


def _filters(cursor: str, now: str) -> dict[str, list[dict[str, Any]]]:
    """The query strings to try on a route (the first is its unfiltered view; a route not
    named here is walked without one). Every query parameter of a walked route is set by one
    at least: the test names a parameter nobody tries."""
    return {
        "/requests": [{}, {"kind": "mla.evidence"}, {"state": "transmitted"},
                      {"counterpart": "KE-ODPP"}, {"counterpart": "FR-MJ"},
                      {"side": "requesting"}, {"side": "requested"},
                      {"cursor": cursor, "limit": 100}],
        "/deadlines": [{}, {"overdue": "true", "limit": 500}],
        "/alerts": [{}, {"status": "open", "limit": 500}, {"status": "acknowledged"}],
        "/audit": [{}, {"after_id": 0, "limit": 500}],
        "/oncall": [{}, {"network": "budapest_24_7", "at": now}],
        "/stats": [{}, PERIOD], "/stats/charts/{name}.svg": [PERIOD],
        "/stats/{table}.csv": [PERIOD],
        "/console/stats": [{}, PERIOD, PERIOD | {"scope": "instance"}],
        "/console/stats/{table}.csv": [PERIOD, PERIOD | {"scope": "instance"}],
        # Each combination matches some of FR's and KE's requests, were they visible.
        "/console/requests": [
            {}, {"overdue": "true", "sort": "due", "order": "asc"},
            {"kind": "mla.evidence", "state": "transmitted", "sort": "reference"},
            {"kind": "mla.e_evidence.preservation", "sort": "state", "page": 1},
            {"counterpart": "KE-ODPP", "sort": "updated"}, {"counterpart": "FR-MJ"},
            {"sort": "kind", "order": "asc"}],
        "/console/alerts": [{}, {"status": "open"}, {"status": "acknowledged"}],
        "/console/workflows/{name}": [{"state": "transmitted"}],
        "/console/new/{kind}": [{}, {"legal_basis": "eio_2014_41"},
                                {"requested_authority": "KE-ODPP"},
                                {"follows": "00000000-0000-4000-8000-000000000000",
                                 "link": "follow_up"}],
        "/console/incoming/{kind}": [{}, {"legal_basis": "eio_2014_41"}],
        # Each query finds FR's and KE's requests below, were they visible.
        "/search": [{"q": "Kestrel"}, {"q": "shell company", "limit": 50}, {"q": "PLOVER"},
                    {"q": "FR-MJ-2026"}, {"q": "OMONDI"}],
        "/console/search": [{"q": "Kestrel"}, {"q": "wire transfers"}, {"q": "FR-MJ-2026"}],
        "/cases": [{}, {"open_only": "true"},
                   {"request_id": "00000000-0000-4000-8000-000000000000"}],
    }


def _work_of_fr_and_ke(api: Api) -> dict[str, str]:
    """FR and KE at work months ago (requests sent, urgent ones paging KE, clocks now overdue)
    and today (a fresh draft): what identifies it, marker -> what it is."""
    session, world = api.session, api.world
    markers: dict[str, str] = {}
    evidence = templates.example("mla.evidence", legal_basis="eio_2014_41") | {
        "facts_summary": "Wire transfers routed through the Quillfeather shell company."}
    with clock.frozen(clock.utcnow() - timedelta(days=150)):
        sent = filing.file_request(
            session, world["fr.officer"], kind="mla.evidence", requested_authority_id=world.ke.id,
            legal_basis="eio_2014_41", title="Kestrel-QX91 ledger", language="en", data=evidence)
        for event, who in (("submit", "fr.officer"), ("approve", "fr.supervisor"),
                           ("transmit", "fr.officer")):
            lifecycle.transition(session, sent, event, world[who])
        attachments.add(session, sent, world["fr.officer"], filename="Quillfeather-order.pdf",
                        content_type="application/pdf", content=b"%PDF order")
        arrest = filing.file_request(
            session, world["fr.officer"], kind="extradition.provisional_arrest",
            requested_authority_id=world.ke.id, legal_basis="untoc",
            title="Osprey-ZT44 arrest", language="en",
            data=templates.example("extradition.provisional_arrest"))
        for event, who in (("submit", "fr.officer"), ("approve", "fr.supervisor"),
                           ("transmit", "fr.officer")):
            lifecycle.transition(session, arrest, event, world[who])
        received = filing.register_incoming(
            session, world["ke.officer"], kind="mla.e_evidence.preservation",
            requesting_authority_id=world.fr.id, counterpart_reference="JI-PLOVER-5521",
            legal_basis="budapest", title="Plover-MM03 preservation", language="en", data={})
        session.commit()
    fresh = api.file(title="Heron-VB27 draft")
    for row in (sent, arrest, received):
        markers |= {row.reference: "reference", row.title: "title", str(row.id): "id"}
    markers |= {fresh["reference"]: "reference", fresh["title"]: "title", fresh["id"]: "id",
                "JI-PLOVER-5521": "counterpart reference", "Quillfeather": "form text"}
    return markers


def _get(api: Api, username: str, url: str, params: dict[str, Any]) -> httpx.Response:
    if url.startswith("/console"):
        return console(api, username, "GET", url, params=params)
    return api.call(username, "GET", url, params=params)


def _walk(api: Api, filters: dict[str, list[dict[str, Any]]]) -> list[tuple[Route, str, dict]]:
    """(route, url, query) for every list or aggregate route and every variant of it."""
    tables = api.call("fr.officer", "GET", "/stats").json()["tables"]
    values = PATH_VALUES | {path: [{"table": t} for t in tables]
                            for path in ("/stats/{table}.csv", "/console/stats/{table}.csv")}
    walked = []
    for route in routes(create_app()):
        if route.method != "GET" or route.path in EXEMPT:
            continue
        if route.params and not route.params <= {"name", "table", "kind"}:
            continue  # an object's own route: tests/security/test_isolation.py
        assert not route.params or route.path in values, \
            f"say which values of {route.params} to walk for {route.path} (PATH_VALUES)"
        variants = filters.get(route.path, [{}])
        unset = set(route.query) - {name for v in variants for name in v}
        assert not unset, f"add a variant setting {sorted(unset)} for {route.path} (_filters)"
        for path_params in values.get(route.path, [{}]):
            url = route.path.format(**path_params)
            walked += [(route, url, query) for query in variants]
    assert {r.path for r, _, _ in walked} >= MUST_SHOW_OWNERS | INSTANCE_WIDE_FOR_ADMIN
    return walked


def _snapshot(api: Api, walked: list[tuple[Route, str, dict]], users: tuple[str, ...], *,
              every_filter: tuple[str, ...] = EVERY_FILTER
              ) -> dict[tuple[str, str, str], tuple[int, str]]:
    """(user, url, query) -> (status, body)."""
    seen = {}
    for user in users:
        done: set[str] = set()
        for _, url, query in walked:
            if user not in every_filter and url in done:
                continue
            done.add(url)
            response = _get(api, user, url, query)
            seen[user, url, repr(sorted(query.items()))] = (response.status_code, response.text)
    return seen


def test_third_authority_sees_nothing_of_others_in_any_list_or_aggregate(api: Api) -> None:
    now = clock.utcnow()
    with clock.frozen(now):
        # Two of KE's requests to FR, so a cursor into KE's list exists for US to replay.
        early = [api.file(username="ke.officer", requested_authority="FR-MJ",
                          title=f"Egret-{n}K cursor case") for n in (1, 2)]
        cursor = api.call("ke.officer", "GET", "/requests", params={"limit": 1}).json()
        assert cursor["next_cursor"], cursor
        walked = _walk(api, _filters(cursor["next_cursor"], now.isoformat()))
        before = _snapshot(api, walked, STRANGERS)
    markers = _work_of_fr_and_ke(api)
    for row in early:
        markers |= {row["reference"]: "reference", row["title"]: "title", row["id"]: "id"}
    with clock.frozen(now):
        after = _snapshot(api, walked, STRANGERS)
        owners = _snapshot(api, [w for w in walked if w[0].path in MUST_SHOW_OWNERS], OWNERS,
                           every_filter=())

    by_url = {url: route for route, url, _ in walked}
    leaks = [(user, url, query, f"{what} {marker!r}")
             for (user, url, query), (_, body) in after.items()
             for marker, what in markers.items() if marker in body]
    changed = []
    for (user, url, query), (status, body) in after.items():
        if user == "us.admin" and by_url[url].path in INSTANCE_WIDE_FOR_ADMIN:
            continue
        was_status, was_body = before[user, url, query]
        if (status, body) != (was_status, was_body):
            changed.append((user, url, query, f"{was_status} -> {status}"))
    assert leaks == [], f"{len(leaks)} leaks, e.g. {leaks[:5]}"
    assert changed == [], f"{len(changed)} views changed by others' work, e.g. {changed[:5]}"
    # The walk saw real data: the owners find their work in each of these lists.
    shown = {by_url[url].path for (_, url, _), (status, body) in owners.items()
             if status == 200 and any(m in body for m in markers)}
    assert shown >= MUST_SHOW_OWNERS, MUST_SHOW_OWNERS - shown
    # And the instance-wide statistics did count it, for the admin only.
    admin_stats = [k for k in after if k[0] == "us.admin" and k[1] == "/stats"]
    assert any(after[k] != before[k] for k in admin_stats)
    assert len({k[1] for k in after}) >= 25, sorted({k[1] for k in after})
