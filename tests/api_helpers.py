"""An API client per user of the test world, with real tokens, on a real database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
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

    def file(self, username: str = "fr.officer", kind: str = "mla.evidence",
             **overrides: Any) -> dict[str, Any]:
        body = {"kind": kind, "requested_authority": "KE-ODPP", "legal_basis": "untoc",
                "title": "Kestrel bank records", "language": "en",
                "data": templates.example(kind)} | overrides
        response = self.call(username, "POST", "/requests", json=body)
        assert response.status_code == 201, response.text
        return response.json()

