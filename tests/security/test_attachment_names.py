"""Issue #16: an attachment's name and content type reach HTTP headers and pages. Whether
they come from a browser's upload (API or console) or from a peer's envelope, line breaks
and other control characters are removed on receipt, a type that is not `type/subtype` is
application/octet-stream, and downloads name the file as RFC 6266 says: an ASCII `filename`
and the exact `filename*=UTF-8''…` (RFC 8187). Rows stored before that are cleaned on the
way out. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from mla.models import Attachment
from tests.api_helpers import Api
from tests.app_routes import console
from tests.transfer.inbound import enable

PDF = b"%PDF-1.4 court order"


def _multipart(filename: bytes, content_type: bytes, content: bytes,
               extra: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart body written by hand: clients escape what is tested here."""
    boundary = "mla-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             .encode() for k, v in (extra or {}).items()]
    parts.append(b"--" + boundary.encode() + b'\r\nContent-Disposition: form-data; name="file";'
                 b' filename="' + filename + b'"\r\nContent-Type: ' + content_type
                 + b"\r\n\r\n" + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def _assert_clean_download(response: Any, content_type: str, disposition: str) -> None:
    assert response.status_code == 200, response.text
    for header, value in response.headers.items():
        assert not any(ord(c) < 32 for c in value), (header, value)
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"] == disposition
    assert response.content == PDF


def test_an_uploaded_name_and_type_lose_control_characters(api: Api) -> None:
    rid = api.file()["id"]
    body, content_type = _multipart(b"court\x00\x0border\x1b \xe2\x80\xaefdp.exe",
                                    b"application/pdf\x0bX-Injected: 1", PDF)
    up = api.call("fr.officer", "POST", f"/requests/{rid}/attachments", content=body,
                  headers={"Content-Type": content_type})
    assert up.status_code == 201, up.text
    meta = up.json()
    assert meta["filename"] == "courtorder fdp.exe"
    assert meta["content_type"] == "application/octet-stream"
    down = api.call("ke.officer", "GET", f"/attachments/{meta['id']}")
    _assert_clean_download(down, "application/octet-stream",
                           "attachment; filename=\"courtorder fdp.exe\"; "
                           "filename*=UTF-8''courtorder%20fdp.exe")


def test_a_console_upload_is_cleaned_the_same_way(api: Api) -> None:
    rid = api.file()["id"]
    body, content_type = _multipart("décision\x07 «n° 1».pdf".encode(), b"Application/PDF",
                                    PDF, extra={"csrf_token": "same-in-form-and-cookie"})
    from api.web.session import CSRF_COOKIE, SESSION_COOKIE

    api.client.cookies.set(SESSION_COOKIE,
                           api.headers("fr.officer")["Authorization"].removeprefix("Bearer "))
    api.client.cookies.set(CSRF_COOKIE, "same-in-form-and-cookie")
    try:
        up = api.client.post(f"/console/requests/{rid}/attachments", content=body,
                             headers={"Content-Type": content_type}, follow_redirects=False)
    finally:
        api.client.cookies.clear()
    assert up.status_code == 303, up.text
    stored = api.session.scalars(select(Attachment)).one()
    assert (stored.filename, stored.content_type) == ("décision «n° 1».pdf", "application/pdf")
    down = console(api, "ke.officer", "GET", f"/console/attachments/{stored.id}")
    _assert_clean_download(down, "application/pdf",
                           "attachment; filename=\"d_cision _n_ 1_.pdf\"; "
                           "filename*=UTF-8''d%C3%A9cision%20%C2%ABn%C2%B0%201%C2%BB.pdf")


def test_a_peers_attachment_name_and_type_are_cleaned_on_receipt(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    inbound = enable(api, monkeypatch)
    attachment = {"filename": "C:\\scans\\arrest\r\nwarrant.pdf",
                  "content_type": "application/pdf\r\nSet-Cookie: session=stolen",
                  "size": len(PDF), "sha256": hashlib.sha256(PDF).hexdigest(),
                  "content": base64.b64encode(PDF).decode()}
    response = inbound.post(inbound.seal(inbound.payload(attachments=[attachment])))
    assert response.status_code == 200, response.text
    stored = api.session.scalars(select(Attachment)
                                 .where(Attachment.filename.like("%warrant%"))).one()
    assert (stored.filename, stored.content_type) == ("arrestwarrant.pdf",
                                                      "application/octet-stream")
    expected = "attachment; filename=\"arrestwarrant.pdf\"; filename*=UTF-8''arrestwarrant.pdf"
    for down in (api.call("ke.officer", "GET", f"/attachments/{stored.id}"),
                 console(api, "ke.officer", "GET", f"/console/attachments/{stored.id}")):
        _assert_clean_download(down, "application/octet-stream", expected)


def test_a_row_stored_before_the_cleaning_still_downloads_with_safe_headers(api: Api) -> None:
    rid = uuid.UUID(api.file()["id"])
    row = Attachment(request_id=rid, filename="old\r\nname\x00.pdf",
                     content_type="text/html\r\nX-Injected: 1", size=len(PDF),
                     sha256=hashlib.sha256(PDF).hexdigest(), content=PDF)
    if api.session.bind.dialect.name == "postgresql":
        row.filename = "old\r\nname.pdf"  # PostgreSQL never held a NUL
    api.session.add(row)
    api.session.commit()
    expected = "attachment; filename=\"oldname.pdf\"; filename*=UTF-8''oldname.pdf"
    for down in (api.call("fr.officer", "GET", f"/attachments/{row.id}"),
                 console(api, "fr.officer", "GET", f"/console/attachments/{row.id}")):
        _assert_clean_download(down, "application/octet-stream", expected)
