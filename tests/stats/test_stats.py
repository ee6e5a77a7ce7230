"""Caseload and timeliness statistics on a history with known instants: exact counts, nearest-
rank medians and p90s, refusal ranking and deadline shares, the same on SQLite and
PostgreSQL; a user sees only figures of requests their authority is a party to."""

from __future__ import annotations

import csv
import io
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

import workflows
from mla import db, templates
from mla.clock import frozen
from mla.directory import service as directory
from mla.errors import InvalidInput, NotFound
from mla.models import MILESTONE_COLUMNS, Authority, Deadline, HistoryEvent, Request
from mla.requests import filing, lifecycle
from mla.stats import charts
from mla.stats import report as stats
from mla.stats.durations import MILESTONE_EVENTS, MILESTONES
from mla.stats.query import Report
from tests.api_helpers import Api
from tests.conftest import World
from tests.test_migrations import _fresh_url

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def days(n: float) -> timedelta:
    return timedelta(days=n)


@dataclass
class Fixture:
    requests: dict[str, Request]


# Each outgoing FR -> KE request: filed at T0 + offset, then each step after the previous
# one by the given number of days. Stage durations (days) by request:
#   filing -> transmission            A 2, B 4, C 6, D 10.5, E 1   (and G 20, US -> FR)
#   transmission -> acknowledgement   A 1, B 3, C 5, D 7
#   acknowledgement -> execution      A 30, B 60, F 45 (F: KE's record of an incoming one)
# C and E are refused; G (US -> FR) is refused too.
OUTGOING: dict[str, tuple[float, list[tuple[str, float, dict[str, Any]]]]] = {
    "A": (0, [("submit", 0.5, {}), ("approve", 0.5, {}), ("transmit", 1, {}),
              ("acknowledge", 1, {}), ("start_execution", 2, {}), ("complete", 28, {}),
              ("close", 1, {})]),
    "B": (1, [("submit", 1, {}), ("approve", 1, {}), ("transmit", 2, {}),
              ("acknowledge", 3, {}), ("start_execution", 10, {}), ("complete", 50, {})]),
    "C": (2, [("submit", 1, {}), ("approve", 1, {}), ("transmit", 4, {}),
              ("acknowledge", 5, {}),
              ("refuse", 9, {"grounds": ["essential_interests"]})]),
    "D": (3, [("submit", 5, {}), ("approve", 5, {}), ("transmit", 0.5, {}),
              ("acknowledge", 7, {})]),
    "E": (4, [("submit", 0.25, {}), ("approve", 0.25, {}), ("transmit", 0.5, {}),
              ("refuse", 40, {"grounds": ["essential_interests", "domestic_prohibition"]})]),
}
ROLE = {"approve": "supervisor", "accept": "supervisor"}


def _drive(session: Session, world: World, request: Request, side: str, start: datetime,
           steps: list[tuple[str, float, dict[str, Any]]]) -> None:
    at = start
    for event, gap, data in steps:
        at += days(gap)
        actor = world[f"{side}.{ROLE.get(event, 'officer')}"]
        with frozen(at):
            lifecycle.transition(session, request, event, actor, **data)
        session.commit()


def build(session: Session, world: World) -> Fixture:
    form = templates.example("mla.evidence")
    made: dict[str, Request] = {}
    for name, (offset, steps) in OUTGOING.items():
        start = T0 + days(offset)
        with frozen(start):
            request = filing.file_request(
                session, world["fr.officer"], kind="mla.evidence",
                requested_authority_id=world.ke.id, legal_basis="untoc", title=name,
                language="en", data=form)
        session.commit()
        _drive(session, world, request, "fr", start, steps)
        made[name] = request
    # F: received by KE from FR (requested side), acknowledged, executed 45 days later.
    start = T0 + days(20)
    with frozen(start):
        made["F"] = filing.register_incoming(
            session, world["ke.officer"], kind="mla.search_seizure",
            requesting_authority_id=world.fr.id, counterpart_reference="FR-X-1",
            legal_basis="ecmacm_1959", title="F", language="en", data={})
    session.commit()
    _drive(session, world, made["F"], "ke", start, [
        ("acknowledge", 2, {}), ("accept", 3, {}), ("start_execution", 1, {}),
        ("execute", 41, {})])
    # G: US -> FR, transmitted after 20 days, refused by FR.
    start = T0 + days(40)
    with frozen(start):
        made["G"] = filing.file_request(
            session, world["us.officer"], kind="mla.evidence", requested_authority_id=world.fr.id,
            legal_basis="untoc", title="G", language="en", data=form)
    session.commit()
    _drive(session, world, made["G"], "us", start, [
        ("submit", 5, {}), ("approve", 5, {}), ("transmit", 10, {}),
        ("refuse", 3, {"grounds": ["not_in_accordance"]})])

    # Deadlines as the test wants them, not as the rules happened to open them.
    session.execute(delete(Deadline))

    def deadline(name: str, acting: int, due: datetime, closed: datetime | None = None,
                 suspended: datetime | None = None) -> None:
        request = made[name]
        session.add(Deadline(request_id=request.id, rule_id="untoc.suggested_date",
                             timer="execution", acting_authority_id=acting,
                             requesting_authority_id=request.requesting_authority_id,
                             requested_authority_id=request.requested_authority_id, opened_at=T0,
                             period_start=T0, due_at=due, closed_at=closed,
                             suspended_at=suspended, extended_days=0))

    deadline("A", world.ke.id, due=T0 + days(40), closed=T0 + days(33))          # met
    deadline("B", world.ke.id, due=T0 + days(40), closed=T0 + days(68))          # late
    deadline("C", world.ke.id, due=T0 + days(90), closed=T0 + days(63))          # met
    deadline("D", world.ke.id, due=NOW - days(3))                                # overdue
    deadline("D", world.ke.id, due=NOW - days(3), suspended=NOW - days(10))      # suspended
    deadline("F", world.ke.id, due=NOW + days(30))                               # running
    deadline("G", world.fr.id, due=NOW - days(1))                                # overdue
    session.commit()
    return Fixture(made)


@pytest.fixture
def fixture(session: Session, world: World) -> Fixture:
    return build(session, world)


def records(report: Report, name: str) -> list[dict[str, Any]]:
    return report.tables[name].records()


def by(report: Report, name: str, key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in records(report, name)}


# --- exact figures ---------------------------------------------------------------------


def test_stage_medians_and_p90_are_nearest_rank(session: Session, world: World,
                                                fixture: Fixture) -> None:
    report = stats.report(session, world["fr.officer"], now=NOW)
    assert records(report, "stage_durations") == [
        # 1, 2, 4, 6, 10.5, 20 -> ranks ceil(3) = 3 and ceil(5.4) = 6
        {"stage": "filing_to_transmission", "requests": 6, "median_days": 4.0,
         "p90_days": 20.0},
        # 1, 3, 5, 7 -> ranks 2 and 4
        {"stage": "transmission_to_acknowledgement", "requests": 4, "median_days": 3.0,
         "p90_days": 7.0},
        # 30, 45, 60 -> ranks 2 and 3
        {"stage": "acknowledgement_to_execution", "requests": 3, "median_days": 45.0,
         "p90_days": 60.0},
    ]


def test_reports_running_at_once_give_the_same_figures(session: Session, world: World,
                                                       fixture: Fixture) -> None:
    """On PostgreSQL a report runs its sections side by side on connections of their own;
    when others hold those, it runs them one after the other: the figures are the same."""
    alone = stats.report(session, world["fr.officer"], now=NOW)
    assert stats._take(stats._side_connections, len(stats.SECTIONS))  # another report's
    try:
        crowded = stats.report(session, world["fr.officer"], now=NOW)
    finally:
        for _ in stats.SECTIONS:
            stats._side_connections.release()
    assert crowded.tables == alone.tables
    assert records(alone, "deadlines")[0]["overdue_now"] == 2


def test_stage_durations_per_period_fall_in_the_month_the_stage_ended(
        session: Session, world: World, fixture: Fixture) -> None:
    report = stats.report(session, world["fr.officer"], now=NOW)
    rows = {(r["period"], r["stage"]): r for r in records(report, "stage_durations_by_period")}
    # Every filing -> transmission of A..E ended in January (T0 + 2 .. T0 + 13.5 days).
    jan = rows[("2026-01", "filing_to_transmission")]
    assert (jan["requests"], jan["median_days"], jan["p90_days"]) == (5, 4.0, 10.5)
    # G was transmitted on T0 + 60 days: 6 March.
    assert rows[("2026-03", "filing_to_transmission")]["requests"] == 1
    # A executed on T0 + 34 (February), F on T0 + 67 and B on T0 + 69 (March).
    assert rows[("2026-02", "acknowledgement_to_execution")]["median_days"] == 30.0
    march = rows[("2026-03", "acknowledgement_to_execution")]
    assert (march["requests"], march["median_days"], march["p90_days"]) == (2, 45.0, 60.0)
    quarters = stats.report(session, world["fr.officer"], period="quarter", now=NOW)
    q1 = {r["stage"]: r for r in records(quarters, "stage_durations_by_period")
          if r["period"] == "2026-Q1"}
    assert q1["filing_to_transmission"]["requests"] == 6
    assert q1["acknowledgement_to_execution"]["median_days"] == 45.0


def test_counts_by_kind_state_counterpart_and_basis(session: Session, world: World,
                                                    fixture: Fixture) -> None:
    report = stats.report(session, world["fr.officer"], now=NOW)
    assert records(report, "by_kind") == [
        {"kind": "mla.evidence", "requests": 6, "open": 2},   # B (executed), D open
        {"kind": "mla.search_seizure", "requests": 1, "open": 1},
    ]
    states = {(r["workflow"], r["state"]): r["requests"] for r in records(report, "by_state")}
    assert states == {("mla_requesting", "closed"): 1, ("mla_requesting", "executed"): 1,
                      ("mla_requesting", "refused"): 3, ("mla_requesting", "acknowledged"): 1,
                      ("mla_requested", "executed"): 1}
    assert records(report, "by_counterpart") == [
        # A..E sent to KE, F: KE's record of a request from FR (KE is the requested party).
        {"country": "KE", "requests": 6, "open": 3, "requesting": 0, "requested": 6},
        {"country": "US", "requests": 1, "open": 0, "requesting": 1, "requested": 0},
    ]
    assert by(report, "by_legal_basis", "legal_basis") == {
        "ecmacm_1959": {"legal_basis": "ecmacm_1959", "requests": 1, "open": 1},
        "untoc": {"legal_basis": "untoc", "requests": 6, "open": 2},
    }
    assert records(report, "volume") == [
        {"period": "2026-01", "kind": "mla.evidence", "requests": 5},
        {"period": "2026-01", "kind": "mla.search_seizure", "requests": 1},
        {"period": "2026-02", "kind": "mla.evidence", "requests": 1},
    ]


def test_refusal_grounds_are_ranked(session: Session, world: World, fixture: Fixture) -> None:
    report = stats.report(session, world["fr.officer"], now=NOW)
    assert records(report, "refusal_grounds") == [
        {"rank": 1, "ground": "essential_interests", "refusals": 2, "share": 0.6667},
        {"rank": 2, "ground": "domestic_prohibition", "refusals": 1, "share": 0.3333},
        {"rank": 2, "ground": "not_in_accordance", "refusals": 1, "share": 0.3333},
    ]
    # C refused on T0 + 23 (January), E on T0 + 45 and G on T0 + 63 (February, March).
    assert [(r["period"], r["ground"], r["refusals"])
            for r in records(report, "refusals_by_period")] == [
        ("2026-01", "essential_interests", 1),
        ("2026-02", "domestic_prohibition", 1), ("2026-02", "essential_interests", 1),
        ("2026-03", "not_in_accordance", 1)]


def test_deadlines_met_and_overdue_now(session: Session, world: World,
                                       fixture: Fixture) -> None:
    fr = stats.report(session, world["fr.officer"], now=NOW)
    assert records(fr, "deadlines") == [
        {"closed": 3, "met": 2, "met_share": 0.6667, "running": 4, "overdue_now": 2}]
    assert records(fr, "deadlines_by_period") == [
        {"period": "2026-02", "closed": 1, "met": 1, "met_share": 1.0},
        {"period": "2026-03", "closed": 2, "met": 1, "met_share": 0.5}]
    # D is late on KE's clock; G on FR's own.
    assert records(fr, "overdue_by_counterpart") == [
        {"country": "KE", "overdue": 1, "counterpart_clock": 1, "own_clock": 0},
        {"country": "US", "overdue": 1, "counterpart_clock": 0, "own_clock": 1}]
    ke = stats.report(session, world["ke.supervisor"], now=NOW)
    assert records(ke, "deadlines") == [
        {"closed": 3, "met": 2, "met_share": 0.6667, "running": 3, "overdue_now": 1}]
    assert records(ke, "overdue_by_counterpart") == [
        {"country": "FR", "overdue": 1, "counterpart_clock": 0, "own_clock": 1}]
    # Before D fell due, nothing of KE's is overdue.
    early = stats.report(session, world["ke.officer"], now=NOW - days(5))
    assert records(early, "deadlines")[0]["overdue_now"] == 0


def test_since_and_until_select_on_the_measured_instant(session: Session, world: World,
                                                        fixture: Fixture) -> None:
    march = stats.report(session, world["fr.officer"], since=datetime(2026, 3, 1, tzinfo=UTC),
                         until=datetime(2026, 4, 1, tzinfo=UTC), now=NOW)
    assert records(march, "volume") == []  # nothing filed in March
    stages = by(march, "stage_durations", "stage")
    assert stages["filing_to_transmission"]["requests"] == 1  # G
    assert stages["transmission_to_acknowledgement"] == {
        "stage": "transmission_to_acknowledgement", "requests": 0, "median_days": None,
        "p90_days": None}
    assert stages["acknowledgement_to_execution"]["requests"] == 2
    assert [r["ground"] for r in records(march, "refusal_grounds")] == ["not_in_accordance"]
    assert records(march, "deadlines")[0]["closed"] == 2
    # Overdue "now" is a snapshot, whatever the window.
    assert records(march, "deadlines")[0]["overdue_now"] == 2
    # A date alone means midnight UTC.
    same = stats.report(session, world["fr.officer"], since=datetime(2026, 3, 1).date(),
                        until=datetime(2026, 4, 1).date(), now=NOW)
    assert same.tables == march.tables


# --- who sees what ---------------------------------------------------------------------


def test_an_officer_sees_only_figures_of_their_authority_requests(
        session: Session, world: World, fixture: Fixture) -> None:
    us = stats.report(session, world["us.officer"], now=NOW)
    assert us.scope.label == "US-OIA"
    assert records(us, "by_kind") == [{"kind": "mla.evidence", "requests": 1, "open": 0}]
    assert records(us, "by_counterpart") == [
        {"country": "FR", "requests": 1, "open": 0, "requesting": 0, "requested": 1}]
    assert by(us, "stage_durations", "stage")["filing_to_transmission"] == {
        "stage": "filing_to_transmission", "requests": 1, "median_days": 20.0,
        "p90_days": 20.0}
    assert all(r["requests"] == 0 for r in records(us, "stage_durations")[1:])
    assert [r["ground"] for r in records(us, "refusal_grounds")] == ["not_in_accordance"]
    assert records(us, "deadlines") == [
        {"closed": 0, "met": 0, "met_share": None, "running": 1, "overdue_now": 1}]
    assert records(us, "overdue_by_counterpart") == [
        {"country": "FR", "overdue": 1, "counterpart_clock": 1, "own_clock": 0}]
    # A liaison officer or supervisor of KE: the six FR-KE requests, never G.
    ke = stats.report(session, world["ke.liaison"], now=NOW)
    assert sum(r["requests"] for r in records(ke, "by_kind")) == 6
    assert "not_in_accordance" not in {r["ground"] for r in records(ke, "refusal_grounds")}
    assert "US" not in {r["country"] for r in records(ke, "by_counterpart")}


def test_an_admin_sees_the_whole_instance(session: Session, world: World,
                                          fixture: Fixture) -> None:
    report = stats.report(session, world["us.admin"], now=NOW)
    assert report.scope.instance_wide
    assert sum(r["requests"] for r in records(report, "by_kind")) == 7
    # Every party counts under its country: 7 requests, 14 party rows.
    assert records(report, "by_counterpart") == [
        {"country": "FR", "requests": 7, "open": 3, "requesting": 6, "requested": 1},
        {"country": "KE", "requests": 6, "open": 3, "requesting": 0, "requested": 6},
        {"country": "US", "requests": 1, "open": 0, "requesting": 1, "requested": 0}]
    assert records(report, "overdue_by_counterpart") == [
        {"country": "FR", "overdue": 1, "counterpart_clock": 1, "own_clock": 0},
        {"country": "KE", "overdue": 1, "counterpart_clock": 1, "own_clock": 0}]
    assert by(report, "stage_durations", "stage")["filing_to_transmission"]["requests"] == 6


def test_stage_events_exist_and_requests_keep_their_first_instant() -> None:
    events = {e for name in workflows.names() for e in workflows.get(name).events()}
    assert set(MILESTONE_EVENTS) - {"file"} <= events
    kept = {e: column for _, events_, column in MILESTONES for e in events_}
    assert kept == {"file": "created_at", **MILESTONE_COLUMNS}


def test_bad_arguments(session: Session, world: World) -> None:
    with pytest.raises(InvalidInput) as err:
        stats.report(session, world["fr.officer"], period="year",
                     since=datetime(2026, 2, 1, tzinfo=UTC),
                     until=datetime(2026, 1, 1, tzinfo=UTC))
    assert {p.path for p in err.value.problems} == {"period", "until"}
    with pytest.raises(NotFound):
        stats.table(session, world["fr.officer"], "nonsense")


def test_empty_instance_gives_empty_tables(session: Session, world: World) -> None:
    report = stats.report(session, world["fr.officer"])
    assert set(report.tables) == set(stats.TABLES)
    assert records(report, "by_kind") == []
    assert records(report, "deadlines") == [
        {"closed": 0, "met": 0, "met_share": None, "running": 0, "overdue_now": 0}]
    for name in charts.CHARTS:
        ET.fromstring(charts.render(name, report))


# --- CSV and charts --------------------------------------------------------------------


def test_csv_round_trips(session: Session, world: World, fixture: Fixture) -> None:
    report = stats.report(session, world["fr.officer"], now=NOW)
    for table in report.tables.values():
        rows = list(csv.reader(io.StringIO(table.to_csv())))
        assert tuple(rows[0]) == table.columns
        assert rows[1:] == [["" if c is None else str(c) for c in row] for row in table.rows]
    assert stats.table(session, world["fr.officer"], "refusal_grounds", now=NOW) == \
        report.tables["refusal_grounds"]


def test_charts_are_valid_svg_with_titles(session: Session, world: World,
                                          fixture: Fixture) -> None:
    report = stats.report(session, world["fr.officer"], now=NOW)
    for name in charts.CHARTS:
        root = ET.fromstring(charts.render(name, report))
        assert root.tag == f"{SVG}svg"
        assert root.find(f"{SVG}title") is not None
        bars = root.findall(f".//{SVG}rect[@class='bar']")
        assert bars and all(bar.find(f"{SVG}title") is not None for bar in bars)
    svg = charts.render("stage_durations", report)
    assert "median 45 days" in svg and "p90 60 days" in svg


# --- HTTP and command line -------------------------------------------------------------


def test_api_json_csv_charts_and_page(api: Api) -> None:
    build(api.session, api.world)
    for user in ("fr.officer", "fr.supervisor", "ke.officer", "us.officer"):
        api.headers(user)  # tokens at the real time: their expiry is checked against it
    with frozen(NOW):
        body = api.call("fr.officer", "GET", "/stats").json()
        assert body["scope"] == "FR-MJ" and body["period"] == "month"
        assert body["tables"]["stage_durations"]["rows"][2] == [
            "acknowledgement_to_execution", 3, 45.0, 60.0]
        response = api.call("fr.officer", "GET", "/stats/refusal_grounds.csv?period=quarter")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        assert response.text.splitlines()[1] == "1,essential_interests,2,0.6667"
        us = api.call("us.officer", "GET", "/stats/by_kind.csv").text.splitlines()
        assert us == ["kind,requests,open", "mla.evidence,1,0"]
        svg = api.call("ke.officer", "GET", "/stats/charts/overdue_by_counterpart.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml")
        ET.fromstring(svg.text)
        page = api.console("fr.supervisor", "GET", "/console/stats?period=quarter")
        assert page.headers["content-type"].startswith("text/html")
        assert page.text.count("<svg") == 3
        assert 'href="/console/stats/by_kind.csv?period=quarter"' in page.text
        assert 'aria-current="page">Statistics' in page.text
        csv = api.console("fr.supervisor", "GET", "/console/stats/refusal_grounds.csv"
                          "?period=quarter")
        assert csv.text == api.call("fr.officer", "GET",
                                    "/stats/refusal_grounds.csv?period=quarter").text
    assert api.call("fr.officer", "GET", "/stats/nope.csv").status_code == 404
    assert api.call("fr.officer", "GET", "/stats/charts/nope.svg").status_code == 404
    bad = api.call("fr.officer", "GET", "/stats?period=year")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "period"
    assert api.call(None, "GET", "/stats").status_code == 401


def test_cli_prints_the_tables_and_writes_csv(db_url: str, fixture: Fixture,
                                              tmp_path: Path) -> None:
    from cli.main import main

    result = CliRunner().invoke(main, ["stats", "--database", db_url, "--user", "us.officer",
                                       "--period", "quarter", "--csv", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Statistics: US-OIA, per quarter" in result.output
    assert "not_in_accordance" in result.output
    assert "essential_interests" not in result.output
    assert (tmp_path / "by_kind.csv").read_bytes() == b"kind,requests,open\r\nmla.evidence,1,0\r\n"
    assert len(list(tmp_path.glob("*.csv"))) == len(stats.TABLES)
    everyone = CliRunner().invoke(main, ["stats", "--database", db_url])
    assert "all authorities on this instance" in everyone.output
    assert "FR       7" in everyone.output
    unknown = CliRunner().invoke(main, ["stats", "--database", db_url, "--user", "nobody"])
    assert unknown.exit_code == 1 and "no user nobody" in unknown.output


def test_instants_outside_the_utc_range_are_invalid_input(session: Session,
                                                          world: World) -> None:
    with pytest.raises(InvalidInput) as err:
        stats.report(session, world["fr.officer"],
                     until=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    assert [p.path for p in err.value.problems] == ["until"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrading_measures_stages_of_requests_moved_before_it(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Requests moved under revision 0006 kept their milestones only in the history: the
    upgrade fills them in, keeping the first transmission of one transmitted twice."""
    url = _fresh_url(backend, request, tmp_path)
    db.upgrade(url, "0006")
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Authority), [
            {"id": 1, "code": "FR-MJ", "country": "FR", "name": "FR", "timezone": "UTC",
             "languages": ["fr"], "created_at": T0},
            {"id": 2, "code": "KE-OAG", "country": "KE", "name": "KE", "timezone": "UTC",
             "languages": ["en"], "created_at": T0}])
        ids = [uuid.uuid4(), uuid.uuid4()]
        conn.execute(insert(Request), [
            {"id": rid, "reference": f"R-{n}", "kind": "mla.evidence",
             "workflow": "mla_requesting", "legal_basis": "untoc",
             "requesting_authority_id": 1, "requested_authority_id": 2, "title": "t",
             "urgent": False, "state": "executed", "template_version": 1, "language": "en",
             "data": {}, "created_at": T0, "updated_at": T0, "version": 1}
            for n, rid in enumerate(ids)])
        moved = [("file", 0), ("transmit", 2), ("acknowledge", 3), ("transmit", 5),
                 ("complete", 10)]
        conn.execute(insert(HistoryEvent), [
            {"request_id": ids[0], "at": T0 + days(d), "event": e, "from_state": None,
             "to_state": "x"} for e, d in moved]
            + [{"request_id": ids[1], "at": T0, "event": "file", "from_state": None,
                "to_state": "draft"}])
        # A deadline opened before 0008, which copies the request's parties onto it.
        conn.execute(insert(Deadline).values(
            request_id=ids[0], rule_id="untoc.suggested_date", timer="execution",
            acting_authority_id=2, opened_at=T0, period_start=T0, due_at=NOW - days(1),
            extended_days=0))
    db.upgrade(url)
    with db.session_factory(engine)() as session:
        report = stats.report(session, None, now=NOW)
        fr_officer = directory.add_user(session, session.get_one(Authority, 1),
                                        username="fr.officer", full_name="O", role="officer")
        for_fr = stats.report(session, fr_officer, now=NOW)
    engine.dispose()
    row = records(for_fr, "deadlines")[0]
    assert (row["closed"], row["running"], row["overdue_now"]) == (0, 1, 1)
    assert records(for_fr, "overdue_by_counterpart") == [
        {"country": "KE", "overdue": 1, "counterpart_clock": 1, "own_clock": 0}]
    assert records(report, "stage_durations") == [
        {"stage": "filing_to_transmission", "requests": 1, "median_days": 2.0,
         "p90_days": 2.0},
        {"stage": "transmission_to_acknowledgement", "requests": 1, "median_days": 1.0,
         "p90_days": 1.0},
        {"stage": "acknowledgement_to_execution", "requests": 1, "median_days": 7.0,
         "p90_days": 7.0},
    ]
