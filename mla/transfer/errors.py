"""Errors of electronic transfer: an inbound message refused (`TransferRejected`, answered
to the sending peer), an outbound delivery attempt failed (`DeliveryError`, retried)."""

from __future__ import annotations

from typing import Any

from mla.errors import DomainError, FieldProblem


class TransferRejected(DomainError):
    """An inbound message refused; `status` is the HTTP answer, `reason` a stable code."""

    title = "Transfer rejected"

    def __init__(self, status: int, reason: str, detail: str, *,
                 message_id: str | None = None, sender: str | None = None,
                 problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.message_id = message_id
        self.sender = sender
        self.problems = problems or []


def reject(status: int, reason: str, detail: str, **kw: Any) -> TransferRejected:
    return TransferRejected(status, reason, detail, **kw)


class DeliveryError(Exception):
    """One delivery attempt failed; the message is tried again later."""
