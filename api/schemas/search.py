"""Bodies of the search (api/routers/search.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HitOut(BaseModel):
    type: str = Field(description="request, case or person")
    id: str
    reference: str
    title: str | None = Field(description="Absent for roles that see the status only")
    excerpt_html: str | None = Field(
        description="Where the words matched: HTML-escaped text, matches in <mark>")
    score: float
    url: str


class SearchOut(BaseModel):
    q: str
    items: list[HitOut]
