"""The provider's claims to an authority and a role, by a table that is data
(MLA_OIDC_MAPPING_FILE, default mla/data/identity_mapping.yaml). No match is a refusal,
never a default role."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mla import settings
from mla.models import ROLES

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "data" / "identity_mapping.yaml"


class MappingError(ValueError):
    """The mapping file cannot be used; the message says where."""


class NotMapped(Exception):
    """The claims give no (or no single) authority and role; the message says why, for the
    refusal page."""


@dataclass(frozen=True)
class Mapping:
    username_claim: str
    full_name_claim: str
    email_claim: str | None
    groups_claim: str
    active_claim: str | None
    pattern: re.Pattern[str] | None
    groups: dict[str, tuple[str, str]]
    precedence: tuple[str, ...]


@dataclass(frozen=True)
class Assignment:
    authority: str
    role: str
    username: str
    full_name: str
    email: str | None
    active: bool


def _pattern(template: str | None) -> re.Pattern[str] | None:
    if not template:
        return None
    if "{authority}" not in template or "{role}" not in template:
        raise MappingError("group_pattern must contain {authority} and {role}")
    regex = re.escape(template).replace(r"\{authority\}", r"(?P<authority>[A-Za-z0-9_.-]+)")
    return re.compile(regex.replace(r"\{role\}", r"(?P<role>[a-z_]+)"))


def parse(data: Any, where: str = "mapping") -> Mapping:
    if not isinstance(data, dict):
        raise MappingError(f"{where}: a mapping with `claims`, `groups`, `group_pattern`")
    claims = data.get("claims") or {}
    groups: dict[str, tuple[str, str]] = {}
    for name, target in (data.get("groups") or {}).items():
        if not isinstance(target, dict) or target.get("role") not in ROLES \
                or not target.get("authority"):
            raise MappingError(f"{where}: group {name!r} needs `authority` and a `role` "
                               f"among {', '.join(ROLES)}")
        groups[str(name)] = (str(target["authority"]), str(target["role"]))
    precedence = tuple(data.get("role_precedence") or ROLES)
    if set(precedence) != set(ROLES):
        raise MappingError(f"{where}: role_precedence must list each of {', '.join(ROLES)}")
    return Mapping(
        username_claim=str(claims.get("username") or "preferred_username"),
        full_name_claim=str(claims.get("full_name") or "name"),
        email_claim=claims.get("email"),
        groups_claim=str(claims.get("groups") or "groups"),
        active_claim=claims.get("active"),
        pattern=_pattern(data.get("group_pattern")),
        groups=groups,
        precedence=precedence,
    )


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Mapping:
    try:
        return parse(yaml.safe_load(Path(path).read_text(encoding="utf-8")), path)
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: {exc}") from None


def current() -> Mapping:
    """The configured mapping, read again when its file changes."""
    path = settings.get().oidc_mapping_file or str(DEFAULT_FILE)
    try:
        mtime = Path(path).stat().st_mtime
    except OSError as exc:
        raise MappingError(f"MLA_OIDC_MAPPING_FILE {path}: {exc.strerror}") from None
    return _load(path, mtime)


def assign(mapping: Mapping, claims: dict[str, Any]) -> Assignment:
    """The authority and role the claims give, or NotMapped saying why."""
    raw_groups = claims.get(mapping.groups_claim) or []
    if isinstance(raw_groups, str):
        raw_groups = [raw_groups]
    found: set[tuple[str, str]] = set()
    for group in raw_groups if isinstance(raw_groups, list) else []:
        if not isinstance(group, str):
            continue
        if group in mapping.groups:
            found.add(mapping.groups[group])
        elif mapping.pattern and (match := mapping.pattern.fullmatch(group)) \
                and match["role"] in ROLES:
            found.add((match["authority"], match["role"]))
    active = True
    if mapping.active_claim and claims.get(mapping.active_claim) is False:
        active = False
    if not found:
        raise NotMapped(f"your identity provider gives no group of this instance "
                        f"(claim `{mapping.groups_claim}`); ask your administrator to add "
                        "you to the group of your authority and role")
    authorities = {authority for authority, _ in found}
    if len(authorities) > 1:
        raise NotMapped("your identity provider puts you in groups of several authorities "
                        f"({', '.join(sorted(authorities))}); one login serves one authority")
    roles = {role for _, role in found}
    role = next(r for r in mapping.precedence if r in roles)
    subject = str(claims.get("sub") or "")
    username = claims.get(mapping.username_claim)
    full_name = claims.get(mapping.full_name_claim)
    email = claims.get(mapping.email_claim) if mapping.email_claim else None
    return Assignment(
        authority=authorities.pop(), role=role,
        username=(username if isinstance(username, str) and username else subject)[:80],
        full_name=(full_name if isinstance(full_name, str) and full_name else subject)[:200],
        email=email[:200] if isinstance(email, str) and email else None,
        active=active,
    )
