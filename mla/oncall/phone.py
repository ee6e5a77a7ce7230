"""Telephone numbers of contact points, in E.164 (ITU-T E.164: "+", a country code, at most
15 digits in all), the form an SMS gateway dials and the form its callbacks report."""

from __future__ import annotations

import re

_E164 = re.compile(r"\+[1-9]\d{1,14}")
# What people write between digits: "+33 1 44-77.60 00", "+44 (0)20 ..." keeps the (0) out.
_SEPARATORS = re.compile(r"[\s\-./()]")


def e164(value: str) -> str | None:
    """The number in E.164, or None when it is not one. Spaces, dashes, dots, slashes and
    brackets are dropped; an international prefix 00 is read as "+"; a trunk "(0)" after the
    country code is dropped."""
    text = value.strip().replace("(0)", "")
    text = _SEPARATORS.sub("", text)
    if text.startswith("00"):
        text = "+" + text[2:]
    return text if _E164.fullmatch(text) else None
