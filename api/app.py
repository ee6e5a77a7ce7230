"""The FastAPI application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from api import problems
from mla import config, db, templates


def create_app(database_url: str | None = None) -> FastAPI:
    # Broken template files stop the server at start-up, not at the first filing.
    templates.load_all()
    url = database_url or config.database_url()
    engine = db.make_engine(url)
    app = FastAPI(title="MLA & extradition workflow engine", version="0.1.0")
    app.state.engine = engine
    app.state.sessions = db.session_factory(engine)
    problems.install(app)

    # Authorization: public; says only whether this instance can reach its database.
    @app.get("/health", tags=["operations"])
    def health() -> dict[str, Any]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
