"""Bodies shared by several router groups."""

from __future__ import annotations

from pydantic import BaseModel


class AuthorityRef(BaseModel):
    code: str
    name: str
    country: str
