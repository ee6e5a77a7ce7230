"""Where an authority that is not a peer receives requests by e-mail."""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mla import audit
from mla.errors import FieldProblem, InvalidInput
from mla.models import Authority, MailAddress, User

# An addr-spec without comments or quoted local parts: what a ministry registers.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}"
                      r"(\.[A-Za-z0-9-]{1,63})+")


def of(session: Session, authority_id: int) -> list[str]:
    return list(session.scalars(select(MailAddress.address)
                                .where(MailAddress.authority_id == authority_id)
                                .order_by(MailAddress.id)))


def replace(session: Session, authority: Authority, addresses: list[str], *,
            actor: User | None = None) -> list[str]:
    """Sets the authority's addresses (an empty list removes them: nothing is e-mailed)."""
    cleaned = []
    for i, address in enumerate(addresses):
        address = address.strip()
        if not _ADDRESS.fullmatch(address) or len(address) > 254:
            raise InvalidInput(f"'{address}' is not an e-mail address",
                               [FieldProblem(f"addresses.{i}", "name@domain.example")])
        if address.lower() not in {a.lower() for a in cleaned}:
            cleaned.append(address)
    session.execute(delete(MailAddress).where(MailAddress.authority_id == authority.id))
    session.add_all(MailAddress(authority_id=authority.id, address=a) for a in cleaned)
    session.flush()
    audit.record(session, "mail.addresses", actor=actor, object_type="authority",
                 object_id=authority.code, authority_id=authority.id,
                 detail={"addresses": cleaned})
    return cleaned
