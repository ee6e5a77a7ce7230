"""The canonical JSON form of a message (what is signed and hashed) and the instants it
carries (ISO 8601, UTC, microseconds, "Z")."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_sha256(payload: Mapping[str, Any]) -> str:
    """Hash of what a message says, without when it was (last) sealed: a retry sealed again
    hashes the same, and the receipt must echo it."""
    return hashlib.sha256(canonical({k: v for k, v in payload.items() if k != "sent_at"})
                          .encode("utf-8")).hexdigest()


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
