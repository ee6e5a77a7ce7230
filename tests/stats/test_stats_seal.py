"""Sealed months: the instance-wide report reads a month's summaries once it is sealed, and
gives exactly the figures it computes from the rows, whatever the period and the window; a
month is sealed once, by one process, a margin after it ends, and can be unsealed."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from cli import worker
from mla import db
from mla.clock import frozen
from mla.models import Request, StatsMonth, StatsVolume
from mla.stats import periods
from mla.stats import report as stats
from mla.stats import seal as stats_seal
from mla.stats.query import sealed_span
from tests.api_helpers import Api
from tests.conftest import World
from tests.stats.test_stats import NOW, Fixture, build


@pytest.fixture
def history(session: Session, world: World) -> Fixture:
    """tests/test_stats.py's history with known instants, January to March 2026."""
    return build(session, world)


WINDOWS: list[dict[str, datetime]] = [
    {},
    {"since": datetime(2026, 2, 1, tzinfo=UTC)},
    {"since": datetime(2026, 1, 20, tzinfo=UTC), "until": datetime(2026, 3, 10, tzinfo=UTC)},
    {"until": datetime(2026, 2, 1, tzinfo=UTC)},
    {"since": datetime(2026, 1, 7, 12, tzinfo=UTC)},
    {"since": datetime(2020, 1, 1, tzinfo=UTC), "until": datetime(2026, 3, 20, tzinfo=UTC)},
]


def figures(session: Session, world: World, **kwargs: Any) -> dict[str, tuple[Any, ...]]:
    report = stats.report(session, world["fr.admin"], now=NOW, **kwargs)
    assert report.scope.instance_wide
    return {name: t.rows for name, t in report.tables.items()}


def every_view(session: Session, world: World) -> list[dict[str, tuple[Any, ...]]]:
    return [figures(session, world, period=period, **window)
            for period in periods.PERIODS for window in WINDOWS]


def test_sealed_months_give_the_figures_computed_from_the_rows(
        session: Session, world: World, history: Fixture, engine: Engine) -> None:
    live = every_view(session, world)
    assert live[0]["stage_durations"][0] == ("filing_to_transmission", 6, 4.0, 20.0)
    # One month sealed: a quarter is then part summaries, part rows.
    assert stats_seal.seal_month(session, "2026-01", NOW)
    session.commit()
    assert every_view(session, world) == live
    sealed = stats_seal.seal_due(db.session_factory(engine), NOW)
    # NOW is 1 June: May is not a day over yet, so it waits.
    assert sealed == ["2026-02", "2026-03", "2026-04"]
    assert every_view(session, world) == live
    # The figures do come from the summaries: a changed summary changes the report.
    session.execute(update(StatsVolume).where(StatsVolume.month == "2026-01",
                                              StatsVolume.kind == "mla.evidence")
                    .values(n=StatsVolume.n + 100))
    session.commit()
    volume = dict(((p, k), n) for p, k, n in figures(session, world)["volume"])
    assert volume["2026-01", "mla.evidence"] == 105
    # ... and only the instance-wide view reads them.
    officer = stats.report(session, world["fr.officer"], now=NOW).tables["volume"].rows
    assert ("2026-01", "mla.evidence", 5) in officer


def test_unsealed_months_are_computed_again_from_the_rows(
        session: Session, world: World, history: Fixture, engine: Engine) -> None:
    live = figures(session, world)
    stats_seal.seal_due(db.session_factory(engine), NOW)
    session.execute(update(StatsMonth).values(refusals=StatsMonth.refusals + 10))
    session.commit()
    assert figures(session, world) != live
    assert stats_seal.unseal(session, "2026-02") == 3
    session.commit()
    assert sealed_span(session) == ("2026-01", "2026-01")
    assert stats_seal.unseal(session, "2026-01") == 1
    session.commit()
    assert figures(session, world) == live
    assert stats_seal.seal_due(db.session_factory(engine), NOW) == \
        ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert figures(session, world) == live


def test_a_month_is_due_a_day_after_it_ends_and_sealed_once(
        session: Session, world: World, history: Fixture, engine: Engine) -> None:
    sessions = db.session_factory(engine)
    assert stats_seal.due(session, datetime(2026, 3, 1, 23, tzinfo=UTC)) == ["2026-01"]
    assert stats_seal.due(session, datetime(2026, 3, 2, 1, tzinfo=UTC)) == \
        ["2026-01", "2026-02"]
    assert stats_seal.seal_due(sessions, datetime(2026, 3, 2, 1, tzinfo=UTC)) == \
        ["2026-01", "2026-02"]
    assert stats_seal.seal_due(sessions, datetime(2026, 3, 2, 1, tzinfo=UTC)) == []
    assert not stats_seal.seal_month(session, "2026-02", NOW)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(StatsMonth)) == 2


def test_a_stopping_worker_seals_no_further_month(
        session: Session, world: World, history: Fixture, engine: Engine) -> None:
    stop = threading.Event()
    stop.set()
    assert stats_seal.seal_due(db.session_factory(engine), NOW, stop) == []
    assert sealed_span(session) is None


def test_nothing_to_seal_on_an_empty_instance(session: Session, engine: Engine) -> None:
    assert stats_seal.due(session, NOW) == []
    assert stats_seal.seal_due(db.session_factory(engine), NOW) == []


def test_the_worker_seals_the_months_that_are_over(
        session: Session, world: World, history: Fixture, engine: Engine) -> None:
    live = figures(session, world)
    worker.run(engine, once=True, clock=lambda: NOW)
    assert sealed_span(session) == ("2026-01", "2026-04")
    assert figures(session, world) == live


def test_two_workers_seal_each_month_once(world: World, history: Fixture, engine: Engine,
                                          session: Session) -> None:
    live = figures(session, world)
    sessions = db.session_factory(engine)
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def seal() -> None:
        try:
            start.wait()
            results.append(stats_seal.seal_due(sessions, NOW))
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=seal) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Whatever one stopped at, the other (or a later run) goes on from.
    rest = stats_seal.seal_due(sessions, NOW)
    assert sorted(m for r in [*results, rest] for m in r) == \
        ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert figures(session, world) == live


def test_cli_seals_and_unseals(db_url: str, history: Fixture, world: World,
                               session: Session) -> None:
    from cli.main import main

    live = figures(session, world)
    runner = CliRunner()
    sealed = runner.invoke(main, ["stats", "--database", db_url, "seal"])
    assert sealed.exit_code == 0, sealed.output
    # Today is long after the fixture's months: every month up to last month is sealed.
    assert "sealed 2026-01, 2026-02" in sealed.output
    assert figures(session, world) == live
    again = runner.invoke(main, ["stats", "--database", db_url, "seal"])
    assert "no month to seal" in again.output
    bad = runner.invoke(main, ["stats", "--database", db_url, "unseal", "2026-13"])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
    unsealed = runner.invoke(main, ["stats", "--database", db_url, "unseal", "2026-02"])
    assert unsealed.exit_code == 0 and "from 2026-02" in unsealed.output
    assert sealed_span(session) == ("2026-01", "2026-01")
    report = runner.invoke(main, ["stats", "--database", db_url])
    assert report.exit_code == 0 and "all authorities on this instance" in report.output
    assert "2026-01 to 2026-01 from the sealed months" in report.output


def test_api_says_which_months_were_sealed(api: Api, engine: Engine) -> None:
    build(api.session, api.world)
    for user in ("fr.admin", "fr.officer"):
        api.headers(user)  # tokens at the real time
    stats_seal.seal_due(db.session_factory(engine), NOW)
    with frozen(NOW):
        admin = api.call("fr.admin", "GET", "/stats").json()
        assert admin["instance_wide"]
        assert admin["sealed_months"] == {"first": "2026-01", "last": "2026-04"}
        # A window inside the sealed months: only those wholly inside are read sealed.
        windowed = api.call("fr.admin", "GET", "/stats?since=2026-02-10&until=2026-04-01")
        assert windowed.json()["sealed_months"] == {"first": "2026-03", "last": "2026-03"}
        assert api.call("fr.officer", "GET", "/stats").json()["sealed_months"] is None
        page = api.console("fr.admin", "GET", "/console/stats?scope=instance").text
        assert "2026-01 to 2026-04 from the sealed months" in page
        # The console shows an admin's own authority unless asked for the whole instance;
        # only the instance-wide figures read sealed months.
        own = api.console("fr.admin", "GET", "/console/stats").text
        assert "from the sealed months" not in own and "FR-MJ is a party to" in own


@pytest.mark.parametrize("month", ["2026-01", "2026-12"])
def test_month_labels(month: str) -> None:
    start = periods.month_start(month)
    assert periods.month_label(start) == month
    assert periods.month_start(periods.next_month(month)) > start


def test_percentiles_from_many_durations_are_exact(session: Session, world: World,
                                                  engine: Engine) -> None:
    """Hundreds of durations over months, many in the same day, some an exact half of a
    hundredth apart: medians and p90s match a plain sort in Python, sealed or not."""
    rng = random.Random(2322)
    start = datetime(2025, 10, 1, tzinfo=UTC)
    rows, durations = [], []
    for i in range(400):
        filed = start + timedelta(seconds=rng.randrange(0, 120 * 86400))
        # Some whole days, some on a rounding boundary (432 s past a hundredth), most random.
        seconds = rng.choice([86400 * rng.randrange(1, 5), 864 * rng.randrange(1, 500) + 432,
                              rng.randrange(0, 40 * 86400)])
        transmitted = filed + timedelta(seconds=seconds, microseconds=rng.randrange(10**6))
        rows.append(dict(reference=f"P-{i}", kind="mla.evidence", workflow="mla_requesting",
                         legal_basis="untoc", requesting_authority_id=world.fr.id,
                         requested_authority_id=world.ke.id, title="p", urgent=False,
                         state="transmitted", template_version=1, language="en", data={},
                         created_by_id=world["fr.officer"].id, created_at=filed,
                         updated_at=transmitted, version=1, transmitted_at=transmitted))
        durations.append((transmitted, seconds))
    session.execute(insert(Request), rows)
    session.commit()

    def nearest(values: list[int], percent: int) -> float:
        ordered = sorted((s + 432) // 864 for s in values)
        return ordered[(percent * len(ordered) + 99) // 100 - 1] / 100

    now = datetime(2026, 3, 1, tzinfo=UTC)
    expected = {None: [s for _, s in durations]}
    for at, s in durations:
        expected.setdefault(periods.month_label(at), []).append(s)

    def check() -> None:
        report = stats.report(session, world["fr.admin"], now=now)
        stage = report.tables["stage_durations"].rows[0]
        assert stage[1:] == (400, nearest(expected[None], 50), nearest(expected[None], 90))
        for period, name, n, median, p90 in report.tables["stage_durations_by_period"].rows:
            if name == "filing_to_transmission":
                values = expected[period]
                assert (n, median, p90) == (len(values), nearest(values, 50),
                                            nearest(values, 90))

    check()
    assert stats_seal.seal_due(db.session_factory(engine), now) == \
        ["2025-10", "2025-11", "2025-12", "2026-01"]
    check()
