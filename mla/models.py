"""SQLAlchemy models. The schema is created only by Alembic (migrations/); these mirror it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
    text,
)
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


ROLES = ("officer", "supervisor", "liaison", "contact_point", "admin")


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

    authority: Mapped[Authority] = relationship(lazy="joined")


class ReferenceCounter(Base):
    """Last number handed out per authority and year, for human-readable references."""

    __tablename__ = "reference_counters"

    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Request(Base):
    """One MLA or extradition request as held by this instance, with its lifecycle state."""

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_requesting_state", "requesting_authority_id", "state"),
        Index("ix_requests_requested_state", "requested_authority_id", "state"),
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
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
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


class HistoryEvent(Base):
    """One state change of a request: who, when, which event, from and to, and why."""

    __tablename__ = "history_events"
    __table_args__ = (Index("ix_history_events_request_at", "request_id", "at"),)

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


class Deadline(Base):
    """A legal time limit running on a request, under one rule of data/deadlines.yaml."""

    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_request", "request_id"),
        Index("ix_deadlines_acting_due", "acting_authority_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(60))
    timer: Mapped[str] = mapped_column(String(40))
    # Whose clock it is: its time zone and holidays count, its people are alerted.
    acting_authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
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
    """One audited write or content read; rows are hash-chained and never change."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_authority_id", "authority_id", "id"),)

    # Ids are handed out under the chain head's lock, so they are contiguous.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # No foreign keys: the trail outlives the rows it speaks of.
    actor_id: Mapped[int | None] = mapped_column(Integer)
    authority_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # sha256(previous row's hash + this row's canonical content), hex.
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The end of the audit chain; one row, locked by each writer."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
