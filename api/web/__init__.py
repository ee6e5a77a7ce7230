"""Officer web console: server-rendered pages under /console over the same domain services
and the same authorization as the API (see api/web/session.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web.session import PREFIX


def install(app: FastAPI) -> None:
    from api.web import pages

    app.include_router(pages.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=Path(__file__).parent / "static"),
              name="console-static")
