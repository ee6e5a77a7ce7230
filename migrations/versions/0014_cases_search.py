"""Cases, linked requests, persons, and the search index (issue #22).

PostgreSQL: the word index is a tsvector kept by a trigger in the row's language
configuration; names and references carry pg_trgm GIN indexes. pg_trgm is installed once per
database (an extension lives in one schema): in `public` unless it is already somewhere, and
the operator class is named with its schema so instances (and test runs) whose search_path is
a private schema use the same one. Downgrade leaves the extension: other schemas may use it.
SQLite: FTS5 tables over `search_documents` (external content), kept by triggers.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import json
import uuid

import sqlalchemy as sa
from alembic import op

import mla.models
from mla.search import documents

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = mla.models.UTCDateTime(timezone=True)

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE search_fts USING fts5(title, body, content='search_documents', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE search_names USING fts5(names, content='search_documents', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN "
    "INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); "
    "INSERT INTO search_names(rowid, names) VALUES (new.id, new.names); END",
    "CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO search_names(search_names, rowid, names) VALUES ('delete', old.id, old.names);"
    " END",
    "CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO search_names(search_names, rowid, names) VALUES ('delete', old.id, old.names);"
    " INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); "
    "INSERT INTO search_names(rowid, names) VALUES (new.id, new.names); END",
)

PG_TSV = """
CREATE FUNCTION search_documents_tsv() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.tsv := setweight(to_tsvector(NEW.config::regconfig, NEW.title), 'A')
          || setweight(to_tsvector(NEW.config::regconfig, NEW.body), 'B');
  RETURN NEW;
END $$
"""


def _pg_trgm_schema() -> str:
    bind = op.get_bind()
    # Two migrations at once (parallel test runs) would race on CREATE EXTENSION.
    bind.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('mla pg_trgm'))"))
    schema = bind.scalar(sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"))
    if schema is None:
        bind.execute(sa.text("CREATE EXTENSION pg_trgm WITH SCHEMA public"))
        schema = "public"
    return str(schema)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("officers", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.Column("closed_at", Instant, nullable=True),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"],
                                name=op.f("fk_cases_authority_id_authorities")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_cases_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("authority_id", "reference", name=op.f("uq_cases_authority_id")),
    )
    op.create_table(
        "case_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_at", Instant, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE",
                                name=op.f("fk_case_requests_case_id_cases")),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE",
                                name=op.f("fk_case_requests_request_id_requests")),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"],
                                name=op.f("fk_case_requests_authority_id_authorities")),
        sa.ForeignKeyConstraint(["added_by_id"], ["users.id"],
                                name=op.f("fk_case_requests_added_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_requests")),
        sa.UniqueConstraint("authority_id", "request_id",
                            name=op.f("uq_case_requests_authority_id")),
    )
    op.create_index("ix_case_requests_case", "case_requests", ["case_id"])
    op.create_table(
        "request_links",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("from_request_id", sa.Uuid(), nullable=False),
        sa.Column("to_request_id", sa.Uuid(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Instant, nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"],
                                name=op.f("fk_request_links_authority_id_authorities")),
        sa.ForeignKeyConstraint(["from_request_id"], ["requests.id"], ondelete="CASCADE",
                                name=op.f("fk_request_links_from_request_id_requests")),
        sa.ForeignKeyConstraint(["to_request_id"], ["requests.id"], ondelete="CASCADE",
                                name=op.f("fk_request_links_to_request_id_requests")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_request_links_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_links")),
        sa.UniqueConstraint("authority_id", "from_request_id", "to_request_id", "kind",
                            name=op.f("uq_request_links_authority_id")),
    )
    op.create_index("ix_request_links_to", "request_links", ["to_request_id"])
    op.create_table(
        "persons",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_latin", sa.String(length=300), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("nationality", sa.String(length=2), nullable=True),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("request_ids", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Instant, nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"],
                                name=op.f("fk_persons_authority_id_authorities")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE",
                                name=op.f("fk_persons_case_id_cases")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_persons_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_index("ix_persons_case", "persons", ["case_id"])
    op.create_index("ix_persons_authority_birth", "persons", ["authority_id", "date_of_birth"])

    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "search_documents",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("object_type", sa.String(length=10), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("owner_authority_id", sa.Integer(), nullable=False),
        sa.Column("other_authority_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("config", sa.String(length=20), nullable=False),
        sa.Column("tsv", mla.models.TSVECTOR().with_variant(sa.Text(), "sqlite"),
                  nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
        sa.UniqueConstraint("object_type", "object_id",
                            name=op.f("uq_search_documents_object_type")),
    )
    op.create_index("ix_search_documents_owner", "search_documents", ["owner_authority_id"])
    op.create_index("ix_search_documents_other", "search_documents", ["other_authority_id"])
    if postgres:
        schema = _pg_trgm_schema()
        op.execute(PG_TSV)
        op.execute("CREATE TRIGGER search_documents_tsv BEFORE INSERT OR UPDATE "
                   "ON search_documents FOR EACH ROW EXECUTE FUNCTION search_documents_tsv()")
        op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
        # Names: GiST, walked nearest first; references: GIN, for ILIKE '%…%'.
        op.execute("CREATE INDEX ix_search_documents_names ON search_documents "
                   f'USING gist (names "{schema}".gist_trgm_ops)')
        op.execute("CREATE INDEX ix_search_documents_reference ON search_documents "
                   f'USING gin (reference "{schema}".gin_trgm_ops)')
    else:
        op.create_index("ix_search_documents_tsv", "search_documents", ["tsv"])
        op.create_index("ix_search_documents_names", "search_documents", ["names"])
        op.create_index("ix_search_documents_reference", "search_documents", ["reference"])
        for statement in SQLITE_FTS:
            op.execute(statement)
    _index_existing_requests()


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _index_existing_requests() -> None:
    """Requests filed before this revision, indexed as the engine indexes a new one (columns
    read by name: the models may have more by the time this runs)."""
    bind = op.get_bind()
    columns = ("id", "reference", "counterpart_reference", "title", "data", "language",
               "requesting_authority_id", "requested_authority_id")
    requests = sa.table("requests", *(sa.column(c) for c in columns))
    texts = sa.table("request_texts", sa.column("request_id"), sa.column("data"))
    translations: dict[uuid.UUID, list[object]] = {}
    for request_id, data in bind.execute(sa.select(texts.c.request_id, texts.c.data)):
        translations.setdefault(uuid.UUID(str(request_id)), []).append(_json(data))
    documents_table = mla.models.SearchDocument.__table__
    rows = []
    for found in bind.execute(sa.select(*requests.c)):
        values = dict(found._mapping)
        values["id"] = uuid.UUID(str(values["id"]))
        values["data"] = _json(values["data"]) or {}
        request = mla.models.Request(**values)
        row = documents.request_row(request, translations.get(request.id, ()))
        # Columns of later revisions (0023 fills them from these).
        rows.append({k: v for k, v in row.items() if k not in ("readers", "name_words")})
        if len(rows) >= 1000:
            bind.execute(sa.insert(documents_table), rows)
            rows = []
    if rows:
        bind.execute(sa.insert(documents_table), rows)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("search_documents")
        op.execute("DROP FUNCTION search_documents_tsv()")
    else:
        for name in ("search_documents_ai", "search_documents_ad", "search_documents_au"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE search_fts")
        op.execute("DROP TABLE search_names")
        op.drop_table("search_documents")
    op.drop_table("persons")
    op.drop_table("request_links")
    op.drop_table("case_requests")
    op.drop_table("cases")
