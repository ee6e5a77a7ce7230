"""SQLAlchemy models. The schema is created only by Alembic (migrations/); these mirror it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from mla.clock import utcnow

# Stable constraint names keep Alembic diffs identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores instants in UTC and always hands back aware datetimes (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; instants must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# validator: a judge or prosecutor who validates orders issued by a non-judicial authority
# (EIO Directive art. 2(c)(ii), e-Evidence Regulation art. 4) before they are transmitted.
ROLES = ("officer", "supervisor", "liaison", "contact_point", "admin", "validator")


class Authority(Base):
    """A central authority (or other competent authority) that sends or receives requests."""

    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # Languages in which this authority accepts requests (ISO 639-1).
    languages: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The Matrix room of its 24/7 desk, where the bot posts every page (mla/oncall/matrix.py).
    matrix_room_id: Mapped[str | None] = mapped_column(String(255))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), index=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Tokens carry it (`ver`); "log out everywhere" raises it, ending every login at once.
    sessions_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Their Matrix account (@name:server): a reply or reaction from it to a page acknowledges
    # as this user (mla/oncall/matrix.py).
    matrix_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The language the console and the pager's messages speak to this user (one of
    # mla.i18n.LANGUAGES); None: the browser's Accept-Language, else the authority's first.
    language: Mapped[str | None] = mapped_column(String(8))

    authority: Mapped[Authority] = relationship(lazy="joined")


class ReferenceCounter(Base):
    """Last number handed out per authority and year, for human-readable references."""

    __tablename__ = "reference_counters"

    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


# Request columns the statistics read besides the parties and the state.
STATS_INCLUDE = ("id", "kind", "workflow", "legal_basis", "created_at", "transmitted_at",
                 "acknowledged_at", "executed_at")


class Request(Base):
    """One MLA or extradition request as held by this instance, with its lifecycle state."""

    __tablename__ = "requests"
    __table_args__ = (
        # On PostgreSQL each also carries what the statistics read (mla/stats/report.py), so a
        # party's figures come from index-only scans, not from the table.
        Index("ix_requests_requesting_state", "requesting_authority_id", "state",
              postgresql_include=["requested_authority_id", *STATS_INCLUDE]),
        Index("ix_requests_requested_state", "requested_authority_id", "state",
              postgresql_include=["requesting_authority_id", *STATS_INCLUDE]),
        # Instance-wide statistics: the stages that ended outside the sealed months
        # (mla/stats/seal.py), a range of each milestone.
        *(Index(f"ix_requests_{column}", column,
                postgresql_where=text(f"{column} IS NOT NULL"),
                sqlite_where=text(f"{column} IS NOT NULL"))
          for column in ("transmitted_at", "acknowledged_at", "executed_at")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    # The other authority's own reference for the same case, when known.
    counterpart_reference: Mapped[str | None] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(60))
    workflow: Mapped[str] = mapped_column(String(40))
    legal_basis: Mapped[str] = mapped_column(String(60))
    requesting_authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    requested_authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    title: Mapped[str] = mapped_column(String(300))
    # Marked by the filing officer (or inherent in the kind, e.g. provisional arrest); it
    # shortens the periods where the law gives an urgent one and pages the 24/7 point.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why the officer marked it urgent (required then; content, never in status views).
    urgency_reasons: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(40))
    # Where a suspending state (info requested, postponed) returns to when it ends.
    resume_state: Mapped[str | None] = mapped_column(String(40))
    template_version: Mapped[int] = mapped_column(Integer)
    # Language the form's free text is written in (ISO 639-1).
    language: Mapped[str] = mapped_column(String(8))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer)
    # The first instant of each milestone after filing (filing is created_at), written by
    # the statement that changes the state (mla/lifecycle.py), so the statistics measure
    # stages from one row per request instead of scanning the whole history.
    transmitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    requesting_authority: Mapped[Authority] = relationship(
        foreign_keys=[requesting_authority_id], lazy="joined"
    )
    requested_authority: Mapped[Authority] = relationship(
        foreign_keys=[requested_authority_id], lazy="joined"
    )
    history: Mapped[list[HistoryEvent]] = relationship(
        back_populates="request", order_by="HistoryEvent.id", lazy="raise_on_sql"
    )
    texts: Mapped[list[RequestText]] = relationship(lazy="raise_on_sql")

    __mapper_args__ = {"version_id_col": version}

    def party_ids(self) -> tuple[int, int]:
        return (self.requesting_authority_id, self.requested_authority_id)


# Events whose first instant a request keeps (above); "file" is its created_at.
MILESTONE_COLUMNS: dict[str, str] = {
    "transmit": "transmitted_at",
    "acknowledge": "acknowledged_at",
    "execute": "executed_at",
    "complete": "executed_at",
}


class HistoryEvent(Base):
    """One state change of a request: who, when, which event, from and to, and why."""

    __tablename__ = "history_events"
    __table_args__ = (
        Index("ix_history_events_request_at", "request_id", "at"),
        # Statistics (mla/stats/report.py): refusals and their grounds.
        Index("ix_history_events_refusals", "at", postgresql_where=text("event = 'refuse'"),
              sqlite_where=text("event = 'refuse'"), postgresql_include=["request_id", "data"]),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    event: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    request: Mapped[Request] = relationship(back_populates="history")
    actor: Mapped[User | None] = relationship(lazy="joined")


class RequestText(Base):
    """The request's free text in one more language (a translation step of the workflow)."""

    __tablename__ = "request_texts"
    __table_args__ = (UniqueConstraint("request_id", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """A file attached to a request; its SHA-256 is recorded at upload."""

    __tablename__ = "attachments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# What an authority's deadline figures read (mla.stats), besides the parties, carried by the
# deadlines' party indexes.
DEADLINE_STATS_INCLUDE = ("acting_authority_id", "closed_at", "due_at", "suspended_at")


class Deadline(Base):
    """A legal time limit running on a request, under one rule of data/deadlines.yaml."""

    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_request", "request_id"),
        Index("ix_deadlines_acting_due", "acting_authority_id", "due_at"),
        # Statistics: running deadlines, a small part of all.
        Index("ix_deadlines_running", "due_at", postgresql_where=text("closed_at IS NULL"),
              sqlite_where=text("closed_at IS NULL"),
              postgresql_include=["suspended_at", "acting_authority_id"]),
        # Instance-wide statistics: deadlines closed since the last sealed month.
        Index("ix_deadlines_closed", "closed_at", postgresql_where=text("closed_at IS NOT NULL"),
              sqlite_where=text("closed_at IS NOT NULL"), postgresql_include=["due_at"]),
        # Statistics of one authority: its deadlines without joining its requests, index-only
        # on PostgreSQL (see mla.stats).
        *(Index(f"ix_deadlines_{side}", f"{side}_authority_id",
                postgresql_include=[f"{other}_authority_id", *DEADLINE_STATS_INCLUDE])
          for side, other in (("requesting", "requested"), ("requested", "requesting"))),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(60))
    timer: Mapped[str] = mapped_column(String(40))
    # Whose clock it is: its time zone and holidays count, its people are alerted.
    acting_authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    # Copies of the request's two parties, made when the deadline opens (a request's parties
    # never change; the request's own foreign keys guard them). Always set; nullable only
    # because SQLite cannot add a NOT NULL column without a default to a table with rows.
    requesting_authority_id: Mapped[int | None] = mapped_column(Integer)
    requested_authority_id: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # opened_at moved forward by the time spent suspended; escalation shares count from it.
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extended_days: Mapped[int] = mapped_column(Integer, default=0)
    extension_reason: Mapped[str | None] = mapped_column(Text)

    request: Mapped[Request] = relationship()


class DeadlineStep(Base):
    """One rung of a deadline's escalation ladder, pending until the worker alerts on it.
    Pending rows exist only for running clocks, so the worker's scan stays small."""

    __tablename__ = "deadline_steps"
    __table_args__ = (
        UniqueConstraint("deadline_id", "step"),
        Index("ix_deadline_steps_pending_due", "due_at",
              postgresql_where=text("done_at IS NULL"), sqlite_where=text("done_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Alert(Base):
    """Something a role of an authority must see: an escalation step, later a page."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("deadline_step_id", "role"),
        Index("ix_alerts_authority_created", "authority_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    role: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    deadline_step_id: Mapped[int | None] = mapped_column(
        ForeignKey("deadline_steps.id", ondelete="CASCADE"))
    step: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class SigningKey(Base):
    """A key pair that signs access tokens; retired keys no longer verify."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(10))
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RevokedToken(Base):
    """Access tokens ended before they expire (a logout), by the id of the login they came
    from: a token's `sid` claim, which the console's renewed tokens keep, else its `jti`.
    Verification reads it with the user row; rows go once every token they cover has
    expired."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginAttempt(Base):
    """One login attempt, counted for rate limiting per account and per address."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    username: Mapped[str] = mapped_column(String(100))
    ip: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)


class AuditEvent(Base):
    """One audited write or content read, written with its own hash in the transaction it
    records; the sealer (mla/audit.py) links it into the hash chain shortly after. Rows never
    change but for that one write of `hash`."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_authority_id", "authority_id", "id"),)

    # From the sequence audit_events_id_seq on PostgreSQL (migration 0020; the INSERT names
    # it), the next free id under the write lock on SQLite.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # No foreign keys: the trail outlives the rows it speaks of.
    actor_id: Mapped[int | None] = mapped_column(Integer)
    authority_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # sha256(this row's canonical content), hex, written with the row; null on rows chained
    # before migration 0020 (their chain hash covers the same content).
    entry_hash: Mapped[str | None] = mapped_column(String(64))
    # sha256(previous row's hash + this row's canonical content), hex; null until sealed.
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The sealed end of the audit chain; one row, locked only by the sealer."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


# --- 24/7 contact points, on-call rotations, paging (issue #6) ---------------------------

# The 24/7 networks a contact point may belong to (DESIGN.md section 1).
NETWORKS = ("budapest_24_7", "coe_terrorism_24_7", "g7", "interpol_ncb", "national")


class ContactPoint(Base):
    """A person or desk of an authority reachable at any hour on one 24/7 network."""

    __tablename__ = "contact_points"
    __table_args__ = (UniqueConstraint("authority_id", "network", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    network: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # How pages reach it: email, webhook, sms (sent by the pager; `phone` is E.164), phone
    # (listed for people to call). All at once, unless `preferences` says otherwise.
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Matrix account paged in a direct room by the `matrix` channel.
    matrix_id: Mapped[str | None] = mapped_column(String(255))
    # Secret of the shift calendar's URL (mla/oncall/calendar.py); unset: no feed.
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The account that acts as this contact point: acknowledges by SMS reply, sets its
    # preferences, asks for test pages (mla/oncall/preferences.py).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Contact preferences: [{"channel": "sms", "after_minutes": 2}, ...] in order; each
    # channel is sent that long after the step notifies this contact point, unless the page
    # is acknowledged first. Null: every channel of `channels` at once.
    preferences: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    authority: Mapped[Authority] = relationship(lazy="joined")


class Rotation(Base):
    """Who of an authority's contact points is on call on a network: `members` (contact point
    ids, in order) take turns of `shift_hours` wall-clock hours, handing off at
    `handoff_time` local time in `timezone`, the first shift starting on `starts_on`."""

    __tablename__ = "rotations"
    __table_args__ = (UniqueConstraint("authority_id", "network"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    network: Mapped[str] = mapped_column(String(30))
    timezone: Mapped[str] = mapped_column(String(64))
    handoff_time: Mapped[str] = mapped_column(String(5))
    shift_hours: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    members: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RotationOverride(Base):
    """`member` (a contact point id) is on call instead of the rotation in [starts_at,
    ends_at); the latest override wins where several overlap."""

    __tablename__ = "rotation_overrides"
    __table_args__ = (Index("ix_rotation_overrides_rotation_ends", "rotation_id", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rotation_id: Mapped[int] = mapped_column(ForeignKey("rotations.id", ondelete="CASCADE"))
    member: Mapped[int] = mapped_column(ForeignKey("contact_points.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EscalationPolicy(Base):
    """How a page climbs: `steps` is a list of {"notify": "on_call" | "contact:<id>" |
    "role:supervisor", "delay_minutes": n}; after the last step the ladder starts again
    `repeat` more times."""

    __tablename__ = "escalation_policies"
    __table_args__ = (UniqueConstraint("authority_id", "network"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    network: Mapped[str] = mapped_column(String(30))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Page(Base):
    """An urgent matter paging an authority's 24/7 point until someone acknowledges it; it
    is also the authority's in-app inbox entry (GET /alerts)."""

    __tablename__ = "pages"
    __table_args__ = (
        Index("ix_pages_request", "request_id"),
        Index("ix_pages_authority_status", "authority_id", "status", "opened_at"),
        # The worker's escalation scan: only open pages, by when they climb.
        Index("ix_pages_open_escalation", "next_escalation_at",
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Null only on a test page (`test`), which is about no request.
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"))
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="SET NULL"))
    # "Send me a test page": one contact point's channels, never escalated, not in the inbox.
    test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    network: Mapped[str | None] = mapped_column(String(30))
    # What opened it: file, transmit (lifecycle) or deadline (the escalation worker).
    source: Mapped[str] = mapped_column(String(20))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    repeat_round: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_via: Mapped[str | None] = mapped_column(String(20))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)
    # The id of the HTTP request that opened it (X-Request-ID), for the worker's log lines.
    http_request_id: Mapped[str | None] = mapped_column(String(64))

    request: Mapped[Request] = relationship(lazy="joined")
    authority: Mapped[Authority] = relationship(lazy="joined")
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id],
                                                        lazy="joined")
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id],
                                                    lazy="joined")


class Notification(Base):
    """One message of a page to one recipient over one channel, at one step and round."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("page_id", "step_index", "round", "recipient", "channel"),
        # The sender's scan: only messages still to send, by when they are due.
        Index("ix_notifications_pending_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    step_index: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    # "contact:<id>", "user:<id>" or "inbox" (the authority's in-app inbox).
    recipient: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(10))
    # E-mail address or webhook URL as it was when the step fired.
    address: Mapped[str | None] = mapped_column(String(500))
    # pending, sent, failed (retries exhausted) or cancelled (acknowledged before sending).
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the network reported after the gateway took it (SMS delivery reports): accepted,
    # buffered, delivered, undelivered or rejected; and when that report came.
    delivery_status: Mapped[str | None] = mapped_column(String(12))
    delivery_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SmsCode(Base):
    """The acknowledgement code of one SMS notification: a reply "ACK <code>" or "RES
    <code>" from `phone` acts on `page_id` as `contact_point_id`. Only its SHA-256 is kept;
    a resend of the notification replaces it."""

    __tablename__ = "sms_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), unique=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    contact_point_id: Mapped[int] = mapped_column(
        ForeignKey("contact_points.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SmsReplyFailure(Base):
    """A reply with an unknown, expired or foreign code, counted per number to refuse
    guessing (mla/oncall/sms.py)."""

    __tablename__ = "sms_reply_failures"
    __table_args__ = (Index("ix_sms_reply_failures_phone_at", "phone", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class MatrixSync(Base):
    """Where the bot's /sync stopped (`since`), so a restarted listener reads on from there."""

    __tablename__ = "matrix_sync"

    account: Mapped[str] = mapped_column(String(255), primary_key=True)
    since: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MatrixEvent(Base):
    """A reply or reaction the bot acted on, written in the transaction of the
    acknowledgement it made (or refused): the same event read again does nothing. `reply` is
    the bot's answer in the room, sent after commit (`reply_sent_at`)."""

    __tablename__ = "matrix_events"
    __table_args__ = (Index("ix_matrix_events_unsent", "received_at",
                            postgresql_where=text("reply_sent_at IS NULL"),
                            sqlite_where=text("reply_sent_at IS NULL")),)

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(255))
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id", ondelete="SET NULL"))
    # acknowledged, unknown_sender, not_open, not_found
    outcome: Mapped[str] = mapped_column(String(20))
    reply: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reply_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Electronic transfer between instances (issue #7) -----------------------------------


class Peer(Base):
    """Another authority's instance: where it answers and the public keys it published
    (its JWKS, transfer keys only), fetched by `mla peers add` / `mla peers refresh`."""

    __tablename__ = "peers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))
    # Newest first: the first encryption key is the one messages are sealed to.
    signing_jwks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    encryption_jwks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    authority: Mapped[Authority] = relationship(lazy="joined")


class TransferKey(Base):
    """This instance's transfer key pairs: `sig` (ES256) signs envelopes and receipts, `enc`
    (RSA-OAEP-256) opens envelopes sealed to us. The newest of each use is current; older
    ones keep verifying / decrypting until retired, so messages in flight survive rotation."""

    __tablename__ = "transfer_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    use: Mapped[str] = mapped_column(String(3))
    algorithm: Mapped[str] = mapped_column(String(20))
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A message to a peer, written in the transaction of the transition that caused it and
    delivered by `mla worker` until the peer answers with a valid signed receipt."""

    __tablename__ = "transfer_outbox"
    __table_args__ = (
        Index("ix_transfer_outbox_request", "request_id"),
        # The delivery scan: only messages still to deliver, by when they are due.
        Index("ix_transfer_outbox_pending_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    receiver_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    # The message that carried the request: status messages name the exchange by it.
    thread_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # request | status
    kind: Mapped[str] = mapped_column(String(10))
    event: Mapped[str] = mapped_column(String(40))
    # The signed content (canonical JSON) and its hash without the sending time, which the
    # receipt must echo; kept so the envelope can be sealed again (fresh time, current keys).
    payload: Mapped[str] = mapped_column(Text)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    # JWE compact (RSA-OAEP-256 + A256GCM) around a JWS compact (ES256).
    envelope: Mapped[str] = mapped_column(Text)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending, delivered, failed (gave up after the attempt limit; `mla transfer retry`).
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Also the lease: a claimed message is pushed forward until its attempt is settled.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The id of the HTTP request that caused it (X-Request-ID), for the worker's log lines.
    http_request_id: Mapped[str | None] = mapped_column(String(64))

    receiver: Mapped[Authority] = relationship(lazy="joined")


class InboxMessage(Base):
    """A message accepted from a peer, once per message id; a duplicate gets `receipt` again."""

    __tablename__ = "transfer_inbox"
    __table_args__ = (Index("ix_transfer_inbox_request", "request_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    thread_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(10))
    event: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"))
    # accepted (a new request), applied or ignored (a status that did not fit the state).
    outcome: Mapped[str] = mapped_column(String(10))
    # The signed receipt (JWS compact) exactly as answered.
    receipt: Mapped[str] = mapped_column(Text)


# -- sealed statistics (mla/stats/seal.py) ----------------------------------------------------
# Figures of a UTC month that stop changing once the month is over, summed when it is sealed so
# that the instance-wide statistics read a few rows per month instead of every request. A
# month is "YYYY-MM"; sealed months are contiguous, each with all its rows, or none.


class StatsMonth(Base):
    """A sealed month, with its deadline and refusal totals."""

    __tablename__ = "stats_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadlines_closed: Mapped[int] = mapped_column(Integer)
    deadlines_met: Mapped[int] = mapped_column(Integer)
    refusals: Mapped[int] = mapped_column(Integer)


class StatsStageCentidays(Base):
    """How many stages ended in the month with each duration, in hundredths of a day (the
    precision the figures are given in; rounded half up)."""

    __tablename__ = "stats_stage_centidays"

    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    month: Mapped[str] = mapped_column(ForeignKey("stats_months.month"),
                                       primary_key=True)
    centidays: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class StatsStageDays(Base):
    """The same per whole day: where a percentile falls is found here, then read to the
    hundredth in that one day of `stats_stage_centidays`."""

    __tablename__ = "stats_stage_days"

    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    month: Mapped[str] = mapped_column(ForeignKey("stats_months.month"),
                                       primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class StatsRefusalGround(Base):
    __tablename__ = "stats_refusal_grounds"

    month: Mapped[str] = mapped_column(ForeignKey("stats_months.month"),
                                       primary_key=True)
    ground: Mapped[str] = mapped_column(Text, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class StatsVolume(Base):
    """Requests filed in the month, by kind."""

    __tablename__ = "stats_volume"

    month: Mapped[str] = mapped_column(ForeignKey("stats_months.month"),
                                       primary_key=True)
    kind: Mapped[str] = mapped_column(String(60), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


# --- identity (issue #21): single sign-on, second factors --------------------------------


class ExternalIdentity(Base):
    """The user an OpenID provider's subject (`iss`, `sub`) logs in as, made at first login."""

    __tablename__ = "external_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject",
                                       name="uq_external_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginFlow(Base):
    """A console login sent to the OpenID provider and not back yet: the `state` it carries
    (also in the browser's cookie), its `nonce` and PKCE verifier. Used once."""

    __tablename__ = "login_flows"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TotpFactor(Base):
    """A local account's TOTP secret (RFC 6238); `confirmed_at` once a code proved the
    enrolment; `last_step` the last time step accepted, so a code opens one login only."""

    __tablename__ = "totp_factors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """A one-time code for when the authenticator is lost; only its argon2 hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebAuthnCredential(Base):
    """A security key or passkey registered by a local account (WebAuthn)."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- Signed PDF documents and e-mail transmission (issue #20) --------------------------------


class SigningCertificate(Base):
    """An authority's certificate for signing request documents (PAdES), with its private
    key encrypted under MLA_SIGNING_KEY_PASSPHRASE; the newest one not retired signs."""

    __tablename__ = "signing_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), index=True)
    subject: Mapped[str] = mapped_column(String(500))
    issuer: Mapped[str] = mapped_column(String(500))
    serial: Mapped[str] = mapped_column(String(80))
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    self_signed: Mapped[bool] = mapped_column(Boolean)
    # The signer's certificate first, then the chain that came with it (PEM).
    chain_pem: Mapped[str] = mapped_column(Text)
    # PKCS#8, encrypted (PBES2, AES-256) with the passphrase setting: never stored in clear.
    encrypted_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    authority: Mapped[Authority] = relationship(lazy="joined")


class MailAddress(Base):
    """Where an authority that runs no instance of the engine receives requests by e-mail."""

    __tablename__ = "authority_mail_addresses"
    __table_args__ = (UniqueConstraint("authority_id", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    address: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailMessage(Base):
    """A request sent by e-mail to an authority that is not a peer: written with its signed
    PDF in the transaction of the `transmit` transition, sent by `mla worker`
    (mla/mail/delivery.py), then acknowledged by the officer or by a reply."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("ix_mail_outbox_request", "request_id"),
        Index("ix_mail_outbox_pending_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Also the e-mail's Message-ID (<message_id@mla>): a reply's In-Reply-To names it.
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    receiver_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    addresses: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    document_filename: Mapped[str] = mapped_column(String(255))
    document: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    document_sha256: Mapped[str] = mapped_column(String(64))
    # [{id, filename, content_type, size, sha256, attached}]: attached false when listed only.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # pending, sent, failed (gave up after MLA_TRANSFER_MAX_ATTEMPTS).
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Also the lease of a worker sending it.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # How the acknowledgement came: officer (recorded by hand) or reply (parsed e-mail).
    acknowledged_via: Mapped[str | None] = mapped_column(String(10))

    receiver: Mapped[Authority] = relationship(lazy="joined")


class ReceivedDocument(Base):
    """A signed PDF received outside the system (e-mail, post), kept with the result of its
    signature validation at registration."""

    __tablename__ = "received_documents"
    __table_args__ = (Index("ix_received_documents_request", "request_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    # valid, untrusted (intact, signer not chained to a trust anchor), invalid (altered or
    # broken signature) or unsigned.
    status: Mapped[str] = mapped_column(String(10))
    signer: Mapped[str | None] = mapped_column(String(500))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    validation: Mapped[dict[str, Any]] = mapped_column(JSON)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- Cases, linked requests, persons and search (issue #22) -----------------------------
# A case belongs to one authority and is never shown to another: the requests it groups are
# shared with their counterparts, the grouping is not.


class Case(Base):
    """A dossier of one authority: a domestic investigation or proceeding and the requests,
    outgoing and incoming, that serve it."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("authority_id", "reference"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    # The authority's own reference (prosecutor's file number, investigation number).
    reference: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    # Responsible officers: user ids of the same authority.
    officers: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Optimistic locking, as on requests: two officers editing the case at once do not
    # overwrite each other unseen (the form and If-Match carry the version read).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class CaseRequest(Base):
    """A request filed in a case. One case per request and authority: both parties may file
    the same request, each in its own case."""

    __tablename__ = "case_requests"
    __table_args__ = (
        UniqueConstraint("authority_id", "request_id"),
        Index("ix_case_requests_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestLink(Base):
    """`to_request` follows `from_request` (supplementary, preservation → production,
    provisional arrest → extradition...), as recorded by one authority, which alone sees it."""

    __tablename__ = "request_links"
    __table_args__ = (
        UniqueConstraint("authority_id", "from_request_id", "to_request_id", "kind"),
        Index("ix_request_links_to", "to_request_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    kind: Mapped[str] = mapped_column(String(40))
    from_request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"))
    to_request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"))
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Person(Base):
    """A person (or company) a case is about, once, however many requests name them."""

    __tablename__ = "persons"
    __table_args__ = (
        Index("ix_persons_case", "case_id"),
        # Duplicate suggestions: the same date of birth among the authority's persons.
        Index("ix_persons_authority_birth", "authority_id", "date_of_birth"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    # As written in the original script, and in Latin letters (given, or transliterated).
    name: Mapped[str] = mapped_column(String(300))
    name_latin: Mapped[str] = mapped_column(String(300))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    nationality: Mapped[str | None] = mapped_column(String(2))
    # Passport, identity card, telephone numbers...: [{"type": ..., "value": ...}].
    identifiers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # Request ids (of the case) that name this person.
    request_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SearchDocument(Base):
    """What the search box matches, one row per request, case or person, written by
    mla/search/documents.py in the transaction that changes the object. `reference` is what
    every role of a party may match (the status view shows it); the other columns are content.
    The word index is `tsv` on PostgreSQL (kept by a trigger, in the row's language
    configuration) and the FTS5 tables `search_fts` / `search_names` on SQLite (kept by
    triggers, migration 0014)."""

    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("object_type", "object_id"),
        Index("ix_search_documents_owner", "owner_authority_id"),
        Index("ix_search_documents_other", "other_authority_id"),
        # Who may read a row is a key of the same GIN index as its words and its names, so
        # a search reads the posting lists of the user's authority and of the words
        # together and never fetches another authority's rows (mla/search/query.py).
        Index("ix_search_documents_readers_tsv", "readers", "tsv", postgresql_using="gin"),
        Index("ix_search_documents_readers_names", "readers", "name_words",
              postgresql_using="gin"),
        Index("ix_search_documents_reference", "reference", postgresql_using="gin",
              postgresql_ops={"reference": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # request | case | person
    object_type: Mapped[str] = mapped_column(String(10))
    object_id: Mapped[str] = mapped_column(String(36))
    # Requests: the requesting and the requested authority; cases and persons: the owner only.
    owner_authority_id: Mapped[int] = mapped_column(Integer)
    other_authority_id: Mapped[int | None] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # Names in Latin letters and their consonant skeletons (mla/search/names.py).
    names: Mapped[str] = mapped_column(Text)
    # PostgreSQL text search configuration of the row's language (simple when unknown).
    config: Mapped[str] = mapped_column(String(20))
    tsv: Mapped[str | None] = mapped_column(TSVECTOR().with_variant(Text(), "sqlite"))
    # The authorities whose users may read the row (owner, and other for a request).
    readers: Mapped[list[int]] = mapped_column(
        postgresql.ARRAY(Integer).with_variant(JSON(), "sqlite"))
    # The distinct words of `names`, each a key of the GIN index.
    name_words: Mapped[list[str]] = mapped_column(
        postgresql.ARRAY(Text).with_variant(JSON(), "sqlite"))


# A whole reference, or its beginning, as typed: a B-tree prefix, not trigrams ("fr", "mj",
# "2026" are in every reference of an authority's year, and their posting lists are long).
Index("ix_search_documents_reference_prefix",
      func.lower(SearchDocument.reference).label("reference_lower"),
      postgresql_ops={"reference_lower": "text_pattern_ops"})


class SearchNameWord(Base):
    """Every word ever indexed in a name (PostgreSQL): a few tens of thousands where the
    documents are millions, so a misspelt or transliterated name is first matched here by
    trigram similarity, then the documents holding the close words are read from
    ix_search_documents_readers_names (mla/search/query.py)."""

    __tablename__ = "search_name_words"
    __table_args__ = (
        Index("ix_search_name_words_trgm", "word", postgresql_using="gin",
              postgresql_ops={"word": "gin_trgm_ops"}),
    )

    word: Mapped[str] = mapped_column(Text, primary_key=True)


# --- country profiles and competent authorities (mla/profiles/) ----------------------------

class Profile(Base):
    """What a State (code "KE") or one of its authorities (code "KE-ODPP") requires of the
    requests it receives; an authority's profile overrides its country's, key by key. The
    requirements are one JSON document checked by mla/profiles/model.py (shape in README)."""

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    # Set for an authority's profile when the authority is in the directory.
    authority_id: Mapped[int | None] = mapped_column(ForeignKey("authorities.id"))
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CompetentAuthority(Base):
    """Who executes a measure in a place of a country, and whether a request for it goes
    there directly or through the central authority (EJN Atlas-like)."""

    __tablename__ = "competent_authorities"
    __table_args__ = (
        UniqueConstraint("country", "measure", "area",
                         name="uq_competent_authorities_country_measure_area"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    # A request kind, an EIO Annex A section C measure (eio.c.*) or "*" (any measure).
    measure: Mapped[str] = mapped_column(String(80))
    # The area's name as people write it; "" is the whole country.
    area: Mapped[str] = mapped_column(String(200))
    # Cities, districts and regions the area covers, folded for matching (mla/profiles/finder).
    places: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(300))
    # The executing authority's directory code, when it is in this instance's directory.
    authority_code: Mapped[str | None] = mapped_column(String(32))
    transmission: Mapped[str] = mapped_column(String(10))
    contact: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")


# --- Operations: worker liveness, dead-man pages, audit checkpoints, retention (issue #24) ---


class WorkerHeartbeat(Base):
    """One `mla worker` process, and the last time its loop came round (mla/ops/heartbeat.py).
    A killed worker leaves its row with `stopped_at` unset and `beat_at` ageing."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkerOutage(Base):
    """A time when no worker beat (mla/ops/deadman.py). Named by the last beat before it, so
    every API process that notices the same outage finds the same row: the admin is paged
    once per outage, however many processes watch."""

    __tablename__ = "worker_outages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    last_beat_at: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A process sending a page holds the outage until then; another takes over after.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recovery_paged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditCheckpoint(Base):
    """A signed statement "the audit chain of AUTHORITY had LENGTH rows ending in HEAD_HASH at
    MADE_AT" (mla/ops/anchor.py): ours, made by the worker or on demand, and peers' ones that
    they sent us to witness. A database owner who rewrites the chain cannot make it match a
    checkpoint held by somebody else."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("authority_code", "chain_length"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    authority_code: Mapped[str] = mapped_column(String(40))
    chain_length: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # JWS compact (ES256, our or the peer's transfer signing key) over the four fields above.
    jws: Mapped[str] = mapped_column(Text)
    # Set for a peer's checkpoint: when we received it.
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LegalHold(Base):
    """A request whose content retention must not erase (an appeal, a pending proceeding)
    until the hold is lifted."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_request", "request_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RetentionErasure(Base):
    """The content of a request erased under a retention rule: what stays is the status
    skeleton (state, history events without reasons, deadlines), statistics and audit."""

    __tablename__ = "retention_erasures"

    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(80))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime)
