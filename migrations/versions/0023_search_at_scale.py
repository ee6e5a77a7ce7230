"""Search at scale (issue #22, bench/search.py at 1,000,000 requests), and case versions.

Who may read a search row (`readers`: the owner, and the other party of a request) becomes a
key of the GIN indexes of the words and of the names, so a query reads the user's
authority's posting list with the words' and never touches another authority's rows. Names
are matched through a dictionary of the words ever indexed in a name (`search_name_words`,
trigram GIN) and the documents holding the close words (`name_words`, GIN), instead of a
trigram GiST over every document's names, whose signatures saturate on long name lists. A
whole reference or its beginning uses a B-tree prefix. The tsvector trigger fires only when
the text changes. Cases get a version for optimistic locking.

Revision ID: 0023
Revises: 0020
"""

from collections.abc import Sequence

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_TRIGGER = ("CREATE TRIGGER search_documents_tsv BEFORE INSERT OR UPDATE OF title, body, "
              "config ON search_documents FOR EACH ROW EXECUTE FUNCTION search_documents_tsv()")


def _trgm_schema() -> str:
    return str(op.get_bind().scalar(sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'")))


def upgrade() -> None:
    op.add_column("cases", sa.Column("version", sa.Integer(), server_default="1",
                                     nullable=False))
    postgres = op.get_bind().dialect.name == "postgresql"
    ints = postgresql.ARRAY(sa.Integer()) if postgres else sa.JSON()
    words = postgresql.ARRAY(sa.Text()) if postgres else sa.JSON()
    op.create_table("search_name_words",
                    sa.Column("word", sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint("word", name=op.f("pk_search_name_words")))
    if postgres:
        op.execute("DROP TRIGGER search_documents_tsv ON search_documents")
        op.execute(PG_TRIGGER)
        op.add_column("search_documents", sa.Column("readers", ints, nullable=True))
        op.add_column("search_documents", sa.Column("name_words", words, nullable=True))
        op.execute("UPDATE search_documents SET readers = array_remove(ARRAY["
                   "owner_authority_id, other_authority_id], NULL), name_words = "
                   "ARRAY(SELECT DISTINCT w FROM unnest(string_to_array(names, ' ')) w "
                   "WHERE w <> '' ORDER BY w)")
        op.execute("INSERT INTO search_name_words (word) SELECT DISTINCT unnest(name_words) "
                   "FROM search_documents ON CONFLICT DO NOTHING")
        op.alter_column("search_documents", "readers", nullable=False)
        op.alter_column("search_documents", "name_words", nullable=False)
        op.drop_index("ix_search_documents_tsv", table_name="search_documents")
        op.drop_index("ix_search_documents_names", table_name="search_documents")
        op.execute("CREATE INDEX ix_search_documents_readers_tsv ON search_documents "
                   "USING gin (readers, tsv)")
        op.execute("CREATE INDEX ix_search_documents_readers_names ON search_documents "
                   "USING gin (readers, name_words)")
        op.execute("CREATE INDEX ix_search_documents_reference_prefix ON search_documents "
                   "(lower(reference) text_pattern_ops)")
        op.execute("CREATE INDEX ix_search_name_words_trgm ON search_name_words "
                   f'USING gin (word "{_trgm_schema()}".gin_trgm_ops)')
        return
    # SQLite: no batch mode, which would copy the table and lose its FTS5 triggers.
    op.add_column("search_documents", sa.Column("readers", ints, nullable=False,
                                                server_default="[]"))
    op.add_column("search_documents", sa.Column("name_words", words, nullable=False,
                                                server_default="[]"))
    bind = op.get_bind()
    table = sa.table("search_documents", sa.column("id"), sa.column("owner_authority_id"),
                     sa.column("other_authority_id"), sa.column("names"),
                     sa.column("readers"), sa.column("name_words"))
    for row in bind.execute(sa.select(table.c.id, table.c.owner_authority_id,
                                      table.c.other_authority_id, table.c.names)).all():
        bind.execute(table.update().where(table.c.id == row[0]).values(
            readers=json.dumps([a for a in (row[1], row[2]) if a is not None]),
            name_words=json.dumps(sorted({w for w in (row[3] or "").split() if w}))))
    op.drop_index("ix_search_documents_tsv", table_name="search_documents")
    op.drop_index("ix_search_documents_names", table_name="search_documents")
    op.create_index("ix_search_documents_readers_tsv", "search_documents", ["readers", "tsv"])
    op.create_index("ix_search_documents_readers_names", "search_documents",
                    ["readers", "name_words"])
    op.create_index("ix_search_documents_reference_prefix", "search_documents",
                    [sa.text("lower(reference)")])
    op.create_index("ix_search_name_words_trgm", "search_name_words", ["word"])


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in ("ix_search_documents_readers_tsv", "ix_search_documents_readers_names",
                 "ix_search_documents_reference_prefix"):
        op.drop_index(name, table_name="search_documents")
    op.drop_table("search_name_words")
    if postgres:
        op.execute("DROP TRIGGER search_documents_tsv ON search_documents")
        op.execute("CREATE TRIGGER search_documents_tsv BEFORE INSERT OR UPDATE "
                   "ON search_documents FOR EACH ROW EXECUTE FUNCTION search_documents_tsv()")
        op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
        op.execute("CREATE INDEX ix_search_documents_names ON search_documents "
                   f'USING gist (names "{_trgm_schema()}".gist_trgm_ops)')
        op.drop_column("search_documents", "readers")
        op.drop_column("search_documents", "name_words")
    else:
        op.create_index("ix_search_documents_tsv", "search_documents", ["tsv"])
        op.create_index("ix_search_documents_names", "search_documents", ["names"])
        op.drop_column("search_documents", "readers")
        op.drop_column("search_documents", "name_words")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("version")
