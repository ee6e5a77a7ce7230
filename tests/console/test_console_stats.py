"""The console's statistics page: in the console's layout, the charts and every table with
its CSV, for a period and window; an authority's own figures by default."""

from __future__ import annotations

import html
import re

from tests.api_helpers import Api


def _text(body: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_statistics_page_in_the_console_with_charts_tables_and_csv(api: Api) -> None:
    api.file()
    page = api.console("fr.officer", "GET", "/console/stats")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Statistics: Ministère de la Justice" in text and "FR-MJ is a party to" in text
    assert 'aria-current="page">Statistics</a>' in page.text
    assert page.text.count("<svg") == 3
    for table in api.call("fr.officer", "GET", "/stats").json()["tables"]:
        assert f'href="/console/stats/{table}.csv"' in page.text, table
    by_kind = api.console("fr.officer", "GET", "/console/stats/by_kind.csv")
    assert by_kind.headers["content-type"].startswith("text/csv")
    assert by_kind.text.splitlines()[1].startswith("mla.evidence,1,")

    windowed = api.console("fr.officer", "GET",
                           "/console/stats?since=2000-01-01&until=2000-02-01&period=quarter")
    assert "2000-01-01 to 2000-02-01" in _text(windowed.text)
    assert 'href="/console/stats/by_kind.csv?since=2000-01-01&amp;until=2000-02-01&amp;' \
           'period=quarter"' in windowed.text
    assert api.console("fr.officer", "GET", "/console/stats/by_kind.csv?since=2000-01-01"
                       "&until=2000-02-01").text.splitlines() == ["kind,requests,open"]


def test_admin_sees_own_authority_first_and_the_instance_on_request(api: Api) -> None:
    api.file()  # FR -> KE: KE's admin has it in both views, US's only instance-wide
    own = _text(api.console("us.admin", "GET", "/console/stats").text)
    assert "US-OIA is a party to" in own
    assert api.console("us.admin", "GET", "/console/stats/by_kind.csv").text.splitlines() \
        == ["kind,requests,open"]
    everyone = api.console("us.admin", "GET", "/console/stats?scope=instance")
    assert "every authority on this instance" in _text(everyone.text)
    assert api.console("us.admin", "GET", "/console/stats/by_kind.csv?scope=instance"
                       ).text.splitlines()[1].startswith("mla.evidence,1,")
    # Another role cannot widen its view by asking.
    officer = api.console("us.officer", "GET", "/console/stats/by_kind.csv?scope=instance")
    assert officer.text.splitlines() == ["kind,requests,open"]
    assert 'name="scope"' not in api.console("us.officer", "GET", "/console/stats").text


def test_bad_filters_get_a_page_naming_the_field(api: Api) -> None:
    for query, field, status in (("since=yesterday", "since", 422),
                                 ("period=year", "period", 422),
                                 ("scope=everyone", "scope", 422),
                                 ("since=2026-02-01&until=2026-01-01", "until", 400)):
        page = api.console("fr.officer", "GET", f"/console/stats?{query}")
        assert page.status_code == status, (query, page.status_code)
        assert page.headers["content-type"].startswith("text/html")
        assert field in _text(page.text), query
    assert api.console("fr.officer", "GET", "/console/stats/nope.csv").status_code == 404
