"""Milestone instants on the request (first transmission, acknowledgement, execution), filled
from the history, so the statistics read one row per request instead of the whole history;
on PostgreSQL the party indexes of requests and the refusals index cover what the statistics
read (index-only scans).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mla.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = mla.models.UTCDateTime(timezone=True)
# Frozen here: later changes to the model must not change what this revision did.
COLUMNS = {
    "transmitted_at": ("transmit",),
    "acknowledged_at": ("acknowledge",),
    "executed_at": ("execute", "complete"),
}
MILESTONES_WHERE = "event IN ('file', 'transmit', 'acknowledge', 'execute', 'complete')"
REFUSALS_WHERE = "event = 'refuse'"
STATS_INCLUDE = ["id", "kind", "workflow", "legal_basis", "created_at", *COLUMNS]
PARTY_INDEXES = {  # name: (key column, the other party)
    "ix_requests_requesting_state": ("requesting_authority_id", "requested_authority_id"),
    "ix_requests_requested_state": ("requested_authority_id", "requesting_authority_id"),
}


def _covering_indexes(covering: bool) -> None:
    """PostgreSQL only: SQLite has no INCLUDE, its indexes stay as they were."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (party, other) in PARTY_INDEXES.items():
        op.drop_index(name, table_name="requests")
        op.create_index(name, "requests", [party, "state"],
                        postgresql_include=[other, *STATS_INCLUDE] if covering else [])
    op.drop_index("ix_history_events_refusals", table_name="history_events")
    op.create_index("ix_history_events_refusals", "history_events", ["at"],
                    postgresql_where=sa.text(REFUSALS_WHERE),
                    postgresql_include=["request_id", "data"] if covering else [])


def _events(events: Sequence[str]) -> str:
    return ", ".join(f"'{e}'" for e in events)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("requests", sa.Column(column, Instant, nullable=True))
    everything = _events([e for events in COLUMNS.values() for e in events])
    if op.get_bind().dialect.name == "postgresql":
        # One pass over the history (the milestone index), one update per request.
        firsts = ", ".join(f"min(at) FILTER (WHERE event IN ({_events(events)})) AS {column}"
                           for column, events in COLUMNS.items())
        sets = ", ".join(f"{column} = m.{column}" for column in COLUMNS)
        op.execute(f"""UPDATE requests AS r SET {sets}
            FROM (SELECT request_id, {firsts} FROM history_events
                  WHERE event IN ({everything}) GROUP BY request_id) AS m
            WHERE r.id = m.request_id""")
    else:
        # Correlated subqueries: any SQLite version, and embedded databases are small.
        sets = ", ".join(
            f"{column} = (SELECT min(at) FROM history_events AS h "
            f"WHERE h.request_id = requests.id AND h.event IN ({_events(events)}))"
            for column, events in COLUMNS.items())
        op.execute(f"""UPDATE requests SET {sets}
            WHERE id IN (SELECT request_id FROM history_events WHERE event IN ({everything}))""")
    # Only the statistics read it, and they no longer do; writes skip maintaining it.
    op.drop_index("ix_history_events_milestones", table_name="history_events")
    _covering_indexes(True)


def downgrade() -> None:
    _covering_indexes(False)
    op.create_index("ix_history_events_milestones", "history_events",
                    ["request_id", "event", "at"],
                    postgresql_where=sa.text(MILESTONES_WHERE),
                    sqlite_where=sa.text(MILESTONES_WHERE))
    # Plain ALTER TABLE DROP COLUMN (SQLite >= 3.35): a batch copy of requests would drop the
    # table and, with foreign keys on, cascade to its history.
    for column in reversed(COLUMNS):
        op.drop_column("requests", column)
