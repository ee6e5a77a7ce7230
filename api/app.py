"""The FastAPI application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from api import problems, web
from api.routers import (
    alerts,
    attachments,
    audit,
    auth,
    catalog,
    deadlines,
    directory,
    requests,
    stats,
    transfer,
    users,
)
from mla import config, db, templates

DESCRIPTION = """\
Mutual legal assistance and extradition requests between central authorities.

Log in with `POST /auth/token` (OAuth2 password form) and send the access token as
`Authorization: Bearer ...`. Every error is an RFC 9457 problem document
(`application/problem+json`); invalid fields are listed in `errors`. Objects that are not
your authority's answer 404. Writes to a request accept `If-Match: "<version>"` and answer
409 with `current_version` when someone changed it first.
"""


def create_app(database_url: str | None = None) -> FastAPI:
    # Broken template files stop the server at start-up, not at the first filing.
    templates.load_all()
    url = database_url or config.database_url()
    engine = db.make_engine(url)
    app = FastAPI(title="MLA & extradition workflow engine", version="0.1.0",
                  description=DESCRIPTION)
    app.state.engine = engine
    app.state.sessions = db.session_factory(engine)
    problems.install(app)
    for module in (auth, directory, requests, attachments, deadlines, users, audit, catalog,
                   alerts, stats, transfer):
        app.include_router(module.router)
    app.include_router(transfer.requests_router)
    web.install(app)

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, Any]:
        """Whether this instance reaches its database. Authorization: public."""
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
