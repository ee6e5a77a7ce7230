"""The audit chain recomputed from its specification (README, "Audit"), not with the code's
own hashing: an auditor with the README and a copy of the table must arrive at the stored
hashes. Written out here on purpose; nothing of mla.audit's hashing is called."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mla import audit, db, templates
from mla.models import AuditEvent, AuditHead
from tests.api_helpers import Api

# README: "The first row chains from 64 zeros".
FIRST_PREVIOUS = "0" * 64


def canonical_text(row: dict[str, Any]) -> str:
    """README: a JSON object of exactly these eight members, keys in code-point order, no
    whitespace, non-ASCII characters as themselves; `at` in UTC, ISO 8601 with six decimals
    and a `+00:00` offset; ids as numbers; absent values as null."""
    members = {
        "action": row["action"],
        "actor_id": row["actor_id"],
        "at": row["at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
        "authority_id": row["authority_id"],
        "detail": row["detail"],
        "id": row["id"],
        "object_id": row["object_id"],
        "object_type": row["object_type"],
    }
    return json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(previous: str, row: dict[str, Any]) -> str:
    """README: lowercase hex SHA-256 of the UTF-8 bytes of the previous row's hash (64 hex
    characters) followed by the row's canonical text."""
    return hashlib.sha256((previous + canonical_text(row)).encode("utf-8")).hexdigest()


def _a_day_of_work(api: Api) -> None:
    """Audited actions of several users and of the system, with text that tests the
    canonical form: accents, CJK, quotes, backslashes, new lines, an emoji."""
    form = templates.example("mla.evidence") | {
        "facts_summary": 'Virements « suspects » vers Nairobi — "Kestrel" \\ 東京\n2026 🧾'}
    created = api.file(title="Ordonnance n°17 — Kestrel", language="fr", data=form)
    rid = created["id"]
    steps: list[tuple[str, str, str, dict[str, Any]]] = [
        ("fr.officer", "PATCH", f"/requests/{rid}", {
            "json": {"data": form | {"case_subject": "Blanchiment — réseau Ørsted"}},
            "headers": {"If-Match": f'"{created["version"]}"'}}),
        ("fr.officer", "PUT", f"/requests/{rid}/translations/en",
         {"json": {"data": {"facts_summary": 'Transfers "suspected" to Nairobi'}}}),
        ("fr.officer", "POST", f"/requests/{rid}/attachments",
         {"files": {"file": ("ordonnance-n°1.pdf", b"%PDF-1.4 scan", "application/pdf")}}),
        ("fr.officer", "POST", f"/requests/{rid}/transitions", {"json": {"event": "submit"}}),
        ("fr.supervisor", "POST", f"/requests/{rid}/transitions",
         {"json": {"event": "return_to_draft", "reason": "Précisez l'article \"12\"\n\\merci"}}),
        ("fr.officer", "POST", f"/requests/{rid}/transitions", {"json": {"event": "submit"}}),
        ("fr.supervisor", "POST", f"/requests/{rid}/transitions", {"json": {"event": "approve"}}),
        ("fr.officer", "POST", f"/requests/{rid}/transitions", {"json": {"event": "transmit"}}),
        ("ke.officer", "GET", f"/requests/{rid}", {}),
        ("ke.officer", "GET", f"/requests/{rid}/document", {"params": {"language": "en"}}),
        ("ke.supervisor", "GET", f"/requests/{rid}/translations", {}),
        # An urgent request received pages KE's 24/7 point: an entry of the system itself.
        ("ke.officer", "POST", "/requests/incoming", {"json": {
            "kind": "mla.e_evidence.preservation", "requesting_authority": "FR-MJ",
            "counterpart_reference": "JI-2026/07", "legal_basis": "budapest",
            "title": "Préservation — compte 東京", "language": "en", "data": {}}}),
        ("fr.admin", "POST", "/users", {"json": {
            "username": "fr.officer2", "full_name": "Zoë Ålvarez-Nguyễn", "role": "officer",
            "password": "a long enough passphrase"}}),
    ]
    for who, method, url, kwargs in steps:
        response = api.call(who, method, url, **kwargs)
        assert response.status_code < 300, (method, url, response.text)
    attachment = api.call("fr.officer", "GET", f"/requests/{rid}/attachments").json()[0]
    assert api.call("ke.officer", "GET", f"/attachments/{attachment['id']}").status_code == 200
    alert = api.call("ke.contact_point", "GET", "/alerts").json()[0]
    note = {"note": 'Police informed — « équipe » on the way \\ "03:12"'}
    for action in ("acknowledge", "resolve"):
        response = api.call("ke.contact_point", "POST", f"/alerts/{alert['id']}/{action}",
                            json=note)
        assert response.status_code == 200, response.text


def _rows(session: Session) -> list[dict[str, Any]]:
    session.expire_all()
    return [dict(r._mapping) for r in session.execute(
        select(*AuditEvent.__table__.c).order_by(AuditEvent.id))]


def test_stored_chain_matches_the_documented_hash_row_by_row(api: Api) -> None:
    _a_day_of_work(api)
    # README: each entry is written with its own hash, and sealed into the chain shortly
    # after (the worker does it; here, at once).
    for row in _rows(api.session):
        assert row["hash"] is None
        assert row["entry_hash"] == hashlib.sha256(
            canonical_text(row).encode("utf-8")).hexdigest()
    audit.seal_all(db.session_factory(api.app.state.engine))
    rows = _rows(api.session)
    assert len(rows) >= 15, [r["action"] for r in rows]
    actions = {r["action"] for r in rows}
    assert {"request.file", "request.transition", "attachment.download", "page.open",
            "page.acknowledge", "user.create"} <= actions
    assert any(r["actor_id"] is None for r in rows)  # the system's own entries chain too
    assert any(r["detail"] and any(ord(c) > 127 for c in json.dumps(r["detail"],
                                                                   ensure_ascii=False))
               for r in rows)

    assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    previous = FIRST_PREVIOUS
    for row in rows:
        assert row["hash"] == spec_hash(previous, row), (
            f"row {row['id']} ({row['action']}): stored {row['hash']}, the README's "
            f"definition gives {spec_hash(previous, row)}")
        previous = row["hash"]
    head = api.session.execute(select(AuditHead.last_id, AuditHead.last_hash)).one()
    assert (head.last_id, head.last_hash) == (rows[-1]["id"], rows[-1]["hash"])
    # Each hash depends on the one before: the same row chained from elsewhere differs.
    assert rows[1]["hash"] != spec_hash(FIRST_PREVIOUS, rows[1])
    # The shipped verifier agrees with the specification on the same rows.
    result = audit.verify(api.session)
    assert (result.ok, result.checked) == (True, len(rows)), result.reason
