"""Electronic transfer between two real instances: `mla serve` and `mla worker` twice on
loopback ports, FR-MJ on SQLite and KE-ODPP on PostgreSQL (SQLite too when PostgreSQL is not
reachable), registered with each other by `mla peers add`. Users act through the HTTP API
with real tokens; crafted envelopes go to the running inbox."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwe, jws
from sqlalchemy import Engine, func, select

import workflows
from mla import audit, db, security, templates
from mla.directory import service as directory
from mla.models import (
    AuditEvent,
    Authority,
    InboxMessage,
    OutboxMessage,
    Page,
    Request,
    TransferKey,
    User,
)
from mla.transfer import canonical as transfer_canonical
from mla.transfer import delivery as transfer_delivery
from mla.transfer import envelope as transfer_envelope
from mla.transfer import inbox as transfer_inbox
from mla.transfer import keys as transfer_keys
from mla.transfer import outbox as transfer_outbox
from mla.transfer import peers as transfer_peers
from mla.transfer import schemas as transfer_schemas
from tests.conftest import IN_CI, PG_URL, _pg_unreachable_reason, private_schema_url

ROOT = Path(__file__).resolve().parents[2]
MLA = [sys.executable, "-m", "cli"]
WAIT = 20.0

FR = dict(code="FR-MJ", country="FR", name="Ministère de la Justice", timezone="Europe/Paris",
          languages="fr,en")
KE = dict(code="KE-ODPP", country="KE", name="ODPP Central Authority",
          timezone="Africa/Nairobi", languages="en,sw")
ROLES = ("officer", "supervisor", "liaison", "admin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class Instance:
    spec: dict[str, str]
    url: str
    tmp: Path
    port: int = field(default_factory=_free_port)
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    engine: Engine | None = None

    @property
    def code(self) -> str:
        return self.spec["code"]

    @property
    def prefix(self) -> str:
        return self.code[:2].lower()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "MLA_DATABASE_URL": self.url, "MLA_INSTANCE_AUTHORITY": self.code,
                "MLA_TRANSFER_POLL_SECONDS": "0.05", "MLA_TRANSFER_BACKOFF_BASE_SECONDS": "0.2",
                "MLA_TRANSFER_BACKOFF_CAP_SECONDS": "0.5", "MLA_TRANSFER_TIMEOUT_SECONDS": "5"}

    def cli(self, *args: str) -> str:
        result = subprocess.run([*MLA, *args], cwd=self.tmp, env=self.env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start_server(self, wait: bool = True) -> None:
        log = (self.tmp / f"{self.prefix}-serve.log").open("ab")
        self.server = subprocess.Popen([*MLA, "serve", "--port", str(self.port)], cwd=self.tmp,
                                       env=self.env, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_for_server()

    def wait_for_server(self) -> None:
        assert self.server is not None
        deadline = time.monotonic() + 90  # a busy 2-core machine starts slowly
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.server.poll() is None, (self.tmp / f"{self.prefix}-serve.log").read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)
            self.server = None

    def start_worker(self) -> None:
        log = (self.tmp / f"{self.prefix}-worker.log").open("ab")
        self.worker = subprocess.Popen([*MLA, "worker", "--poll", "1"], cwd=self.tmp,
                                       env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.terminate()
            self.worker.wait(timeout=10)
            self.worker = None

    def session(self) -> Any:
        assert self.engine is not None
        return db.session_factory(self.engine)()

    def call(self, username: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        if username:
            headers["Authorization"] = f"Bearer {self.tokens[username]}"
        return httpx.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kw)

    def fire(self, username: str, request_id: str, event: str, **body: Any) -> dict[str, Any]:
        response = self.call(username, "POST", f"/requests/{request_id}/transitions",
                             json={"event": event, **body})
        assert response.status_code == 200, response.text
        return response.json()

    def state(self, request_id: Any) -> str:
        with self.session() as s:
            return s.scalar(select(Request.state).where(Request.id == uuid.UUID(str(request_id))))

    def count(self, model: Any, *where: Any) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

    def audit_actions(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))

    def rejections(self) -> list[dict[str, Any]]:
        with self.session() as s:
            return [e.detail for e in s.scalars(select(AuditEvent).where(
                AuditEvent.action == "transfer.reject").order_by(AuditEvent.id))]


def _pg_url(request: pytest.FixtureRequest) -> str | None:
    """KE's database: PostgreSQL, or SQLite when it is not reachable here; under CI=true an
    unreachable PostgreSQL ends the run, as for every other database test (tests/conftest.py).
    """
    reason = _pg_unreachable_reason()
    if reason is None:
        return private_schema_url(request, "mla_xfer")
    if IN_CI:
        pytest.exit(f"PostgreSQL not reachable at {PG_URL} ({reason}); CI=true requires it "
                    "for KE's instance", returncode=1)
    return None


@pytest.fixture(scope="module")
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Instance, Instance]]:
    """FR-MJ and KE-ODPP, each serving, delivering, and knowing the other as a peer."""
    templates.load_all()
    tmp = tmp_path_factory.mktemp("transfer")
    fr = Instance(FR, f"sqlite:///{tmp / 'fr.db'}", tmp)
    ke = Instance(KE, _pg_url(request) or f"sqlite:///{tmp / 'ke.db'}", tmp)
    try:
        for inst in (fr, ke):
            db.upgrade(inst.url)
            inst.engine = db.make_engine(inst.url)
        # One through the command line, as an operator does it; the other in-process.
        fr.cli("transfer", "init", "--country", "FR", "--name", FR["name"], "--timezone",
               FR["timezone"], "--languages", FR["languages"])
        with db.unit_of_work(ke.engine) as s:
            transfer_peers.init_instance(s, code=KE["code"], country=KE["country"],
                                         name=KE["name"], timezone=KE["timezone"],
                                         languages=["en", "sw"])
        for inst in (fr, ke):
            with db.unit_of_work(inst.engine) as s:
                home = directory.authority_by_code(s, inst.code)
                for role in ROLES:
                    directory.add_user(s, home, username=f"{inst.prefix}.{role}",
                                       full_name=role.title(), role=role)
            inst.start_server(wait=False)
        for inst in (fr, ke):
            inst.wait_for_server()
        fr.cli("peers", "add", KE["code"], "--url", ke.base)
        out = ke.cli("peers", "add", FR["code"], "--url", fr.base)
        assert "peer FR-MJ" in out
        for inst in (fr, ke):
            with db.unit_of_work(inst.engine) as s:
                for user in s.scalars(select(User)):
                    inst.tokens[user.username] = security.issue_access_token(s, user)[0]
            inst.start_worker()
        yield fr, ke
        for inst in (fr, ke):
            check_against_schemas(inst)
    finally:
        for inst in (fr, ke):
            inst.stop_worker()
            inst.stop_server()
            if inst.engine is not None:
                inst.engine.dispose()


def _validate(name: str, instance: Any) -> Any:
    problems = transfer_schemas.problems(name, instance)
    assert not problems, (name, problems, instance)
    return instance


def check_against_schemas(inst: Instance) -> None:
    """The code and the published specification agree: every message this instance sent
    during the module's tests, every receipt it signed or received and every answer of its
    inbox, checked against the JSON Schemas (mla/transfer/schemas/v1/)."""
    with inst.session() as s:
        sent = list(s.scalars(select(OutboxMessage)))
        received = list(s.scalars(select(InboxMessage)))
    assert sent and received
    for message in sent:
        payload = _validate("message", json.loads(message.payload))
        assert payload["hash"] == "sha256-jcs"
        assert message.payload_sha256 == transfer_canonical.content_sha256(payload)
        if message.receipt is not None:
            claims = _validate("receipt", transfer_inbox.receipt_claims(message.receipt["jws"]))
            assert claims["payload_sha256"] == message.payload_sha256
    for message in received:
        claims = _validate("receipt", transfer_inbox.receipt_claims(message.receipt))
        assert jws.get_unverified_header(message.receipt)["typ"] == "mla-receipt+jws"
        _validate("inbox-response", {"message_id": claims["message_id"],
                                     "receipt": message.receipt})


def transmit(fr: Instance, *, kind: str = "mla.evidence", attachment: bytes | None = None,
             title: str = "Kestrel bank records") -> dict[str, Any]:
    """Files, approves and transmits a request from FR to KE; the request as FR has it."""
    body = {"kind": kind, "requested_authority": "KE-ODPP", "legal_basis": "untoc",
            "title": title, "language": "en", "data": templates.example(kind)}
    created = fr.call("fr.officer", "POST", "/requests", json=body)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    if attachment is not None:
        up = fr.call("fr.officer", "POST", f"/requests/{rid}/attachments",
                     files={"file": ("court-order.pdf", attachment, "application/pdf")})
        assert up.status_code == 201, up.text
    fr.fire("fr.officer", rid, "submit")
    fr.fire("fr.supervisor", rid, "approve")
    fr.fire("fr.officer", rid, "transmit")
    return fr.call("fr.officer", "GET", f"/requests/{rid}").json()


def received(ke: Instance, reference: str) -> dict[str, Any]:
    """KE's copy of FR's request `reference`, once it arrived."""
    def find() -> Any:
        with ke.session() as s:
            return s.scalar(select(Request.id).where(Request.counterpart_reference == reference))
    rid = wait_for(f"{reference} at KE", find)
    return ke.call("ke.officer", "GET", f"/requests/{rid}").json()


def delivered(inst: Instance, request_id: str, count: int) -> list[OutboxMessage]:
    def check() -> list[OutboxMessage] | None:
        with inst.session() as s:
            rows = list(s.scalars(select(OutboxMessage).where(
                OutboxMessage.request_id == uuid.UUID(request_id)).order_by(OutboxMessage.id)))
        return rows if len(rows) >= count and all(r.status == "delivered" for r in rows) \
            else None
    return wait_for(f"{count} messages of {request_id} delivered", check)


# --- the exchange ---------------------------------------------------------------------------


def test_jwks_publishes_token_and_transfer_keys(pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    # The transfer JWKS: transfer keys only, no private member, one encryption key.
    answer = httpx.get(f"{ke.base}/transfer/jwks.json")
    assert answer.headers["content-type"].startswith("application/jwk-set+json")
    keys = answer.json()["keys"]
    assert {(k["use"], k["alg"], k["kty"]) for k in keys} == {("sig", "ES256", "EC"),
                                                              ("enc", "RSA-OAEP-256", "RSA")}
    assert all("d" not in k and "p" not in k and "purpose" not in k for k in keys)
    # The shared JWKS still marks them for peers of the first release.
    shared = httpx.get(f"{ke.base}/.well-known/jwks.json").json()["keys"]
    assert all({"kid", "use", "alg"} <= set(k) for k in shared)
    assert [k["kid"] for k in shared if k.get("purpose") == "transfer"] == \
        [k["kid"] for k in keys]
    identity = httpx.get(f"{fr.base}/transfer/identity").json()
    assert _validate("identity", identity) == identity
    assert identity == {
        "code": "FR-MJ", "country": "FR", "name": FR["name"], "timezone": "Europe/Paris",
        "languages": ["fr", "en"],
        "protocol": {"versions": [1], "hash": ["sha256-jcs"], "jwks": "/transfer/jwks.json",
                     "inbox": "/transfer/inbox", "schemas": "/transfer/schemas/v1/"}}
    assert "KE-ODPP" in fr.cli("peers", "list")


def test_request_info_round_trip_and_execution(pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    # Larger than python-jose's default 250 KB JWE cap, once inside the envelope.
    evidence = b"%PDF-1.4 court order " + os.urandom(400_000)
    sent = transmit(fr, attachment=evidence)
    assert sent["state"] == "transmitted"
    copy = received(ke, sent["reference"])
    assert copy["state"] == "received" and copy["kind"] == "mla.evidence"
    assert copy["requesting"]["code"] == "FR-MJ"
    assert copy["data"] == templates.example("mla.evidence")
    files = ke.call("ke.officer", "GET", f"/requests/{copy['id']}/attachments").json()
    by_name = {f["filename"]: f for f in files}
    assert by_name["court-order.pdf"]["sha256"] == hashlib.sha256(evidence).hexdigest()
    # The sender's rendition travels too, as the document that was sent.
    assert any(name.endswith(".html") for name in by_name)
    # The receipt told FR the reference KE gave the case.
    [message] = delivered(fr, sent["id"], 1)
    assert message.receipt is not None and message.receipt["request_reference"] == \
        copy["reference"]
    assert fr.call("fr.officer", "GET", f"/requests/{sent['id']}").json()[
        "counterpart_reference"] == copy["reference"]

    ke.fire("ke.officer", copy["id"], "acknowledge")
    wait_for("FR acknowledged", lambda: fr.state(sent["id"]) == "acknowledged")
    ke.fire("ke.officer", copy["id"], "request_info", reason="Which accounts exactly?")
    wait_for("FR info_requested", lambda: fr.state(sent["id"]) == "info_requested")
    history = fr.call("fr.officer", "GET", f"/requests/{sent['id']}/history").json()
    assert history[-1]["event"] == "request_info"
    assert history[-1]["reason"] == "Which accounts exactly?"
    assert history[-1]["actor"] is None  # the system, on KE's word
    fr.fire("fr.officer", sent["id"], "provide_info", reason="Accounts 1 and 2")
    wait_for("KE back to assessing", lambda: ke.state(copy["id"]) == "assessing")
    ke.fire("ke.supervisor", copy["id"], "accept")
    wait_for("FR in execution", lambda: fr.state(sent["id"]) == "in_execution")
    ke.fire("ke.officer", copy["id"], "start_execution")
    ke.fire("ke.officer", copy["id"], "execute")
    wait_for("FR executed", lambda: fr.state(sent["id"]) == "executed")
    ke.fire("ke.officer", copy["id"], "send_results")
    delivered(ke, copy["id"], 6)

    # The requesting side's liaison officer sees where it stands (status view).
    status = fr.call("fr.liaison", "GET", f"/requests/{sent['id']}").json()
    assert status["state"] == "executed" and "data" not in status
    # What does not fit the copy's state is recorded, not applied.
    with ke.session() as s:
        outcomes = [m.receipt["outcome"] for m in s.scalars(
            select(OutboxMessage).where(OutboxMessage.request_id == uuid.UUID(copy["id"]))
            .order_by(OutboxMessage.id))]
    assert outcomes == ["applied", "applied", "applied", "ignored", "applied", "ignored"]
    # Everything sent and received is in both audit chains, which hold.
    fr_actions, ke_actions = fr.audit_actions(), ke.audit_actions()
    assert fr_actions.count("transfer.send") >= 2 and "transfer.delivered" in fr_actions
    assert {"transfer.receive.status", "transfer.status_ignored"} <= set(fr_actions)
    assert {"transfer.receive.request", "transfer.receive.status", "transfer.send",
            "transfer.delivered"} <= set(ke_actions)
    for inst in (fr, ke):
        with inst.session() as s:
            assert audit.verify(s).ok


def test_refusal_travels_with_its_grounds(pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    sent = transmit(fr, title="Refused one")
    copy = received(ke, sent["reference"])
    ke.fire("ke.supervisor", copy["id"], "refuse", grounds=["essential_interests"],
            reason="ordre public")
    wait_for("FR refused", lambda: fr.state(sent["id"]) == "refused")
    last = fr.call("fr.officer", "GET", f"/requests/{sent['id']}/history").json()[-1]
    assert last["event"] == "refuse" and last["reason"] == "ordre public"
    assert last["data"]["grounds"] == ["essential_interests"]


def test_refusal_while_our_answer_is_awaited_reaches_us(pair: tuple[Instance, Instance]
                                                        ) -> None:
    fr, ke = pair
    sent = transmit(fr, title="Refused while asking")
    copy = received(ke, sent["reference"])
    ke.fire("ke.officer", copy["id"], "acknowledge")
    ke.fire("ke.officer", copy["id"], "request_info", reason="Which accounts exactly?")
    wait_for("FR info_requested", lambda: fr.state(sent["id"]) == "info_requested")
    ke.fire("ke.supervisor", copy["id"], "refuse", grounds=["not_in_accordance"],
            reason="No answer in three months")
    wait_for("FR refused", lambda: fr.state(sent["id"]) == "refused")


def test_withdrawal_travels_to_the_requested_side(pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    sent = transmit(fr, title="Withdrawn one")
    copy = received(ke, sent["reference"])
    ke.fire("ke.officer", copy["id"], "acknowledge")
    wait_for("FR acknowledged", lambda: fr.state(sent["id"]) == "acknowledged")
    fr.fire("fr.officer", sent["id"], "withdraw", reason="case closed at home")
    wait_for("KE withdrawn", lambda: ke.state(copy["id"]) == "withdrawn")
    last = ke.call("ke.officer", "GET", f"/requests/{copy['id']}/history").json()[-1]
    assert last["event"] == "withdrawn_by_requester" and last["reason"] == "case closed at home"


def test_backoff_grows_with_jitter_and_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLA_TRANSFER_BACKOFF_BASE_SECONDS", "2")
    monkeypatch.setenv("MLA_TRANSFER_BACKOFF_CAP_SECONDS", "60")
    for attempts, top in ((1, 2), (2, 4), (3, 8), (5, 32), (9, 60), (30, 60)):
        delays = {transfer_delivery.backoff(attempts) for _ in range(50)}
        assert all(top / 2 <= d <= top for d in delays) and len(delays) > 1


def test_extradition_steps_of_the_requested_side_reach_the_requesting_side(
        pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    sent = transmit(fr, kind="extradition.provisional_arrest", title="Provisional arrest")
    assert sent["state"] == "provisional_arrest_requested"
    copy = received(ke, sent["reference"])
    assert copy["state"] == "provisional_arrest_requested"
    # Urgent: KE's 24/7 point is paged by KE's instance, which knows its rota, on receipt;
    # FR's instance, which does not, pages nobody.
    assert ke.count(Page, Page.request_id == uuid.UUID(copy["id"])) == 1
    assert fr.count(Page, Page.request_id == uuid.UUID(sent["id"])) == 0
    ke.fire("ke.officer", copy["id"], "arrest")
    wait_for("FR person_arrested", lambda: fr.state(sent["id"]) == "person_arrested")


# --- delivery guarantees ----------------------------------------------------------------------


def test_receiver_down_for_a_while_then_up_gets_it_once(pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    ke.stop_server()
    try:
        sent = transmit(fr, title="Sent while KE is down")

        def retried() -> bool:
            with fr.session() as s:
                message = s.scalar(select(OutboxMessage).where(
                    OutboxMessage.request_id == uuid.UUID(sent["id"])))
            return message is not None and message.attempts >= 3
        wait_for("retries", retried)
        with fr.session() as s:
            message = s.scalar(select(OutboxMessage).where(
                OutboxMessage.request_id == uuid.UUID(sent["id"])))
            assert message.status == "pending" and "ConnectError" in (message.last_error or "")
        # The officer and the liaison officer can see it has not arrived yet; why, the
        # officer only (an error may quote the other side's answer: case text).
        for who in ("fr.officer", "fr.liaison"):
            [waiting] = fr.call(who, "GET", f"/requests/{sent['id']}/transfers").json()
            assert (waiting["direction"], waiting["status"]) == ("sent", "pending")
            assert waiting["attempts"] >= 3 and waiting["next_attempt_at"]
            if who == "fr.officer":
                assert "ConnectError" in waiting["last_error"]
            else:
                assert waiting["last_error"] is None
    finally:
        ke.start_server()
    copy = received(ke, sent["reference"])
    [message] = delivered(fr, sent["id"], 1)
    assert message.attempts >= 4
    [arrived] = fr.call("fr.officer", "GET", f"/requests/{sent['id']}/transfers").json()
    assert arrived["status"] == "delivered" and arrived["delivered_at"] is not None
    assert arrived["counterpart"] == "KE-ODPP" and arrived["next_attempt_at"] is None
    [incoming] = ke.call("ke.liaison", "GET", f"/requests/{copy['id']}/transfers").json()
    assert (incoming["direction"], incoming["kind"], incoming["status"]) == \
        ("received", "request", "accepted")
    assert incoming["message_id"] == arrived["message_id"]
    # The console's request page says the same (its session cookie holds the API token).
    console = httpx.get(f"{fr.base}/console/requests/{sent['id']}",
                        cookies={"mla_console": fr.tokens["fr.officer"]}, timeout=30).text
    section = console[console.index('id="transfers-h"'):]
    assert "Sent: the request" in section and "delivered" in section and "KE-ODPP" in section
    # Retries go out sealed again, with a fresh sending time: an outage longer than the
    # replay window does not strand the message.
    assert message.sealed_at > message.created_at
    # Retries still in flight at the outage's end change nothing more at KE: one copy, read
    # again after they had time to land, as it was when it arrived.
    time.sleep(0.5)
    assert ke.count(Request, Request.counterpart_reference == sent["reference"]) == 1
    again = ke.call("ke.officer", "GET", f"/requests/{copy['id']}").json()
    assert (again["state"], again["version"]) == ("received", copy["version"])


def _craft(fr: Instance, ke: Instance, *, body: dict[str, Any] | None = None,
           sent_at: datetime | None = None, sender: str = "FR-MJ", receiver: str = "KE-ODPP",
           sign_with: Any = None, sign_kid: str | None = None, encrypt_to: Any = None,
           encrypt_kid: str | None = None, message_id: str | None = None) -> tuple[str, str]:
    """(envelope, message id) as FR's instance would seal it, unless told otherwise."""
    message_id = message_id or str(uuid.uuid4())
    with fr.session() as s:
        sig = transfer_keys.current_key(s, "sig")
        key = sign_with or transfer_keys.private_key(sig)
        kid = sign_kid or sig.kid
    with ke.session() as s:
        enc = transfer_keys.current_key(s, "enc")
        target = encrypt_to or transfer_keys.public_key(enc.public_jwk, transfer_keys.ENC_ALG)
        target_kid = encrypt_kid or enc.kid
    reference = f"FR-MJ-CRAFTED-{message_id[:8]}"
    payload = {"v": 1, "message_id": message_id, "type": "request", "sender": sender,
               "receiver": receiver, "thread": message_id, "hash": "sha256-jcs",
               "sent_at": transfer_canonical.iso(sent_at or datetime.now(UTC)),
               "body": body or {"reference": reference, "kind": "mla.evidence",
                                "legal_basis": "untoc", "template_version":
                                templates.latest_version("mla.evidence"),
                                "title": "Crafted", "language": "en",
                                "data": templates.example("mla.evidence"), "texts": {},
                                "attachments": []}}
    signed = jws.sign(transfer_canonical.canonical(payload).encode(), key,
                      headers={"kid": kid, "typ": transfer_envelope.ENVELOPE_TYPE},
                      algorithm="ES256")
    envelope = jwe.encrypt(signed.encode(), target, algorithm="RSA-OAEP-256",
                           encryption="A256GCM", kid=target_kid).decode()
    return envelope, reference


def _post(ke: Instance, envelope: str, as_json: bool = False) -> httpx.Response:
    """The inbox's answer, which the specification's schemas describe."""
    if as_json:
        answer = httpx.post(f"{ke.base}/transfer/inbox", json={"envelope": envelope},
                            timeout=30)
    else:
        answer = httpx.post(f"{ke.base}/transfer/inbox", content=envelope,
                            headers={"Content-Type": "application/jose"}, timeout=30)
    _validate("inbox-response" if answer.status_code == 200 else "problem", answer.json())
    return answer


def test_the_same_message_twice_makes_one_request(pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    envelope, reference = _craft(fr, ke)
    # Several copies at once, then once more later: one request, one receipt.
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: _post(ke, envelope), range(4)))
    answers.append(_post(ke, envelope, as_json=True))
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert len({a.json()["receipt"] for a in answers}) == 1
    assert ke.count(Request, Request.counterpart_reference == reference) == 1
    claims = transfer_inbox.receipt_claims(answers[0].json()["receipt"])
    assert claims["outcome"] == "accepted" and claims["sender"] == "FR-MJ"

    # And a real delivery repeated from FR's outbox answers with the receipt FR holds.
    sent = transmit(fr, title="Delivered twice")
    [message] = delivered(fr, sent["id"], 1)
    again = _post(ke, message.envelope)
    assert again.status_code == 200 and again.json()["receipt"] == message.receipt["jws"]
    assert ke.count(Request, Request.counterpart_reference == sent["reference"]) == 1


def _assert_rejected(ke: Instance, response: httpx.Response, status: int, reason: str,
                     before: tuple[int, int]) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _validate("problem", response.json())["reason"] == reason
    assert (ke.count(Request), ke.count(InboxMessage)) == before
    assert ke.rejections()[-1]["reason"] == reason


def test_tampered_wrong_key_expired_and_strangers_are_rejected_and_recorded(
        pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    before = (ke.count(Request), ke.count(InboxMessage))

    envelope, _ = _craft(fr, ke)
    head, key, iv, ciphertext, tag = envelope.split(".")
    flipped = ciphertext[:10] + ("A" if ciphertext[10] != "A" else "B") + ciphertext[11:]
    tampered = ".".join([head, key, iv, flipped, tag])
    _assert_rejected(ke, _post(ke, tampered), 400, "undecryptable", before)

    impostor = ec.generate_private_key(ec.SECP256R1())
    with fr.session() as s:
        fr_kid = transfer_keys.current_key(s, "sig").kid
    forged, _ = _craft(fr, ke, sign_with=impostor, sign_kid=fr_kid)
    _assert_rejected(ke, _post(ke, forged), 401, "bad_signature", before)

    with ke.session() as s:
        ke_kid = transfer_keys.current_key(s, "enc").kid
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    wrong_enc, _ = _craft(fr, ke, encrypt_to=other, encrypt_kid=ke_kid)
    _assert_rejected(ke, _post(ke, wrong_enc), 400, "undecryptable", before)
    unknown_enc, _ = _craft(fr, ke, encrypt_to=other, encrypt_kid="enc-nobody")
    _assert_rejected(ke, _post(ke, unknown_enc), 400, "unknown_key", before)

    stale, _ = _craft(fr, ke, sent_at=datetime.now(UTC) - timedelta(minutes=10))
    _assert_rejected(ke, _post(ke, stale), 400, "expired", before)
    future, _ = _craft(fr, ke, sent_at=datetime.now(UTC) + timedelta(minutes=10))
    _assert_rejected(ke, _post(ke, future), 400, "expired", before)

    stranger, _ = _craft(fr, ke, sender="US-OIA")
    _assert_rejected(ke, _post(ke, stranger), 401, "unknown_sender", before)
    misdirected, _ = _craft(fr, ke, receiver="US-OIA")
    _assert_rejected(ke, _post(ke, misdirected), 400, "wrong_receiver", before)

    _assert_rejected(ke, _post(ke, "not an envelope"), 400, "malformed", before)
    bad = _craft(fr, ke, body={"reference": "X", "kind": "mla.nothing"})[0]
    _assert_rejected(ke, _post(ke, bad), 422, "invalid_content", before)

    # A message id seen before with other content is refused too.
    envelope, _ = _craft(fr, ke)
    ok = _post(ke, envelope)
    assert ok.status_code == 200
    mid = transfer_inbox.receipt_claims(ok.json()["receipt"])["message_id"]
    before = (ke.count(Request), ke.count(InboxMessage))
    reused, _ = _craft(fr, ke, message_id=mid,
                       body={"reference": "other", "kind": "mla.evidence",
                             "legal_basis": "untoc", "title": "Other", "language": "en",
                             "template_version": templates.latest_version("mla.evidence"),
                             "data": templates.example("mla.evidence")})
    _assert_rejected(ke, _post(ke, reused), 409, "message_id_reused", before)

    reasons = {r["reason"] for r in ke.rejections()}
    assert {"undecryptable", "bad_signature", "unknown_key", "expired", "unknown_sender",
            "wrong_receiver", "malformed", "invalid_content", "message_id_reused"} <= reasons
    with ke.session() as s:
        assert audit.verify(s).ok
        home = directory.authority_by_code(s, "KE-ODPP")
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "transfer.reject", AuditEvent.authority_id == home.id)) >= 10


def test_key_rotation_keeps_messages_in_flight(pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    # Sealed with today's keys, still on its way while both sides rotate.
    in_flight, reference = _craft(fr, ke)
    with ke.session() as s, s.begin():
        old_enc = transfer_keys.current_key(s, "enc").kid
    with fr.session() as s, s.begin():
        old_sig = transfer_keys.current_key(s, "sig").kid
    assert "new enc key" in ke.cli("transfer", "keys", "rotate", "--use", "enc")
    with fr.session() as s, s.begin():
        transfer_keys.rotate_key(s, "sig")
    assert _post(ke, in_flight).status_code == 200
    assert ke.count(Request, Request.counterpart_reference == reference) == 1

    # New messages: signed with FR's new key (KE fetches it on first sight), sealed to the
    # key FR knows for KE until it refreshes, then to KE's new one.
    sent = transmit(fr, title="After rotation")
    received(ke, sent["reference"])
    assert "keys updated" in fr.cli("peers", "refresh", "KE-ODPP")
    sent = transmit(fr, title="After refresh")
    received(ke, sent["reference"])
    with fr.session() as s:
        message = s.scalar(select(OutboxMessage).where(
            OutboxMessage.request_id == uuid.UUID(sent["id"])))
    assert jwe.get_unverified_header(message.envelope)["kid"] != old_enc

    # Retired keys stop working: the old encryption key no longer opens, the old signing key
    # no longer verifies once KE has FR's current key list.
    ke.cli("transfer", "keys", "retire", old_enc)
    with fr.session() as s, s.begin():
        transfer_keys.retire_key(s, old_sig)
    before = (ke.count(Request), ke.count(InboxMessage))
    with ke.session() as s:
        old = s.get(TransferKey, old_enc)
        stale_target = transfer_keys.public_key(old.public_jwk, transfer_keys.ENC_ALG)
    stale, _ = _craft(fr, ke, encrypt_to=stale_target, encrypt_kid=old_enc)
    _assert_rejected(ke, _post(ke, stale), 400, "unknown_key", before)
    with ke.session() as s, s.begin():
        assert transfer_peers.refresh_peer(s, transfer_peers.peer_by_code(s, "FR-MJ"))
    with fr.session() as s:
        retired = transfer_keys.private_key(s.get(TransferKey, old_sig))
    old_signed, _ = _craft(fr, ke, sign_with=retired, sign_kid=old_sig)
    _assert_rejected(ke, _post(ke, old_signed), 401, "unknown_signing_key", before)


def test_status_sync_map_names_real_events() -> None:
    counterpart = {"mla_requested": "mla_requesting", "mla_requesting": "mla_requested",
                   "extradition": "extradition"}
    for source, events in transfer_outbox.sync_map().items():
        known = set(workflows.get(source).events())
        applied = set(workflows.get(counterpart[source]).events())
        for event, targets in events.items():
            assert event in known, (source, event)
            assert set(targets) <= applied, (source, event, targets)


def test_inbox_without_instance_authority_answers_404(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    url = f"sqlite:///{tmp_path / 'solo.db'}"
    db.upgrade(url)
    env = os.environ.pop("MLA_INSTANCE_AUTHORITY", None)
    try:
        with TestClient(create_app(url)) as client:
            response = client.post("/transfer/inbox", content="a.b.c.d.e")
            assert response.status_code == 404 and response.json()["reason"] == "not_enabled"
            assert client.get("/transfer/identity").status_code == 404
            keys = client.get("/.well-known/jwks.json").json()["keys"]
            assert all(k.get("purpose") != "transfer" for k in keys)
    finally:
        if env is not None:
            os.environ["MLA_INSTANCE_AUTHORITY"] = env
    engine = db.make_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Authority)) == 0
    engine.dispose()


def test_attachment_hashes_are_checked(pair: tuple[Instance, Instance]) -> None:
    fr, ke = pair
    content = b"scan"
    body = {"reference": "FR-MJ-HASH-1", "kind": "mla.evidence", "legal_basis": "untoc",
            "template_version": templates.latest_version("mla.evidence"), "title": "Hash",
            "language": "en", "data": templates.example("mla.evidence"), "texts": {},
            "attachments": [{"filename": "scan.pdf", "content_type": "application/pdf",
                             "size": 4, "sha256": hashlib.sha256(b"other").hexdigest(),
                             "content": base64.b64encode(content).decode()}]}
    before = (ke.count(Request), ke.count(InboxMessage))
    envelope, _ = _craft(fr, ke, body=body)
    response = _post(ke, envelope)
    _assert_rejected(ke, response, 422, "invalid_content", before)
    assert any(e["field"] == "body.attachments.0.sha256" for e in response.json()["errors"])
    assert json.dumps(ke.rejections()[-1]).count("sha256") >= 1
