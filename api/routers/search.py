"""One search box over requests, cases and persons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep, UserDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.search import HitOut, SearchOut
from mla.search import query

router = APIRouter(tags=["search"], responses=PROBLEM_RESPONSES)

_URLS = {"request": "/requests/{}", "case": "/cases/{}", "person": "/persons/{}"}


@router.get("/search", response_model=SearchOut)
def search(session: SessionDep, user: UserDep,
           q: Annotated[str, Query(max_length=query.MAX_QUERY,
                                   description="References, titles, names in any script, "
                                   "offences, free text")],
           limit: Annotated[int, Query(ge=1, le=query.MAX_LIMIT)] = 20) -> SearchOut:
    """Best matches first, words marked in the excerpt. Authorization: any role, over what
    the role may read: officers and supervisors match the content of their authority's
    requests, cases and persons; other roles match requests' references only and see no
    title or excerpt."""
    hits = query.search(session, user, q, limit=limit)
    return SearchOut(q=q, items=[HitOut(type=h.object_type, id=h.object_id,
                                        reference=h.reference, title=h.title,
                                        excerpt_html=h.excerpt_html, score=round(h.score, 4),
                                        url=_URLS[h.object_type].format(h.object_id))
                                 for h in hits])
