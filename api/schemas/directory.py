"""Bodies of the directory of central authorities (api/routers/directory.py)."""

from __future__ import annotations

from pydantic import ConfigDict

from api.schemas.common import AuthorityRef


class AuthorityOut(AuthorityRef):
    model_config = ConfigDict(from_attributes=True)
    timezone: str
    languages: list[str]
