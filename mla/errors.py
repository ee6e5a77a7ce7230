"""Domain errors. Each carries what a user needs to fix the problem; api/ maps them to HTTP."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    title = "Request could not be processed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    title = "Not found"


class Forbidden(DomainError):
    title = "Not allowed"


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one input field; `path` is dotted (e.g. `persons.0.nationality`)."""

    path: str
    message: str


class InvalidInput(DomainError):
    """Input that fails validation; lists every problem found, not just the first."""

    title = "Invalid input"

    def __init__(self, detail: str, problems: list[FieldProblem]) -> None:
        super().__init__(detail)
        self.problems = problems


class MalformedRequest(InvalidInput):
    """Input not even in the form the protocol asks for (a header that is not what HTTP
    says it is), as opposed to a well-formed value the engine refuses."""

    title = "Malformed request"


class IllegalTransition(DomainError):
    """An event that the workflow does not allow from the request's current state."""

    title = "Event not allowed in this state"

    def __init__(self, state: str, event: str, allowed: list[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(
            f"event '{event}' is not allowed in state '{state}'; allowed now: {allowed_text}"
        )
        self.state = state
        self.event = event
        self.allowed = allowed


class GuardRejected(DomainError):
    """The event exists in this state but a rule of the workflow refuses it."""

    title = "Transition refused by a workflow rule"

    def __init__(self, detail: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.problems = problems or []


class Conflict(DomainError):
    """Someone else changed the object since it was read (optimistic locking)."""

    title = "Conflict"

    def __init__(self, detail: str, current_version: int | None = None) -> None:
        super().__init__(detail)
        self.current_version = current_version


class Unauthorized(DomainError):
    """Missing, expired or otherwise unacceptable credentials."""

    title = "Unauthorized"


class RateLimited(DomainError):
    """Too many attempts; `retry_after` seconds until the next one is accepted."""

    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooLarge(DomainError):
    """An upload over the size limit."""

    title = "Content too large"

    def __init__(self, detail: str, limit: int) -> None:
        super().__init__(detail)
        self.limit = limit


class Unavailable(DomainError):
    """A part the operation needs is not installed or not configured; the detail says which
    and how to provide it."""

    title = "Service unavailable"
