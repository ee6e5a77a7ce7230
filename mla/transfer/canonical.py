"""The canonical JSON form of a message (what is signed and hashed), the content hash its
receipt echoes, and the instants it carries (RFC 3339, UTC, microseconds, "Z").

The canonical form is RFC 8785 (JSON Canonicalization Scheme, `rfc8785`): any JOSE stack
reproduces it, unlike the `json.dumps(sort_keys=True)` rule of the first release, which
differs from it on numbers (1e-07 / 1e-7, 1.0 / 1) and on the order of keys outside the BMP.
That rule is kept, by name, for peers still on it (docs/transfer-protocol.md §7.3)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785

# The message member naming the rule its receipt's `payload_sha256` follows, and the rules.
HASH_MEMBER = "hash"
HASH_JCS = "sha256-jcs"
# A message without `hash` comes from a peer on the first release: its receipt is hashed the
# old way, so that the peer accepts it (until every peer sends `hash`).
HASH_LEGACY = "sha256-python-json"

CanonicalizationError = rfc8785.CanonicalizationError


def canonical(value: Any) -> str:
    """RFC 8785 text of `value`; CanonicalizationError for integers beyond ±(2**53 - 1) and
    non-finite numbers, which I-JSON (RFC 7493) and therefore JCS cannot carry."""
    return rfc8785.dumps(value).decode("utf-8")


def legacy_canonical(value: Any) -> str:
    """The first release's form (Python's json.dumps, sorted keys, no spaces, no escaping of
    non-ASCII); only for receipts to and from peers still on it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_rule(payload: Mapping[str, Any]) -> str:
    return HASH_JCS if payload.get(HASH_MEMBER) == HASH_JCS else HASH_LEGACY


def content_sha256(payload: Mapping[str, Any], rule: str = HASH_JCS) -> str:
    """Hash of what a message says, without when it was (last) sealed: a retry sealed again
    hashes the same, and the receipt must echo it. Lower-case hex."""
    content = {k: v for k, v in payload.items() if k != "sent_at"}
    text = canonical(content) if rule == HASH_JCS else legacy_canonical(content)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None
