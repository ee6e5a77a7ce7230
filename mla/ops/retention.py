"""Retention of personal data in criminal matters (Directive (EU) 2016/680 art. 5, or the
national law configured in MLA_RETENTION_RULES): periods per kind and legal basis counted
from the request's closure (mla/data/retention.yaml), legal holds, what would be erased and
when (`report`), the erasure itself (`erase_due`, run by `mla worker`), and the per-person
access report for a data subject's request (art. 14).

Erasure removes the content: the form data (which names the persons concerned), the texts in
other languages, the attachments, free text on history events, deadlines, pages and alerts,
and the signed payload of messages already delivered to peers. It keeps the status skeleton
(reference, kind, legal basis, parties, state, the events with their times, deadlines, the
grounds of a refusal, which the statistics count) and the audit trail. Each erasure is one
transaction with its audit entry.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import and_, delete, exists, false, func, or_, select, update
from sqlalchemy.orm import Session

import workflows
from mla import audit, settings
from mla.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mla.models import (
    Alert,
    Attachment,
    Deadline,
    HistoryEvent,
    LegalHold,
    OutboxMessage,
    Page,
    Request,
    RequestText,
    RetentionErasure,
    User,
)

ERASED = "(erased)"
# History event data kept after erasure: codes the statistics count, no free text.
KEPT_EVENT_DATA = ("grounds",)


@dataclass(frozen=True)
class Rule:
    id: str
    kinds: tuple[str, ...]
    legal_bases: tuple[str, ...]
    period: timedelta
    citation: str

    def applies(self, kind: str, legal_basis: str) -> bool:
        return any(fnmatch(kind, k) for k in self.kinds) and (
            "*" in self.legal_bases or legal_basis in self.legal_bases)


@dataclass(frozen=True)
class Rules:
    law: str
    rules: tuple[Rule, ...]

    def for_request(self, kind: str, legal_basis: str) -> Rule | None:
        return next((r for r in self.rules if r.applies(kind, legal_basis)), None)


def rules() -> Rules:
    return _load(settings.get().retention_rules)


@cache
def _load(path: str | None) -> Rules:
    file = Path(path) if path else Path(__file__).parents[1] / "data" / "retention.yaml"
    where = f"retention rules {file}"
    try:
        raw = yaml.safe_load(file.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{where}: {exc}", [FieldProblem("MLA_RETENTION_RULES", str(exc))]
                           ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
        raise InvalidInput(f"{where}: needs `law` and a list of `rules`", [])
    found = []
    for i, item in enumerate(raw["rules"]):
        ok = (isinstance(item, dict) and isinstance(item.get("id"), str)
              and isinstance(item.get("kinds"), list) and item["kinds"]
              and isinstance(item.get("citation"), str)
              and all(isinstance(item.get(u, 0), int) and item.get(u, 0) >= 0
                      for u in ("years", "days"))
              and (item.get("years") or item.get("days")))
        if not ok:
            raise InvalidInput(f"{where}: rule {i + 1} needs id, kinds, citation and a "
                               "positive `years` and/or `days`", [])
        found.append(Rule(item["id"], tuple(item["kinds"]),
                          tuple(item.get("legal_bases") or ["*"]),
                          timedelta(days=365 * item.get("years", 0) + item.get("days", 0)),
                          item["citation"]))
    return Rules(str(raw.get("law", "")), tuple(found))


def _closed_condition() -> Any:
    finals = [and_(Request.workflow == name, Request.state.in_(workflows.get(name)
                                                                .final_states()))
              for name in workflows.names()]
    return or_(*finals) if finals else false()


@dataclass(frozen=True)
class Due:
    request_id: uuid.UUID
    reference: str
    kind: str
    legal_basis: str
    state: str
    closed_at: datetime
    rule: Rule | None
    erase_at: datetime | None  # None: no rule applies, kept
    held: bool


def report(session: Session) -> list[Due]:
    """Every closed request whose content is not erased yet, with the rule that applies and
    when it falls due (held ones included, marked), soonest first."""
    closed_at = (select(func.max(HistoryEvent.at))
                 .where(HistoryEvent.request_id == Request.id,
                        HistoryEvent.to_state == Request.state)
                 .correlate(Request).scalar_subquery())
    held = exists().where(LegalHold.request_id == Request.id, LegalHold.lifted_at.is_(None))
    rows = session.execute(
        select(Request.id, Request.reference, Request.kind, Request.legal_basis,
               Request.state, closed_at, held, Request.updated_at)
        .where(_closed_condition(),
               ~exists().where(RetentionErasure.request_id == Request.id)))
    table = rules()
    out = []
    for rid, reference, kind, basis, state, closed, on_hold, updated in rows:
        closed = _aware(closed) or updated
        rule = table.for_request(kind, basis)
        out.append(Due(rid, reference, kind, basis, state, closed, rule,
                       closed + rule.period if rule else None, bool(on_hold)))
    return sorted(out, key=lambda d: (d.erase_at is None, d.erase_at or d.closed_at,
                                      d.reference))


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's max() of a timestamp
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value  # type: ignore[no-any-return]


def erase_due(session: Session, now: datetime, *, limit: int = 100) -> list[str]:
    """Erases the content of every request due and not on hold, each in its own
    transaction; the references erased. `session` has no transaction of the caller's."""
    done: list[str] = []
    todo = [d for d in report(session)
            if d.erase_at is not None and d.erase_at <= now and not d.held]
    session.commit()  # ends the read; each erasure is its own transaction
    for due in todo[:limit]:
        with session.begin():
            if erase(session, due, now):
                done.append(due.reference)
    return done


def erase(session: Session, due: Due, now: datetime) -> bool:
    """One request's content; False if it changed meanwhile (held, reopened, erased)."""
    assert due.rule is not None
    # Locked so that a transition or a hold in flight waits (or makes this one wait).
    request = session.scalar(select(Request).where(Request.id == due.request_id)
                             .with_for_update(of=Request))
    if (request is None or request.state != due.state
            or session.get(RetentionErasure, due.request_id) is not None
            or session.scalar(select(exists().where(LegalHold.request_id == request.id,
                                                    LegalHold.lifted_at.is_(None))))):
        return False
    counts = {
        "texts": session.execute(delete(RequestText).where(
            RequestText.request_id == request.id)).rowcount,  # type: ignore[attr-defined]
        "attachments": session.execute(delete(Attachment).where(
            Attachment.request_id == request.id)).rowcount,  # type: ignore[attr-defined]
    }
    request.data = {}
    request.title = ERASED
    for event in session.scalars(select(HistoryEvent).where(
            HistoryEvent.request_id == request.id)):
        event.reason = None
        if event.data:
            kept = {k: v for k, v in event.data.items() if k in KEPT_EVENT_DATA}
            event.data = kept or None
    session.execute(update(Deadline).where(Deadline.request_id == request.id)
                    .values(extension_reason=None))
    session.execute(update(Page).where(Page.request_id == request.id)
                    .values(reason=ERASED, note=None))
    session.execute(update(Alert).where(Alert.request_id == request.id).values(message=ERASED))
    # Delivered messages keep their hash and receipt; still pending ones stay whole until
    # the peer has them.
    counts["messages"] = session.execute(
        update(OutboxMessage).where(OutboxMessage.request_id == request.id,
                                    OutboxMessage.status != "pending")
        .values(payload="{}", envelope="")).rowcount  # type: ignore[attr-defined]
    session.add(RetentionErasure(request_id=request.id, rule=due.rule.id,
                                 closed_at=due.closed_at, erased_at=now))
    audit.record(session, "retention.erase", object_type="request", object_id=str(request.id),
                 authority_id=request.requesting_authority_id,
                 detail={"reference": request.reference, "rule": due.rule.id,
                         "citation": due.rule.citation,
                         "closed_at": due.closed_at.isoformat(), **counts})
    session.flush()
    return True


def _request_by_reference(session: Session, reference: str) -> Request:
    request = session.scalar(select(Request).where(Request.reference == reference))
    if request is None:
        raise NotFound(f"no request {reference}")
    return request


def hold(session: Session, reference: str, reason: str, now: datetime,
         actor: User | None = None) -> LegalHold:
    """Keeps the request's content past its period until `release`. The caller commits."""
    if not reason.strip():
        raise InvalidInput("a legal hold needs its reason", [FieldProblem("reason", "required")])
    request = _request_by_reference(session, reference)
    if session.get(RetentionErasure, request.id) is not None:
        raise Conflict(f"the content of {reference} was erased already")
    placed = LegalHold(request_id=request.id, reason=reason.strip(), placed_at=now,
                       placed_by_id=actor.id if actor else None)
    session.add(placed)
    audit.record(session, "retention.hold", actor=actor, object_type="request",
                 object_id=str(request.id), authority_id=request.requesting_authority_id,
                 detail={"reference": reference})
    session.flush()
    return placed


def release(session: Session, reference: str, now: datetime,
            actor: User | None = None) -> int:
    request = _request_by_reference(session, reference)
    lifted = session.execute(update(LegalHold).where(
        LegalHold.request_id == request.id, LegalHold.lifted_at.is_(None))
        .values(lifted_at=now)).rowcount  # type: ignore[attr-defined]
    if lifted:
        audit.record(session, "retention.release", actor=actor, object_type="request",
                     object_id=str(request.id), authority_id=request.requesting_authority_id,
                     detail={"reference": reference})
    return int(lifted)


# Latin letters with a stroke or ligatures, which Unicode does not decompose into a base
# letter and a mark (Polish ł, Danish ø, Croatian đ, Turkish dotless i...).
_UNDECOMPOSED = str.maketrans({"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d",
                               "\u0131": "i", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
                               "þ": "th", "Þ": "th", "ħ": "h", "Ħ": "h"})


def _fold(value: str) -> str:
    """Case- and accent-blind: `Müller` finds `MULLER` and `müller`, `Łukasz` `lukasz`."""
    decomposed = unicodedata.normalize("NFKD", value.translate(_UNDECOMPOSED))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _paths(value: Any, needle: str, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, needle, f"{path}.{k}"
                                                            if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths(v, needle, f"{path}.{i}")]
    return [path or "."] if isinstance(value, str) and needle in _fold(value) else []


def person_report(session: Session, name: str, actor: User | None = None
                  ) -> list[dict[str, Any]]:
    """Every request whose content names `name` (form data, title, texts in other
    languages; case- and accent-blind), with where: for a data subject's request for access
    (Directive (EU) 2016/680 art. 14). Requests already erased no longer name anyone. The
    search is audited (without the name: the trail is kept longer than the content)."""
    needle = _fold(name.strip())
    if len(needle) < 3:
        raise InvalidInput("a name of 3 characters or more", [FieldProblem("name", "too short")])
    texts: dict[uuid.UUID, list[RequestText]] = {}
    for text in session.scalars(select(RequestText)):
        texts.setdefault(text.request_id, []).append(text)
    found = []
    for request in session.scalars(select(Request).order_by(Request.created_at)):
        where = _paths(request.data, needle, "data")
        if needle in _fold(request.title):
            where.insert(0, "title")
        for text in texts.get(request.id, []):
            where += _paths(text.data, needle, f"texts.{text.language}")
        if where:
            found.append({"reference": request.reference, "kind": request.kind,
                          "state": request.state,
                          "requesting": request.requesting_authority.code,
                          "requested": request.requested_authority.code,
                          "created_at": request.created_at.isoformat(), "fields": where})
    audit.record(session, "retention.person_report", actor=actor, object_type="person",
                 detail={"requests": len(found)})
    return found


def dumps(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2, ensure_ascii=False)
