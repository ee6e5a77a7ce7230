"""The request document as PDF: every UN language and the request's own, Arabic shaped and
right to left, Chinese with real glyphs, text extractable in logical order by an independent
tool (poppler), pages rendered to PNG for a person to look at."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from PIL import Image
from sqlalchemy.orm import Session

from mla import templates
from mla.documents import pdf
from mla.errors import Unavailable
from mla.requests import documents
from mla.templates.model import UN_LANGUAGES
from tests.conftest import World
from tests.documents.conftest import pdftoppm, pdftotext
from tests.lifecycle_helpers import new_request

ROOT = Path(__file__).resolve().parents[2]
UI = yaml.safe_load((ROOT / "templates/requests/_ui.yaml").read_text("utf-8"))
AR_SUBJECT = "تحقيق جنائي في احتيال منظم وغسل عائداته في كينيا"
ZH_SUBJECT = "对有组织诈骗及其收益洗钱的刑事调查"
AR_PHONE = "+33 1 87 00 00 41"


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the page images go: MLA_TEST_SCREENSHOTS to keep them, else a temporary
    folder; the test prints the paths."""
    kept = os.environ.get("MLA_TEST_SCREENSHOTS")
    folder = Path(kept) if kept else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("language", UN_LANGUAGES)
def test_each_un_language_has_its_labels_in_the_pdf(language: str, tmp_path: Path) -> None:
    html = templates.render("mla.evidence", templates.example("mla.evidence"),
                            language=language, fmt="html", meta={"reference": "FR-2026-0042"})
    content = pdf.render(html)
    assert content.startswith(b"%PDF-")
    text = _flat(pdftotext(content, tmp_path))
    # The title line is set in capitals (text-transform), where the script has them.
    assert _flat(UI["document_title"][language]).casefold() in text.casefold()
    assert _flat(UI["requesting_authority"][language]) in text
    assert "FR-2026-0042" in text
    # The form's values travel too (the example is in English).
    assert "JUNALCO 26-041-0123" in text


def _own_language(session: Session, world: World, language: str, subject: str) -> bytes:
    data = templates.example("mla.evidence") | {"case_subject": subject}
    if language == "ar":
        data["contact_officer"] = dict(data["contact_officer"], phone=AR_PHONE)
    request = new_request(session, world, "mla.evidence", data=data, language=language)
    html, used = documents.render(session, request, language=language)
    assert used == language
    return pdf.render(html)


def test_arabic_request_reads_in_logical_order_right_to_left(
        session: Session, world: World, tmp_path: Path, screenshots: Path) -> None:
    content = _own_language(session, world, "ar", AR_SUBJECT)
    text = _flat(pdftotext(content, tmp_path))
    # Shaped glyphs map back to the characters typed, in reading order.
    assert AR_SUBJECT in text
    assert _flat(UI["requested_authority"]["ar"]) in text
    # A phone number inside Arabic text keeps its own left-to-right order.
    assert AR_PHONE in text
    fonts = subprocess.run(["pdffonts", "-"], input=content, capture_output=True).stdout
    assert re.search(rb"Noto-?Naskh-?Arabic", fonts), fonts
    image = pdftoppm(content, screenshots, "request-ar")
    print(f"\nArabic page 1: {image}")
    left, right = _title_ink(image)
    # The title is set from the right margin.
    assert right > 0.85 and left > 0.3, (left, right)


def test_chinese_request_has_real_glyphs_and_extractable_text(
        session: Session, world: World, tmp_path: Path, screenshots: Path) -> None:
    content = _own_language(session, world, "zh", ZH_SUBJECT)
    text = _flat(pdftotext(content, tmp_path))
    assert ZH_SUBJECT in text
    assert _flat(UI["requested_authority"]["zh"]) in text
    # Extractable text alone would not catch empty boxes: the CJK font must be embedded.
    fonts = subprocess.run(["pdffonts", "-"], input=content, capture_output=True).stdout
    assert re.search(rb"Noto-?Sans-?CJK", fonts), fonts
    image = pdftoppm(content, screenshots, "request-zh")
    print(f"\nChinese page 1: {image}")
    left, _ = _title_ink(image)
    assert left < 0.15, left


def _title_ink(image_path: Path) -> tuple[float, float]:
    """Leftmost and rightmost dark pixel of the page's top band (the document title and
    heading), as fractions of the width."""
    image = Image.open(image_path).convert("L")
    width, height = image.size
    band = image.crop((0, int(height * 0.03), width, int(height * 0.12)))
    box = band.point(lambda v: 255 if v < 128 else 0).getbbox()
    assert box is not None, "nothing printed at the top of the page"
    return box[0] / width, box[2] / width


def test_section_order_follows_the_form(tmp_path: Path) -> None:
    version = templates.get("mla.evidence")
    html = templates.render("mla.evidence", templates.example("mla.evidence"), language="en",
                            fmt="html", meta={})
    text = _flat(pdftotext(pdf.render(html), tmp_path))
    positions = [text.find(_flat(f.label["en"])) for f in version.fields]
    assert -1 not in positions
    assert positions == sorted(positions)


def test_missing_fonts_name_the_package_and_html_still_works(
        api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pdf.FONTS, "chinese", ("/nonexistent/NotoSansCJK-Regular.ttc",
                                               "fonts-noto-cjk"))
    with pytest.raises(Unavailable, match="apt-get install fonts-noto-cjk"):
        pdf.check()
    request = api.file()
    refused = api.call("fr.officer", "GET", f"/requests/{request['id']}/document?format=pdf")
    assert refused.status_code == 503
    assert "fonts-noto-cjk" in refused.json()["detail"]
    html = api.call("fr.officer", "GET", f"/requests/{request['id']}/document")
    assert html.status_code == 200 and "<html" in html.text
