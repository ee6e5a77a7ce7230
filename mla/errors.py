"""Domain errors. Each carries what a user needs to fix the problem; api/ maps them to HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mla.i18n import N_


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    title = N_("Request could not be processed")

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    title = N_("Not found")


class Forbidden(DomainError):
    title = N_("Not allowed")


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one input field; `path` is dotted (e.g. `persons.0.nationality`).

    `message` is English, for machine clients (the API's problem JSON). The console shows it
    in the reader's language (mla.i18n.problem): from `labels` when the message is data in six
    languages (a template's rule), else the catalog's translation of `text` filled with
    `params` (`text` is the message before its `{placeholders}` are filled)."""

    path: str
    message: str
    text: str = field(default="", compare=False, repr=False)
    params: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    labels: Mapping[str, str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, path: str, text: str, **params: Any) -> FieldProblem:
        """A problem whose message is `text` (marked with N_) filled with `params`; a param
        that is a mapping of languages (a template's label) is said in each its own way."""
        english = {k: v.get("en", "") if isinstance(v, Mapping) else v for k, v in params.items()}
        return cls(path, text.format(**english) if params else text, text, params or None)


class InvalidInput(DomainError):
    """Input that fails validation; lists every problem found, not just the first."""

    title = N_("Invalid input")

    def __init__(self, detail: str, problems: list[FieldProblem]) -> None:
        super().__init__(detail)
        self.problems = problems


class MalformedRequest(InvalidInput):
    """Input not even in the form the protocol asks for (a header that is not what HTTP
    says it is), as opposed to a well-formed value the engine refuses."""

    title = N_("Malformed request")


class IllegalTransition(DomainError):
    """An event that the workflow does not allow from the request's current state."""

    title = N_("Event not allowed in this state")

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

    title = N_("Transition refused by a workflow rule")

    def __init__(self, detail: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.problems = problems or []


class Conflict(DomainError):
    """Someone else changed the object since it was read (optimistic locking)."""

    title = N_("Conflict")

    def __init__(self, detail: str, current_version: int | None = None) -> None:
        super().__init__(detail)
        self.current_version = current_version


class Unauthorized(DomainError):
    """Missing, expired or otherwise unacceptable credentials."""

    title = N_("Unauthorized")


class RateLimited(DomainError):
    """Too many attempts; `retry_after` seconds until the next one is accepted."""

    title = N_("Too many requests")

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooLarge(DomainError):
    """An upload over the size limit."""

    title = N_("Content too large")

    def __init__(self, detail: str, limit: int) -> None:
        super().__init__(detail)
        self.limit = limit


class Unavailable(DomainError):
    """A part the operation needs is not installed or not configured; the detail says which
    and how to provide it."""

    title = N_("Service unavailable")
