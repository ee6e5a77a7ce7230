"""Officer web console: server-rendered pages under /console over the same domain services
and the same authorization as the API (see api/web/session.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from api.web.session import PREFIX


def page_routers() -> list[APIRouter]:
    """Every console router, in the order their routes are matched."""
    from api.web.pages import (
        alerts,
        cases,
        drafting,
        identity,
        login,
        oncall,
        paging_me,
        preferences,
        profiles,
        requests,
        stats,
        translations,
        workflows,
    )

    return [login.router, identity.router, requests.router, translations.router,
            drafting.router, alerts.router, paging_me.router, oncall.router, stats.router,
            workflows.router, cases.router, profiles.router, preferences.router]


def install(app: FastAPI) -> None:
    from api.web.pages.common import kind_label, state_label
    from api.web.session import html

    # Names of kinds and states in the reader's language, for every template.
    html.env.globals.update(kind_label=kind_label, state_label=state_label)
    for router in page_routers():
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=Path(__file__).parent / "static"),
              name="console-static")
