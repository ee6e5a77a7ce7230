"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mla.errors import (
    Conflict,
    DomainError,
    Forbidden,
    GuardRejected,
    IllegalTransition,
    InvalidInput,
    MalformedRequest,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
)

PROBLEM_JSON = "application/problem+json"

STATUS = {
    Unauthorized: 401,
    RateLimited: 429,
    TooLarge: 413,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    MalformedRequest: 400,  # before InvalidInput, which it is a kind of
    InvalidInput: 422,
    GuardRejected: 422,
    IllegalTransition: 409,
    Unavailable: 503,
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    extra: dict[str, Any] = {"instance": request.url.path}
    problems = getattr(exc, "problems", None)
    if problems:
        extra["errors"] = [{"field": p.path, "message": p.message} for p in problems]
    if isinstance(exc, IllegalTransition):
        extra.update(state=exc.state, event=exc.event, allowed_events=exc.allowed)
    if isinstance(exc, TooLarge):
        extra["max_bytes"] = exc.limit
    if isinstance(exc, Conflict) and exc.current_version is not None:
        extra["current_version"] = exc.current_version
    response = problem(status, exc.title, exc.detail, **extra)
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
         "message": e["msg"]}
        for e in exc.errors()
    ]
    return problem(422, "Invalid input", "the request does not match the expected shape",
                   instance=request.url.path, errors=errors)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, _title(exc.status_code), str(exc.detail),
                       instance=request.url.path)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _stale(request: Request, exc: Exception) -> JSONResponse:
    # A versioned row (a request, a case) changed between this request's read and its
    # write: the same answer as a stale If-Match.
    return problem(409, "Conflict", "someone else changed it at the same moment; reload and "
                   "try again", instance=request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(StaleDataError, _stale)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "about:blank", "title": "Invalid input", "status": 422,
        "detail": "the mla.evidence request cannot be filed as given",
        "instance": "/requests",
        "errors": [{"field": "data.case_subject", "message": "is required"}],
    }]})
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = None


def described(text: str) -> dict[str, Any]:
    return {"model": ProblemOut, "description": text,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: described("Missing, expired or invalid access token"),
    403: described("Your role may not do this"),
    404: described("No such object, or not one of your authority's"),
    409: described("Event not allowed in this state, or the request changed (current_version)"),
    422: described("Invalid input; `errors` names each field"),
    429: described("Too many attempts; see Retry-After"),
}
