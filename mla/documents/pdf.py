"""The request document (the HTML of templates/requests/layouts/document.html.j2) as PDF,
rendered by WeasyPrint through Debian's Pango and HarfBuzz, so Arabic is shaped and laid out
right to left and Chinese has real glyphs, with the Noto fonts embedded (subset).

The system parts are checked before rendering: a missing library or font stops with one
message naming the Debian package to install (`Unavailable`), never an ImportError; the HTML
document stays available without them."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

from mla.errors import Unavailable

# Font files the page's stylesheet names, and the Debian package that installs each.
FONTS: dict[str, tuple[str, str]] = {
    "latin, cyrillic": ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
                        "fonts-noto-core"),
    "arabic": ("/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf", "fonts-noto-core"),
    "chinese": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "fonts-noto-cjk"),
}
LIBRARIES = "libpango-1.0-0 libpangoft2-1.0-0"

# Print layout of the PDF, over the layout's own print styles: A4, the fonts above by script
# (Chinese first for Chinese text, so that its punctuation comes from the CJK font), and a
# bottom margin kept free for the signature block (mla.documents.pades) left of the page
# number.
PAGE_CSS = """
@page {
  size: A4;
  margin: 18mm 18mm 34mm 18mm;
  @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt;
                  font-family: "Noto Sans"; color: #444; vertical-align: top;
                  padding-top: 3mm; }
}
html { font-family: "Noto Sans", "Noto Naskh Arabic", "Noto Sans CJK SC", sans-serif; }
body { font-family: inherit; font-size: 10.5pt; margin: 0; padding: 0; max-width: none; }
html:lang(ar) body { font-family: "Noto Naskh Arabic", "Noto Sans", "Noto Sans CJK SC"; }
html:lang(zh) body { font-family: "Noto Sans CJK SC", "Noto Sans", "Noto Naskh Arabic"; }
code { font-family: "Noto Sans Mono", "DejaVu Sans Mono", monospace; font-size: 9pt; }
dt[title] { text-decoration: none; }
"""


@cache
def _weasyprint() -> Any:
    try:
        import weasyprint
    except OSError as exc:  # Pango missing: cffi cannot open the library
        raise Unavailable(f"PDF needs Pango: apt-get install {LIBRARIES} ({exc})") from None
    # Its warnings about CSS it ignores (screen-only properties) are noise in the worker log.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return weasyprint


def check() -> None:
    """Raises Unavailable naming the Debian package to install when a part is missing."""
    missing = sorted({package for path, package in FONTS.values() if not Path(path).exists()})
    if missing:
        raise Unavailable(f"PDF needs the Noto fonts: apt-get install {' '.join(missing)} "
                          f"(the HTML document is still available)")
    _weasyprint()


@cache
def _page_css() -> Any:
    return _weasyprint().CSS(string=PAGE_CSS)


def render(html: str) -> bytes:
    """The PDF of one HTML document (a PDF/A-like, tagged-free PDF 1.7 with embedded fonts)."""
    check()
    weasyprint = _weasyprint()
    document = weasyprint.HTML(string=html, base_url=None).render(stylesheets=[_page_css()])
    return bytes(document.write_pdf(uncompressed_pdf=False))
