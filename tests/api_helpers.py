"""An API client per user of the test world, with real tokens, on a real database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mla import security, templates

if TYPE_CHECKING:
    from tests.conftest import World


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    world: World
    session: Session
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str, **extra: str) -> dict[str, str]:
        if username not in self.tokens:
            user = self.world[username]
            self.tokens[username], _ = security.issue_access_token(self.session, user)
            self.session.commit()
        return {"Authorization": f"Bearer {self.tokens[username]}", **extra}

    def call(self, username: str | None, method: str, url: str, **kw: Any) -> Any:
        headers = self.headers(username) if username else {}
        headers.update(kw.pop("headers", {}))
        return self.client.request(method, url, headers=headers, **kw)

    def console(self, username: str, method: str, path: str,
                form: dict[str, Any] | None = None) -> Any:
        """A console page as `username` sees it (session cookie, CSRF token on forms), asked
        for in English as a browser would (FR's officers would otherwise read French)."""
        from api.web.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE

        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.headers(username)["Authorization"].split()[1])
        self.client.cookies.set(CSRF_COOKIE, "token")
        data = {CSRF_FIELD: "token", **(form or {})} if method == "POST" else None
        try:
            # English unless the test asked its client for another language.
            english = None if "accept-language" in self.client.headers else {
                "Accept-Language": "en"}
            return self.client.request(method, path, data=data, follow_redirects=False,
                                       headers=english)
        finally:
            self.client.cookies.clear()

    def file(self, username: str = "fr.officer", kind: str = "mla.evidence",
             **overrides: Any) -> dict[str, Any]:
        body = {"kind": kind, "requested_authority": "KE-ODPP", "legal_basis": "untoc",
                "title": "Kestrel bank records", "language": "en",
                "data": templates.example(kind)} | overrides
        response = self.call(username, "POST", "/requests", json=body)
        assert response.status_code == 201, response.text
        return response.json()


PROBLEM = "application/problem+json"


def refusal(response: Any, status: int) -> dict[str, Any]:
    """The RFC 9457 body of a refusal with this status."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith(PROBLEM)
    return response.json()  # type: ignore[no-any-return]


def problem_fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


def count_rows(api: Api, model: Any) -> int:
    """Rows of `model` as committed (the test's own session sees what the API stored)."""
    api.session.rollback()
    return api.session.scalar(select(func.count()).select_from(model)) or 0
