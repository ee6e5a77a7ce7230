"""The officer web console in a real browser: Debian's Chromium, headless, driven by
Playwright against `mla serve` on loopback (the `server` fixture of tests/console/conftest.py).

Screenshots of every page visited go to test-output/console/ (gitignored) for a person to
look at. Without /usr/bin/chromium (or the playwright package) these tests are skipped (.ci/run
installs both); under CI=true a missing browser fails the run instead. The console's HTTP-only
checks are in test_console_http.py, which needs no browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from api.web.forms import html_id
from mla import db, templates
from mla.directory import service as directory
from mla.models import User
from mla.requests import filing, lifecycle
from tests.console.browser import chromium, emptied, expect, shots_dir
from tests.console.browser import login as browser_login
from tests.console.conftest import PASSWORD, Server

KIND = "extradition.provisional_arrest"


SHOTS = shots_dir("console")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    emptied(SHOTS)
    with chromium() as launched:
        yield launched


def shot(page: Any, name: str, *, screen: bool = False) -> None:
    """The whole page; with `screen`, what the laptop screen shows now (long forms)."""
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=not screen)


def login(browser: Any, server: Server, username: str) -> Any:
    return browser_login(browser, server.base, username, PASSWORD)


def fill(page: Any, path: str, value: Any) -> None:
    """Types a template value into the generated form, adding list rows as a person would."""
    if isinstance(value, dict):
        for key, item in value.items():
            fill(page, f"{path}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if page.locator(f'[name^="{path}.{i}"]').count() == 0:
                page.locator(f"#{html_id(path)} > [data-add]").click()
            fill(page, f"{path}.{i}", item)
    elif isinstance(value, bool):
        page.locator(f'input[type=checkbox][name="{path}"]').set_checked(value)
    else:
        field = page.locator(f'[name="{path}"]')
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(str(value))
        else:
            field.fill(str(value))


def test_officer_files_supervisor_approves_liaison_sees_status_contact_point_acknowledges(
        browser: Any, server: Server) -> None:
    # --- an officer files a provisional arrest request from the generated form -------------
    officer = login(browser, server, "fr.officer")
    shot(officer, "01-requests-officer")
    officer.get_by_role("link", name="New request").first.click()
    shot(officer, "02-new-choose-template")
    officer.get_by_role("link", name=re.compile("^Request for provisional arrest", re.I)).click()
    officer.wait_for_url(f"**/console/new/{KIND}")
    officer.get_by_label("Requested authority").select_option("KE-ODPP")
    officer.get_by_label("Legal basis").select_option("untoc")
    officer.get_by_label("Short title").fill("Provisional arrest - L. Ferrand")
    officer.get_by_label("Language of the text").select_option("en")
    form = templates.example(KIND)
    form["person_sought"]["nationality"] = "France"  # not an ISO code: refused at once
    form.pop("urgency_reasons")  # required, but a draft may lack it: refused at submission
    form.pop("desired_deadline")  # (it would make urgency_reasons required as well)
    fill(officer, "data", form)
    officer.get_by_role("button", name="Submit for review").click()

    # Nothing was saved; the error is next to its field, tied to it for screen readers.
    error = officer.locator("#f-data--person_sought--nationality-error")
    assert "ISO 3166-1" in error.inner_text()
    nationality = officer.locator("#f-data--person_sought--nationality")
    assert "f-data--person_sought--nationality-error" in nationality.get_attribute(
        "aria-describedby")
    assert nationality.get_attribute("aria-invalid") == "true"
    assert nationality.input_value() == "France"  # what was typed is kept
    assert officer.locator("#f-data--offences--1--name").input_value() == \
        form["offences"][1]["name"]
    assert officer.locator("#error-summary").is_visible()
    assert officer.evaluate("document.activeElement.id") == "error-summary"
    shot(officer, "03-form-field-error")
    shot(officer, "03a-form-error-summary", screen=True)
    nationality.scroll_into_view_if_needed()
    shot(officer, "03b-form-error-at-field", screen=True)
    officer.locator("#f-data--warrant").scroll_into_view_if_needed()
    shot(officer, "03c-form-object-list-checkbox", screen=True)

    nationality.fill("FR")
    officer.get_by_role("button", name="Submit for review").click()
    # Saved as a draft, but incomplete: back on the form with what is missing.
    officer.wait_for_url("**/edit?check=true")
    assert "is required" in officer.locator("#f-data--urgency_reasons-error").inner_text()
    assert "cannot be submitted" in officer.locator("#form-message").inner_text()
    shot(officer, "04-draft-saved-incomplete")
    shot(officer, "04a-draft-saved-incomplete-top", screen=True)
    reference = re.search(r"FR-MJ-\d{4}-\d{5}", officer.locator("h1").inner_text()).group(0)
    officer.get_by_label(re.compile("^Reasons for urgency")).fill(
        "The person has booked a flight out of Nairobi in three days.")
    officer.get_by_role("button", name="Submit for review").click()
    officer.wait_for_url(re.compile(r"/console/requests/[0-9a-f-]{36}$"))
    assert officer.locator("#state").inner_text() == "State: In review"
    assert "submitted for review" in officer.locator(".flash").inner_text()
    # The officer cannot approve their own request: only the supervisor's button does.
    assert officer.get_by_role("button", name="Approve").count() == 0
    shot(officer, "05-request-in-review-officer")
    request_url = officer.url

    # --- the supervisor finds it in the list and approves it -------------------------------
    supervisor = login(browser, server, "fr.supervisor")
    supervisor.get_by_label("State").select_option("in_review")
    supervisor.get_by_role("button", name="Apply filters").click()
    supervisor.get_by_role("link", name=reference).click()
    supervisor.wait_for_url(request_url)
    shot(supervisor, "06-request-supervisor-before-approval")
    supervisor.get_by_role("button", name="Approve").click()
    supervisor.wait_for_url(request_url)
    assert supervisor.locator("#state").inner_text() == "State: Approved"
    timeline = supervisor.locator("ol.timeline").inner_text()
    assert "Approve" in timeline and "fr.supervisor" in timeline and "fr.officer" in timeline

    # --- the officer transmits it: an urgent request pages KE's 24/7 point -----------------
    officer.reload()
    officer.get_by_role("button", name="Transmit").click()
    officer.wait_for_url(request_url)
    assert "Provisional arrest requested" in officer.locator("#state").inner_text()
    documents = officer.locator("#documents-h + p + ul")
    assert documents.get_by_role("link", name=re.compile(r"^English \(en\)")).count() == 1
    shot(officer, "07-request-transmitted-officer")
    officer.locator("#file").set_input_files(
        files=[{"name": "warrant.txt", "mimeType": "text/plain",
                "buffer": b"Mandat d'arret JI-2026-00117/MA-02"}])
    officer.get_by_role("button", name="Upload").click()
    expect(officer.get_by_role("link", name="warrant.txt")).to_have_count(1)
    officer.get_by_role("link", name=re.compile(r"^English \(en\)")).click()
    officer.wait_for_url(re.compile(r"/document"))
    assert "FERRAND Lucas Antoine" in officer.content()
    shot(officer, "08-document-en")

    # --- the liaison officer sees where it stands, nothing of the case ---------------------
    liaison = login(browser, server, "fr.liaison")
    row = liaison.locator("tr", has_text=reference)
    # The row says what the request is (reference, kind); the restriction is said once.
    assert "Provisional arrest" in row.inner_text() and "L. Ferrand" not in row.inner_text()
    assert "status view" not in row.inner_text().lower()
    expect(liaison.locator("#status-view")).to_have_count(1)
    expect(liaison.get_by_role("columnheader", name="Title")).to_have_count(0)
    shot(liaison, "09-requests-liaison")
    row.get_by_role("link", name=reference).click()
    expect(liaison.locator("#status-view")).to_be_visible()
    body = liaison.locator("main").inner_text()
    assert "Provisional arrest requested" in body and "KE-ODPP" in body
    for hidden in ("L. Ferrand", "FERRAND", "Documents", "Attachments", "warrant.txt"):
        assert hidden not in body, hidden
    assert liaison.locator("form[action$='/events']").count() == 0
    assert liaison.get_by_role("heading", name="Deadlines").is_visible()
    shot(liaison, "10-request-liaison-status-view")
    response = liaison.goto(request_url + "/document?language=en")
    assert response.status == 403 and "FERRAND" not in liaison.content()

    # --- the 24/7 contact point of KE acknowledges, then resolves, the alert ---------------
    contact = login(browser, server, "ke.contact")
    contact.get_by_role("link", name="Alerts").click()
    alert = contact.locator("li.alert-item", has_text=reference)
    assert "open" in alert.locator(".badge").first.inner_text()
    assert "Urgent request transmitted" in alert.inner_text()
    shot(contact, "11-alerts-open")
    alert.get_by_label("Note").fill("Police informed, arrest team on the way")
    alert.get_by_role("button", name=re.compile("^Acknowledge alert")).click()
    alert = contact.locator("li.alert-item", has_text=reference)
    expect(alert.locator(".badge").first).to_contain_text("acknowledged")
    assert "by ke.contact (console)" in alert.inner_text()
    shot(contact, "12-alerts-acknowledged")
    alert.get_by_role("button", name=re.compile("^Resolve alert")).click()
    alert = contact.locator("li.alert-item", has_text=reference)
    expect(alert.locator(".badge").first).to_contain_text("resolved")

    # --- another authority's officer gets 404 for the same page ----------------------------
    stranger = login(browser, server, "us.officer")
    response = stranger.goto(request_url)
    assert response.status == 404
    assert "FERRAND" not in stranger.content() and reference not in stranger.content()
    shot(stranger, "13-other-authority-404")
    for page in (officer, supervisor, liaison, contact, stranger):
        page.context.close()


def test_list_filters_sorting_deadlines_and_workflow_diagram(browser: Any,
                                                             server: Server) -> None:
    page = login(browser, server, "fr.officer")
    # Times are the officer's authority's; the countdown is live.
    assert "Times in Europe/Paris" in page.locator("#count").inner_text()
    page.get_by_role("link", name="Next deadline").click()
    page.wait_for_url(re.compile(r"sort=due"))
    header = page.locator("th[aria-sort]")
    assert header.inner_text().startswith("Next deadline")
    first = page.locator("tbody tr").first
    assert re.search(r"(in|overdue by) \d+", first.locator("time.countdown").inner_text())
    page.get_by_label("Kind").select_option("mla.evidence")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"kind=mla\.evidence"))
    kinds = page.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert kinds and all(k.startswith("Taking of evidence") for k in kinds)
    page.get_by_label("Overdue only").check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"overdue=true"))
    assert "No request matches" in page.locator("main").inner_text()
    page.get_by_role("link", name="Clear").click()
    shot(page, "14-requests-filtered-cleared")

    page.locator("tbody tr", has_text="Provisional arrest - J. Doe").get_by_role(
        "link").first.click()
    deadlines = page.locator("#deadlines-h + .table-wrap table")
    assert "Due (Europe/Paris)" in deadlines.inner_text()
    assert re.search(r"in \d+ d", deadlines.inner_text())
    shot(page, "15-request-deadlines")
    page.get_by_role("link", name="workflow diagram").click()
    assert page.locator(".node.current").count() == 1
    assert page.get_by_role("img", name=re.compile("State diagram")).is_visible()
    shot(page, "16-workflow-diagram")
    page.context.close()


def test_supervisor_extends_a_time_limit_within_what_the_rule_allows(browser: Any,
                                                                      server: Server) -> None:
    # An EIO sent by FR to KE: KE's 30-day recognition clock (art. 12(3)) may be extended by
    # at most 30 days (art. 12(5)), by a supervisor of KE, with a reason.
    with db.unit_of_work(server.engine) as s:
        users = {u.username: u for u in s.scalars(select(User))}
        ke = directory.authority_by_code(s, "KE-ODPP")
        row = filing.file_request(
            s, users["fr.officer"], kind="mla.evidence", requested_authority_id=ke.id,
            legal_basis="eio_2014_41", title="EIO - Kestrel ledger", language="en",
            data=templates.example("mla.evidence", legal_basis="eio_2014_41"))
        for event, who in (("submit", "fr.officer"), ("approve", "fr.supervisor"),
                           ("transmit", "fr.officer")):
            lifecycle.transition(s, row, event, users[who])
        request_url = server.url(f"/console/requests/{row.id}")

    officer = login(browser, server, "fr.officer")
    officer.goto(request_url)
    # The rule's title for people, the article under it; never the rule's id.
    clocks = officer.locator("#deadlines-h").locator("..").inner_text()
    assert "Decide on recognition of the EIO" in clocks and "art. 12(3)" in clocks
    assert "eio.recognition" not in clocks
    assert officer.locator("form.extend").count() == 0  # not FR's clock, not a supervisor

    supervisor = login(browser, server, "ke.supervisor")
    supervisor.goto(request_url)
    form = supervisor.locator("form.extend")
    assert "Up to 30 more days" in form.inner_text()
    days = form.get_by_label("Days")
    # The browser would stop 45 (max=30); the server must refuse it too, so lift the bound.
    days.evaluate("e => e.removeAttribute('max')")
    days.fill("45")
    form.get_by_label("Reason for the extension").fill("Bank abroad answers late")
    form.get_by_role("button", name="Extend the time limit").click()
    error = supervisor.locator("form.extend [role=alert]")
    expect(error).to_contain_text("between 1 and 30")
    assert supervisor.locator("form.extend").get_by_label("Days").input_value() == "45"
    shot(supervisor, "17-deadline-extension-refused")

    form = supervisor.locator("form.extend")
    form.get_by_label("Days").fill("10")
    form.get_by_role("button", name="Extend the time limit").click()
    expect(supervisor.locator(".flash")).to_contain_text("extended by 10 days")
    deadlines = supervisor.locator("#deadlines-h + .table-wrap table")
    assert "extended by 10 d" in deadlines.inner_text()
    assert "Up to 20 more days" in supervisor.locator("form.extend").inner_text()
    timeline = supervisor.locator("ol.timeline").inner_text()
    assert "Bank abroad answers late" in timeline
    shot(supervisor, "18-deadline-extended")
    for page in (officer, supervisor):
        page.context.close()


def test_officer_translates_the_text_so_the_request_can_be_transmitted(
        browser: Any, server: Server) -> None:
    # Written in French; KE accepts English and Swahili: transmission waits for a translation.
    with db.unit_of_work(server.engine) as s:
        users = {u.username: u for u in s.scalars(select(User))}
        ke = directory.authority_by_code(s, "KE-ODPP")
        data = templates.example("mla.evidence")
        data["facts_summary"] = "Virements frauduleux vers des comptes à Nairobi."
        row = filing.file_request(
            s, users["fr.officer"], kind="mla.evidence", requested_authority_id=ke.id,
            legal_basis="untoc", title="Virements Nairobi", language="fr", data=data)
        lifecycle.transition(s, row, "submit", users["fr.officer"])
        lifecycle.transition(s, row, "approve", users["fr.supervisor"])
        request_url = server.url(f"/console/requests/{row.id}")

    officer = login(browser, server, "fr.officer")
    officer.goto(request_url)
    officer.get_by_role("button", name="Transmit").click()
    expect(officer.locator("#action-error")).to_contain_text("add a translation first")

    officer.get_by_label("Translate the text into").select_option("en")
    officer.get_by_role("button", name="Translate", exact=True).click()
    officer.wait_for_url(re.compile(r"/translations\?language=en"))
    summary = officer.locator("#" + html_id("data.facts_summary"))
    assert summary.input_value() == "Virements frauduleux vers des comptes à Nairobi."
    assert "KE-ODPP accepts this language" in officer.locator("main").inner_text()
    summary.fill("Fraudulent transfers to accounts in Nairobi.")
    shot(officer, "19-translation-form", screen=True)
    officer.get_by_role("button", name="Save translation").first.click()
    officer.wait_for_url(re.compile(r"/console/requests/[0-9a-f-]{36}"))
    expect(officer.locator(".flash")).to_contain_text("English translation saved")
    documents = officer.locator("#documents-h").locator("..")
    assert "English (en) — translation" in documents.inner_text()

    officer.get_by_role("button", name="Transmit").click()
    expect(officer.locator("#state")).to_contain_text("Transmitted")
    officer.get_by_role("link", name="English (en) — translation").click()
    officer.wait_for_url(re.compile(r"/document\?language=en"))
    assert "Fraudulent transfers to accounts in Nairobi." in officer.content()
    assert "Virements frauduleux" not in officer.content()
    officer.go_back()
    # Once sent, the text is final: no more translating.
    officer.reload()
    assert officer.get_by_label("Translate the text into").count() == 0
    officer.context.close()


def test_officer_registers_a_request_received_by_email(browser: Any, server: Server) -> None:
    officer = login(browser, server, "ke.officer")
    officer.get_by_role("link", name="New request").first.click()
    officer.get_by_role("link", name=re.compile(r"^register one we received\W+Request for "
                                                "provisional arrest")).click()
    officer.wait_for_url("**/console/incoming/extradition.provisional_arrest")
    officer.get_by_label("Legal basis").select_option("untoc")
    officer.get_by_label("Short title").fill("Provisional arrest - M. Duval (by e-mail)")
    officer.get_by_role("button", name="Register as received").click()
    # Who sent it is required; nothing is registered until it is given.
    error = officer.locator("#h-requesting_authority-error")
    expect(error).to_contain_text("choose the authority that sent the request")
    assert officer.get_by_label("Short title").input_value() == \
        "Provisional arrest - M. Duval (by e-mail)"
    shot(officer, "20-incoming-missing-sender", screen=True)

    officer.get_by_label("Requesting authority").select_option("FR-MJ")
    officer.get_by_label("Their reference").fill("JI-2026-00999")
    officer.get_by_role("button", name="Register as received").click()
    officer.wait_for_url(re.compile(r"/console/requests/[0-9a-f-]{36}$"))
    expect(officer.locator(".flash")).to_contain_text("their reference JI-2026-00999")
    parties = officer.locator("main").inner_text()
    assert "Provisional arrest requested" in officer.locator("#state").inner_text()
    # KE registered it: KE is the requested party, marked as the reader's own.
    assert "(KE-ODPP) — you" in parties and "(FR-MJ) — you" not in parties
    shot(officer, "21-incoming-registered")
    reference = re.search(r"KE-ODPP-\d{4}-\d{5}", officer.locator("h1").inner_text()).group(0)
    officer.context.close()

    # An urgent request received pages KE's own 24/7 point.
    contact = login(browser, server, "ke.contact")
    contact.get_by_role("link", name="Alerts").click()
    expect(contact.locator("li.alert-item", has_text=reference)).to_have_count(1)
    contact.context.close()



def test_contact_point_sees_who_is_on_call_and_the_shared_directory(browser: Any,
                                                                    server: Server) -> None:
    """The 24/7 page: my authority's person on call now, its rotation and escalation; every
    authority's points of contact; another authority's rotation and policy never."""
    from datetime import date

    from mla.clock import utcnow
    from mla.oncall import paging
    from mla.oncall import service as oncall

    def contact(authority_id: int, name: str, email: str) -> int:
        return oncall.save_contact(s, authority_id, {
            "network": "budapest_24_7", "name": name, "email": email, "phone": "+254 700 1",
            "languages": ["en", "sw"], "channels": ["email"], "timezone": "Africa/Nairobi"}).id

    with db.unit_of_work(server.engine) as s:
        ke = directory.authority_by_code(s, "KE-ODPP")
        fr = directory.authority_by_code(s, "FR-MJ")
        first = contact(ke.id, "Achieng Njoroge", "achieng@odpp.example")
        second = contact(ke.id, "Brian Mwangi", "brian@odpp.example")
        rotation = oncall.set_rotation(s, ke.id, network="budapest_24_7",
                                       timezone="Africa/Nairobi", handoff_time="09:00",
                                       shift_hours=168, starts_on=date(2026, 1, 5),
                                       members=[first, second])
        paging.set_policy(s, ke.id, network="budapest_24_7", repeat=1, steps=[
            {"notify": "on_call", "delay_minutes": 0},
            {"notify": f"contact:{second}", "delay_minutes": 15},
            {"notify": "role:supervisor", "delay_minutes": 30}])
        oncall.save_contact(s, fr.id, {
            "network": "budapest_24_7", "name": "Permanence BEPI",
            "email": "permanence@justice.example", "languages": ["fr", "en"],
            "channels": ["email"], "timezone": "Europe/Paris"})
        who = oncall.resolve(s, rotation, utcnow())
        assert who is not None
        on_call_now = who.member.name

    page = login(browser, server, "ke.contact")
    page.get_by_role("link", name="24/7").click()
    page.wait_for_url("**/console/oncall")
    expect(page.locator("#on-call")).to_contain_text(on_call_now)
    expect(page.locator("#on-call")).to_contain_text("Achieng Njoroge → Brian Mwangi")
    expect(page.locator("#policies")).to_contain_text("the person on call, at once")
    expect(page.locator("#policies")).to_contain_text("Brian Mwangi, after 15 min")
    expect(page.locator("#policies")).to_contain_text("supervisors, after 30 min")
    expect(page.locator("#directory")).to_contain_text("Permanence BEPI")
    expect(page.locator("#mine")).to_contain_text("brian@odpp.example")
    shot(page, "oncall-contact-point")
    page.context.close()

    officer = login(browser, server, "fr.officer")
    officer.goto(server.url("/console/oncall"))
    expect(officer.locator("#on-call")).to_contain_text("No rotation")
    expect(officer.locator("#policies")).to_contain_text("alerts land in the inbox only")
    expect(officer.locator("#policies")).not_to_contain_text("Brian Mwangi")
    # The directory is shared: KE's points of contact, not its rotation or policy.
    expect(officer.locator("#directory")).to_contain_text("Achieng Njoroge")
    expect(officer.locator("#mine")).to_contain_text("Permanence BEPI")
    shot(officer, "oncall-other-authority")
    officer.context.close()
