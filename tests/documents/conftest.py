"""Shared by the document tests: a signing passphrase, approved requests, and the Debian
tools that check our PDFs independently of the Python code that made them (poppler's
pdftotext, pdfsig, pdftoppm)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from mla.models import Request
from mla.requests import lifecycle
from tests.conftest import World
from tests.lifecycle_helpers import new_request

PASSPHRASE = "a long random secret kept outside the database"
# Bidi controls pdftotext puts around right-to-left runs (logical order is kept).
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} missing: apt-get install poppler-utils (.ci/run installs it)")
    return path


def pdftotext(pdf: bytes, tmp: Path, *, first: int | None = None,
              last: int | None = None) -> str:
    source = tmp / "in.pdf"
    source.write_bytes(pdf)
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    out = subprocess.run([_tool("pdftotext"), *pages, "-enc", "UTF-8", str(source), "-"],
                         check=True, capture_output=True).stdout.decode("utf-8")
    return _BIDI_CONTROLS.sub("", out)


def pdfsig(pdf: bytes, tmp: Path) -> str:
    source = tmp / "signed.pdf"
    source.write_bytes(pdf)
    done = subprocess.run([_tool("pdfsig"), str(source)], capture_output=True)
    return (done.stdout + done.stderr).decode("utf-8", "replace")


def pdftoppm(pdf: bytes, folder: Path, name: str, page: int = 1) -> Path:
    source = folder / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run([_tool("pdftoppm"), "-png", "-r", "70", "-f", str(page), "-l", str(page),
                    "-singlefile", str(source), str(folder / name)], check=True)
    return folder / f"{name}.png"


@pytest.fixture
def passphrase(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLA_SIGNING_KEY_PASSPHRASE", PASSPHRASE)
    return PASSPHRASE


def approve(session: Session, world: World, request: Request) -> Request:
    lifecycle.transition(session, request, "submit", world["fr.officer"])
    lifecycle.transition(session, request, "approve", world["fr.supervisor"])
    session.commit()
    return request


def approved_request(session: Session, world: World, **kw: Any) -> Request:
    return approve(session, world, new_request(session, world, "mla.evidence", **kw))
