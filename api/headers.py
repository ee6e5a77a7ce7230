"""Security headers on every response of the application, set in one place.

Every response: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
`Referrer-Policy: same-origin`, and `Cache-Control: no-store` unless it is a static file
(answers carry case content or a user's view of it; none may sit in a shared or browser
cache). HTML: a Content-Security-Policy, the console's unless the page brings its own
(`csp_for`, which allows the page's own inline scripts and styles by hash, never
'unsafe-inline'); other types a policy that loads and frames nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The console's pages: scripts, styles and images from this origin only.
HTML_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
# JSON, CSV, SVG, files: if a browser opens one as a page, it runs nothing and loads nothing.
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
ALWAYS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
          ("Referrer-Policy", "same-origin"))

_INLINE = re.compile(r"<(script|style)\b([^>]*)>(.*?)</\1\s*>", re.S | re.I)


def _hash(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def csp_for(html: str, *, scripts: Iterable[str] = (), styles: Iterable[str] = (),
            images: Iterable[str] = ("data:",), connect: Iterable[str] = (),
            forms: Iterable[str] = (), workers: Iterable[str] = ()) -> str:
    """A policy for one page: nothing by default, the sources named, and the page's own
    inline `<script>` and `<style>` blocks by their SHA-256 (CSP level 2), so that a script
    injected into the page does not run."""
    script, style = list(scripts), list(styles)
    for tag, attributes, body in _INLINE.findall(html):
        if tag.lower() == "style":
            # Beside a hash a browser ignores 'unsafe-inline': where it is named, no hash.
            if "'unsafe-inline'" not in style:
                style.append(_hash(body))
        elif "src=" not in attributes.lower() and body.strip():
            script.append(_hash(body))

    def sources(values: list[str]) -> str:
        return " ".join(dict.fromkeys(values)) or "'none'"

    worker = list(workers)
    return (f"default-src 'none'; script-src {sources(script)}; style-src {sources(style)}; "
            f"img-src {sources(list(images))}; connect-src {sources(list(connect))}; "
            + (f"worker-src {sources(worker)}; " if worker else "")
            + f"form-action {sources(list(forms))}; frame-ancestors 'none'; base-uri 'none'")


class SecurityHeaders:
    """ASGI middleware: the headers above on every response, unless the route set its own.
    `static` are the path prefixes of static files (cacheable, no policy of their own)."""

    def __init__(self, app: ASGIApp, static: tuple[str, ...] = ()) -> None:
        self.app = app
        self.static = static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = bool(self.static) and scope["path"].startswith(self.static)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS:
                    headers.setdefault(name, value)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
                    html = headers.get("content-type", "").startswith("text/html")
                    headers.setdefault("Content-Security-Policy",
                                       HTML_CSP if html else OTHER_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)
