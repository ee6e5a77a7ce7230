"""The interactive API description (`/docs`, Swagger UI) and its reference (`/redoc`), with
their scripts and styles served by this instance from an installed package
(`fastapi-offline`), never from a CDN: ministries run air-gapped networks, and a script loaded
from elsewhere would run with this origin's authority. Each page's inline script is allowed by
its hash in the page's Content-Security-Policy (api/headers.py)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.headers import csp_for

DOCS = "/docs"
REDOC = "/redoc"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
ASSETS = "/docs/assets"
# swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png
ASSET_DIR = Path(str(files("fastapi_offline") / "static"))


def _page(response: HTMLResponse, *, styles: tuple[str, ...] = ("'self'",),
          workers: tuple[str, ...] = ()) -> HTMLResponse:
    text = bytes(response.body).decode()
    return HTMLResponse(text, headers={"Content-Security-Policy": csp_for(
        text, scripts=("'self'",), styles=styles, images=("'self'", "data:"),
        connect=("'self'",), forms=("'self'",), workers=workers)})


def install(app: FastAPI) -> None:
    """Call on an app made with `docs_url=None, redoc_url=None`."""
    app.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return _page(get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + OAUTH2_REDIRECT,
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            # Swagger UI would otherwise send the document to validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None}))

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return _page(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        # ReDoc styles its components at run time (styled-components) with <style> elements
        # it writes itself: their text is not known in advance, so no hash can allow them.
        # Its search runs in a worker it makes from a blob. The Redocly logo it shows from
        # its CDN is refused by img-src (and hidden by ReDoc when it does not load).
        return _page(get_redoc_html(
            openapi_url=root + openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png", with_google_fonts=False),
            styles=("'self'", "'unsafe-inline'"), workers=("blob:",))
