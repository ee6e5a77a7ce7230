"""The search box: ranked hits over what the user may see, with the matching words marked.

Authorization is part of the query, never a filter on its results: a request's document is
reachable by users of its two parties, a case's and a person's only by its own authority.
Roles that see requests' status only (liaison, contact point, admin) match on the request's
reference and nothing else, and are never shown a title or an excerpt.

PostgreSQL: the query is parsed in every configured language (languages.yaml) and the
parses OR-ed, so a French document is matched by French stems with French stop words
dropped, whatever language the officer types in; names go through pg_trgm word similarity on
their Latin form and consonant skeleton (mla/search/names.py). SQLite: FTS5 with prefix
terms and the same stop words dropped from the query; names through an FTS5 trigram table,
then the same similarity in Python."""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session
from stop_words import get_stop_words

from mla import access
from mla.errors import FieldProblem, InvalidInput
from mla.models import User
from mla.search import names
from mla.search.documents import languages

MAX_QUERY = 200
MAX_LIMIT = 50
# pg_trgm word similarity a name needs to match: one transposed or wrong letter in a
# six-letter surname keeps 3 of its 7 trigrams (0.43).
NAME_THRESHOLD = 0.4
MANY_WORDS_THRESHOLD = 0.6
# Documents a word query ranks at most: GIN cannot hand them out best first, and a word
# in tens of thousands of documents would otherwise be ranked in all of them.
WORD_CANDIDATES = 2000
# Documents a name query scores at most per tier (its exact words; its close words).
NAME_CANDIDATES = 1000
# Dictionary words taken per query word (closest first), and query words matched as names.
CLOSE_WORDS = 12
MAX_NAME_WORDS = 5
# Consonant skeletons are short and alike ("rs" for "euros"): they count only when nearly
# equal, as a name written without its vowels is to the same name written with them.
SKELETON_THRESHOLD = 0.7
# Markers around matched words until the excerpt is HTML-escaped (never in stored text).
START, STOP = "\x02", "\x03"


@dataclass(frozen=True)
class Hit:
    object_type: str
    object_id: str
    reference: str
    # None for status-only roles.
    title: str | None
    excerpt_html: str | None
    score: float


def _escape_marked(excerpt: str | None) -> str | None:
    if not excerpt:
        return None
    return html.escape(excerpt).replace(START, "<mark>").replace(STOP, "</mark>")


def _check(q: str, limit: int) -> str:
    problems = []
    q = " ".join((q or "").split())
    if not q:
        problems.append(FieldProblem("q", "type something to search for"))
    elif len(q) > MAX_QUERY:
        problems.append(FieldProblem("q", f"at most {MAX_QUERY} characters"))
    if not 1 <= limit <= MAX_LIMIT:
        problems.append(FieldProblem("limit", f"between 1 and {MAX_LIMIT}"))
    if problems:
        raise InvalidInput("bad search", problems)
    return q.replace(START, "").replace(STOP, "")


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(session: Session, user: User, q: str, *, limit: int = 20) -> list[Hit]:
    q = _check(q, limit)
    content = access.can_read_content(user)
    if session.get_bind().dialect.name == "postgresql":
        return _postgresql(session, user, q, limit, content)
    return _sqlite(session, user, q, limit, content)


# --- PostgreSQL ---------------------------------------------------------------------------


@functools.cache
def _configs() -> list[str]:
    return sorted({entry["config"] for entry in languages().values()})


def _trgm_query(session: Session) -> str:
    schema = session.scalar(text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"))
    if schema is None:
        raise RuntimeError("pg_trgm is not installed: run `mla db upgrade` (migration 0014)")
    return str(schema)


_schemas: dict[str, str] = {}


def trgm_schema(session: Session) -> str:
    """The schema pg_trgm lives in (one per database, maybe not on the search_path), once
    per database URL."""
    url = str(session.get_bind().url)
    if url not in _schemas:
        _schemas[url] = _trgm_query(session)
    return _schemas[url]


def _prefix(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


# A whole reference or its beginning through the B-tree on lower(reference); anywhere in
# it through the trigram GIN, only when no reference begins so (the trigram index reads
# the long posting lists of "fr", "mj", "2026" for a whole reference typed).
_REFERENCES = """
    refs AS MATERIALIZED (
      SELECT id FROM search_documents
       WHERE lower(reference) LIKE :prefix AND readers @> CAST(:r AS int[]) {only}
       LIMIT :limit),
    refs_inside AS MATERIALIZED (
      SELECT id FROM search_documents
       WHERE :inside AND NOT EXISTS (SELECT 1 FROM refs) AND reference ILIKE :like
         AND readers @> CAST(:r AS int[]) {only}
       LIMIT :limit)"""


def _close_words(session: Session, schema: str, query_words: list[str]
                 ) -> list[dict[str, float]]:
    """For each word of the query, the name words ever indexed that are close to it: word
    similarity >= NAME_THRESHOLD on the Latin letters, or strict word similarity >=
    SKELETON_THRESHOLD on the consonant skeletons; a few tens of thousands of dictionary
    words behind a trigram GIN, whatever the number of documents."""
    s = f'"{schema}"'
    # One subquery per word with its own parameters (not a LATERAL join over an array):
    # the planner then sees each word and reads the trigram GIN rather than every word.
    parts, params = [], {}
    for n, word in enumerate(query_words, start=1):
        params[f"w{n}"] = word
        parts.append(f"""(SELECT {n} AS n, word, {s}.word_similarity(:w{n}, word) AS sim
            FROM search_name_words WHERE :w{n} OPERATOR({s}.<%) word
            ORDER BY :w{n} OPERATOR({s}.<<->) word, word LIMIT {CLOSE_WORDS})""")
        bone = names.skeleton(word)
        if len(bone) >= 3:
            params[f"b{n}"] = bone
            parts.append(f"""(SELECT {n}, word, {s}.strict_word_similarity(:b{n}, word)
                FROM search_name_words WHERE :b{n} OPERATOR({s}.<<%) word
                ORDER BY :b{n} OPERATOR({s}.<<<->) word, word LIMIT {CLOSE_WORDS})""")
    close: list[dict[str, float]] = [{} for _ in query_words]
    rows = session.execute(text(" UNION ALL ".join(parts)), params)
    for n, word, sim in rows:
        found = close[n - 1]
        found[word] = max(found.get(word, 0.0), float(sim))
    return close


def _postgresql(session: Session, user: User, q: str, limit: int,
                content: bool) -> list[Hit]:
    # Inside a reference: three characters at least, a trigram's worth (fewer would read
    # every reference).
    params: dict[str, Any] = {"r": [user.authority_id], "like": _like(q),
                              "prefix": _prefix(q), "limit": limit, "inside": len(q) >= 3}
    if not content:
        rows = session.execute(text(
            "WITH" + _REFERENCES.format(only="AND object_type = 'request'") + """
            SELECT d.object_type, d.object_id, d.reference FROM search_documents d
             WHERE d.id IN (SELECT id FROM refs UNION ALL SELECT id FROM refs_inside)
             ORDER BY d.reference LIMIT :limit"""), params)
        return [Hit(r[0], r[1], r[2], None, None, 1.0) for r in rows]
    schema = trgm_schema(session)
    # Every word of three letters or more must be matched by a close name word; shorter
    # ones ("al", "de") would match a large share of all names.
    query_words = [w for w in names.words(q) if len(w) >= 3][:MAX_NAME_WORDS]
    # The thresholds of this transaction, and the query parsed in every configured
    # language, each distinct parse once, in one round trip.
    tsquery = session.execute(text(f"""
        SELECT set_config('pg_trgm.word_similarity_threshold', '{NAME_THRESHOLD}', true),
               set_config('pg_trgm.strict_word_similarity_threshold', '{SKELETON_THRESHOLD}',
                          true),
               (SELECT coalesce(string_agg(DISTINCT '(' || t || ')', ' | '), '')
                  FROM (SELECT websearch_to_tsquery(c::regconfig, :q)::text AS t
                          FROM unnest(CAST(:configs AS text[])) AS c) parsed
                 WHERE t <> '')"""), {"q": " ".join(content_words(q)),
                                      "configs": _configs()}).one()[2]
    close = _close_words(session, schema, query_words) if query_words else []
    params.update(tq=tsquery or "")
    # Names: the documents holding a close word for every query word, read from the GIN
    # of (readers, name_words); those holding the query's words themselves first, so a
    # common surname typed right is never crowded out by its near spellings. Each tier
    # is capped (NAME_CANDIDATES), the candidates scored by their closest words.
    named = "SELECT NULL::bigint AS id, NULL::float8 AS score WHERE false"
    if close and all(close):
        conditions = []
        for i, found in enumerate(close):
            params[f"s{i}"] = sorted(found)
            conditions.append(f"name_words && CAST(:s{i} AS text[])")
        exact = [w for w, found in zip(query_words, close, strict=True) if w in found]
        params.update(
            exact=exact if len(exact) == len(close) else [],
            nn=[i for i, found in enumerate(close) for _ in found],
            nw=[w for found in close for w in found],
            ns=[sim for found in close for sim in found.values()], k=len(close))
        named = f"""
          SELECT id, sum(best) / :k AS score FROM (
            SELECT c.id, near.n, max(near.sim) AS best
              FROM (SELECT id, name_words FROM exact
                    UNION
                    -- Near spellings only when the exact ones do not fill the page.
                    SELECT id, name_words FROM search_documents
                     WHERE (SELECT count(*) FROM exact) < :limit
                       AND readers @> CAST(:r AS int[]) AND {" AND ".join(conditions)}
                     LIMIT {NAME_CANDIDATES}) c
              CROSS JOIN LATERAL unnest(c.name_words) AS x(word)
              JOIN near ON near.word = x.word GROUP BY c.id, near.n) per_word
          GROUP BY id HAVING count(*) = :k"""
    else:
        params.update(nn=[], nw=[], ns=[], exact=[])
    opts = f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12, MaxFragments=2"
    # One branch per index, each reading only the rows of the user's authority (a key of
    # the same GIN index as the words and the names), scored on its own; the scores are
    # summed per document. The words' GIN cannot hand documents out best first: a word in
    # very many documents is ranked among the first WORD_CANDIDATES.
    rows = session.execute(text(f"""
        WITH near(n, word, sim) AS (
          SELECT * FROM unnest(CAST(:nn AS int[]), CAST(:nw AS text[]),
                               CAST(:ns AS float8[]))),
        words AS MATERIALIZED (
          SELECT id, ts_rank(tsv, CAST(:tq AS tsquery)) AS score
            FROM search_documents
           WHERE :tq <> '' AND readers @> CAST(:r AS int[]) AND tsv @@ CAST(:tq AS tsquery)
           LIMIT {WORD_CANDIDATES}),
        exact AS MATERIALIZED (
          SELECT id, name_words FROM search_documents
           WHERE cardinality(CAST(:exact AS text[])) > 0 AND readers @> CAST(:r AS int[])
             AND name_words @> CAST(:exact AS text[])
           LIMIT {NAME_CANDIDATES}),
        named AS MATERIALIZED ({named}),
        {_REFERENCES.format(only="")},
        scored AS (
          SELECT id, score FROM words
          UNION ALL SELECT id, score FROM named
          UNION ALL SELECT id, 1.0 FROM refs
          UNION ALL SELECT id, 1.0 FROM refs_inside),
        best AS (
          SELECT id, sum(score) AS score FROM scored GROUP BY id
          ORDER BY sum(score) DESC, id LIMIT :limit)
        SELECT d.object_type, d.object_id, d.reference, d.title,
               CASE WHEN :tq <> '' AND d.tsv @@ CAST(:tq AS tsquery)
                    THEN ts_headline(d.config::regconfig, d.body, CAST(:tq AS tsquery),
                                     '{opts}') END,
               best.score
          FROM best JOIN search_documents d ON d.id = best.id
         ORDER BY best.score DESC, d.id"""), params)
    return [Hit(r[0], r[1], r[2], r[3], _escape_marked(r[4]), float(r[5])) for r in rows]


# --- SQLite -------------------------------------------------------------------------------


@functools.cache
def _stop_words() -> frozenset[str]:
    found: set[str] = set()
    for entry in languages().values():
        found.update(w.lower() for w in get_stop_words(entry["stop_words"]))
    return frozenset(found)


_TOKEN = re.compile(r"\w+", re.UNICODE)


def content_words(q: str) -> list[str]:
    """The query's words without the stop words of any configured language. PostgreSQL
    drops only its own configuration's (its French list keeps "les"), and the language a
    query is typed in is unknown: both backends drop the same words first."""
    return [t for t in _TOKEN.findall(q.lower()) if t not in _stop_words()]


def _fts_query(q: str) -> str | None:
    terms = content_words(q)
    if not terms:
        return None
    return " AND ".join(f'"{t}"*' for t in terms)


def _trigram_query(*keys: str) -> str | None:
    grams = {g for k in keys for g in names.trigrams(k) if g.strip() and len(g.strip()) == 3}
    return " OR ".join(f'"{g}"' for g in sorted(grams)) or None


_VISIBLE = "(d.owner_authority_id = :a OR d.other_authority_id = :a)"


def _sqlite(session: Session, user: User, q: str, limit: int, content: bool) -> list[Hit]:
    params: dict[str, Any] = {"a": user.authority_id, "like": _like(q), "limit": limit}
    hits: dict[tuple[str, str], Hit] = {}

    def add(hit: Hit) -> None:
        key = (hit.object_type, hit.object_id)
        old = hits.get(key)
        if old is None:
            hits[key] = hit
        else:
            hits[key] = Hit(old.object_type, old.object_id, old.reference, old.title,
                            old.excerpt_html or hit.excerpt_html, old.score + hit.score)

    for r in session.execute(text(
            "SELECT object_type, object_id, reference, title FROM search_documents d "
            f"WHERE {_VISIBLE} AND reference LIKE :like ESCAPE '\\' "
            + ("" if content else "AND object_type = 'request' ")
            + "ORDER BY reference LIMIT :limit"), params):
        add(Hit(r[0], r[1], r[2], r[3] if content else None, None, 1.0))
    if not content:
        return list(hits.values())
    match = _fts_query(q)
    if match:
        for r in session.execute(text(
                "SELECT d.object_type, d.object_id, d.reference, d.title, "
                f"snippet(search_fts, 1, '{START}', '{STOP}', '…', 16), bm25(search_fts) "
                "FROM search_fts JOIN search_documents d ON d.id = search_fts.rowid "
                f"WHERE search_fts MATCH :match AND {_VISIBLE} "
                "ORDER BY bm25(search_fts) LIMIT :limit"), {**params, "match": match}):
            # bm25 is negative, better when lower; brought to (0, 1) like ts_rank.
            add(Hit(r[0], r[1], r[2], r[3], _escape_marked(r[4]), -r[5] / (1 - r[5])))
    words, skeletons = names.query_keys(q)
    grams = _trigram_query(words, skeletons)
    if grams:
        for r in session.execute(text(
                "SELECT d.object_type, d.object_id, d.reference, d.title, d.names "
                "FROM search_names JOIN search_documents d ON d.id = search_names.rowid "
                f"WHERE search_names MATCH :grams AND {_VISIBLE} "
                "ORDER BY bm25(search_names) LIMIT 200"), {**params, "grams": grams}):
            skeleton = names.word_similarity(skeletons, r[4])
            score = max(names.word_similarity(words, r[4]),
                        skeleton if skeleton >= SKELETON_THRESHOLD else 0.0)
            if score >= (NAME_THRESHOLD if len(words.split()) <= 1 else MANY_WORDS_THRESHOLD):
                add(Hit(r[0], r[1], r[2], r[3], None, score))
    return sorted(hits.values(), key=lambda h: -h.score)[:limit]
