"""The console's language over plain HTTP against `mla serve`: the user's stored choice, then
the browser's Accept-Language, then the authority's first language; the switcher on every
page; Arabic right to left; the API's problem details stay English."""

from __future__ import annotations

import re

import httpx

from tests.console.conftest import PASSWORD, Server


def _html_tag(text: str) -> str:
    found = re.search(r"<html[^>]*>", text)
    assert found, text[:200]
    return found.group(0)


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found
    return found.group(1)


def _login(client: httpx.Client, username: str) -> None:
    token = _csrf(client.get("/console/login").text)
    answer = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                  "csrf_token": token})
    assert answer.status_code == 303, answer.text[:300]


def test_accept_language_gives_arabic_right_to_left_before_and_after_login(
        server: Server) -> None:
    with httpx.Client(base_url=server.base, headers={"Accept-Language": "ar,en;q=0.5"}) as c:
        login = c.get("/console/login")
        assert _html_tag(login.text) == '<html lang="ar" dir="rtl">'
        # The switcher: every language named in itself, marked with its own language.
        for code, name in (("ar", "العربية"), ("zh", "中文"), ("en", "English"),
                           ("fr", "Français"), ("ru", "Русский"), ("es", "Español")):
            assert re.search(rf'<button type="submit" name="language" value="{code}" '
                             rf'lang="{code}"[^>]*>{name}</button>', login.text), code
        # KE's officer has no stored choice and KE's first language is English: the
        # browser's Arabic wins.
        _login(c, "ke.officer")
        page = c.get("/console/requests")
        assert _html_tag(page.text) == '<html lang="ar" dir="rtl">'
        assert "مسودة" in page.text or "تمت" in page.text or "قيد" in page.text


def test_without_a_choice_or_a_browser_language_the_authority_first_language(
        server: Server) -> None:
    with httpx.Client(base_url=server.base) as c:
        _login(c, "fr.officer")  # FR's languages: fr, en
        page = c.get("/console/requests")
        assert _html_tag(page.text) == '<html lang="fr" dir="ltr">'
        # Dates written the French way, in FR's time zone.
        assert re.search(r"\d{1,2} (janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc)"
                         r"\.? 20\d\d, \d\d:\d\d", page.text)


def test_a_stored_choice_beats_the_browser_and_the_switcher_keeps_it(server: Server) -> None:
    with httpx.Client(base_url=server.base, headers={"Accept-Language": "ar"}) as c:
        _login(c, "ke.supervisor")
        settings = c.get("/console/settings/language")
        assert settings.status_code == 200
        saved = c.post("/console/settings/language",
                       data={"language": "ru", "csrf_token": _csrf(settings.text)})
        assert saved.status_code == 303
        after = c.get("/console/settings/language")
        assert _html_tag(after.text) == '<html lang="ru" dir="ltr">'
        assert "Ваш язык сохранен." in after.text
        # The switcher in the page's header, back to where the user was.
        switched = c.post("/console/language", data={
            "language": "zh", "next": "/console/requests?sort=reference",
            "csrf_token": _csrf(after.text)})
        assert switched.status_code == 303
        assert switched.headers["location"] == "/console/requests?sort=reference"
        assert _html_tag(c.get("/console/requests").text) == '<html lang="zh" dir="ltr">'
        # Automatic again: the browser's language.
        page = c.get("/console/settings/language")
        c.post("/console/settings/language", data={"language": "",
                                                    "csrf_token": _csrf(page.text)})
        assert _html_tag(c.get("/console/requests").text) == '<html lang="ar" dir="rtl">'
    # A new browser, same user: the choice was the user's (it is "automatic" again now).
    with httpx.Client(base_url=server.base, headers={"Accept-Language": "es"}) as c:
        _login(c, "ke.supervisor")
        assert _html_tag(c.get("/console/requests").text) == '<html lang="es" dir="ltr">'


def test_the_switcher_before_login_and_an_unknown_language(server: Server) -> None:
    with httpx.Client(base_url=server.base) as c:
        token = _csrf(c.get("/console/login").text)
        answer = c.post("/console/language", data={"language": "fr", "next": "/console/login",
                                                   "csrf_token": token})
        assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
        assert _html_tag(c.get("/console/login").text) == '<html lang="fr" dir="ltr">'
        # Not one of the six: nothing changes; a foreign site is no target.
        c.post("/console/language", data={"language": "xx", "csrf_token": token})
        assert _html_tag(c.get("/console/login").text) == '<html lang="fr" dir="ltr">'
        away = c.post("/console/language", data={"language": "ar", "csrf_token": token,
                                                 "next": "https://evil.example/"})
        assert away.headers["location"] == "/console/requests"
        # Without the form's CSRF token, refused.
        assert c.post("/console/language", data={"language": "ru"}).status_code == 403


def test_api_problem_details_stay_english(server: Server) -> None:
    answer = httpx.post(server.url("/auth/token"), headers={"Accept-Language": "ar"},
                        data={"username": "ke.officer", "password": "wrong password!"})
    assert answer.status_code in (400, 401)
    body = answer.json()
    assert re.fullmatch(r"[\x20-\x7e]+", body["detail"]), body


def test_legal_bases_are_titled_in_the_reader_language(server: Server) -> None:
    with httpx.Client(base_url=server.base, headers={"Accept-Language": "ar"}) as c:
        _login(c, "ke.officer")
        form = c.get("/console/new/mla.evidence")
        assert form.status_code == 200, form.text[:300]
        assert re.search(r'<option value="untoc"[^>]*>اتفاقية الأمم المتحدة لمكافحة الجريمة '
                         r"المنظمة عبر الوطنية \(2000\)</option>", form.text)
        assert "UN Convention against Transnational Organized Crime" not in form.text
    with httpx.Client(base_url=server.base) as c:
        _login(c, "fr.officer")  # FR reads French
        form = c.get("/console/new/mla.evidence")
        assert ("Directive 2014/41/UE concernant la décision d&#39;enquête européenne en "
                "matière pénale</option>") in form.text
