# Cyrillic and Arabic names on purpose: the bench searches across scripts.
# ruff: noqa: RUF001
"""Search at scale on PostgreSQL, and what keeping the index costs a write.

Seeds N requests (default 100,000; the issue's target is 1,000,000) between 12 authorities,
each with persons (Latin, Cyrillic, Arabic names), offences and facts in English, French or
Spanish, indexed by the same code as the engine (mla/search/documents.py: one row per
request, the tsvector written by the trigger of migration 0014). Then it runs 200 mixed
queries through `mla.search.query.search` as officers and liaison officers of the parties:
our references, the counterpart's references, names typed in Latin for names stored in
another script, surnames with a typo, offences and words of the facts; and prints p50, p95
and the slowest with its EXPLAIN ANALYZE.

The write cost: the same draft edits (PATCH of the form, which rewrites the request's search
row) with the index listener installed and without, in the same run; the ratio is what the
index adds to such a write. A transition changes no indexed column: `python -m
bench.transitions` before and after measures that it adds nothing there.

    python -m bench.search [--requests 100000] [--queries 200] [--database postgresql+psycopg://...]
    python -m bench.search --keep      # leave the schema mla_bench_search for a look

Target: p95 < 150 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, make_url, text
from sqlalchemy.orm import Session

from bench.transitions import DEFAULT_URL, drop, prepare
from mla import db, hooks, templates
from mla.directory import service as directory
from mla.models import Request, SearchDocument, User
from mla.requests import filing
from mla.search import documents, names
from mla.search import query as search

SCHEMA = "mla_bench_search"
AUTHORITIES = (("FR-MJ", "FR", "fr"), ("KE-ODPP", "KE", "en"), ("ES-MJ", "ES", "es"),
               ("US-OIA", "US", "en"), ("DE-BFJ", "DE", "en"), ("IT-MG", "IT", "en"),
               ("RU-GP", "RU", "en"), ("MA-MJ", "MA", "fr"), ("AR-MJ", "AR", "es"),
               ("GB-UKCA", "GB", "en"), ("NL-OM", "NL", "en"), ("SN-MJ", "SN", "fr"))
SURNAMES = ("Ivanov", "Petrov", "Smirnov", "Kuznetsov", "Popov", "Sokolov", "Lebedev", "Kozlov",
            "Novikov", "Morozov", "Omondi", "Kamau", "Otieno", "Mwangi", "Garcia", "Martinez",
            "Lopez", "Gonzalez", "Dupont", "Moreau", "Lefebvre", "Fournier", "Rossi", "Bianchi",
            "Muller", "Schmidt", "Schneider", "Fischer", "Haddad", "Mansour", "Karimi",
            "Benali", "Nguyen", "Diallo", "Ndiaye", "Kowalski", "Nowak", "Silva", "Santos",
            "Oliveira", "Papadopoulos", "Yilmaz", "Kaya", "Demir", "Horvat", "Novak")
GIVEN = ("Sergei", "Alexei", "Dmitri", "Jared", "Peter", "Maria", "Elena", "Ana", "Lucas",
         "Claire", "Marco", "Hans", "Ahmed", "Omar", "Fatima", "Youssef", "Ibrahim", "Jean")
CYRILLIC = ("Иванов Сергей", "Петров Алексей", "Смирнов Дмитрий", "Кузнецов Пётр",
            "Попова Мария", "Соколова Елена", "Лебедев Игорь", "Козлов Андрей")
ARABIC = ("محمد الحسن", "أحمد منصور", "يوسف حداد", "عمر بن علي", "فاطمة الزهراء",
          "إبراهيم كريمي")
OFFENCES = {
    "en": ("organised fraud", "money laundering", "drug trafficking", "corruption of a public "
           "official", "trafficking in human beings", "cybercrime: unauthorised access",
           "terrorist financing", "murder", "armed robbery", "tax evasion"),
    "fr": ("escroquerie en bande organisée", "blanchiment aggravé", "trafic de stupéfiants",
           "corruption d'agent public", "traite des êtres humains", "accès frauduleux à un "
           "système informatique", "financement du terrorisme", "meurtre", "vol à main armée"),
    "es": ("estafa agravada", "blanqueo de capitales", "tráfico de drogas", "cohecho",
           "trata de seres humanos", "acceso ilícito a sistemas informáticos",
           "financiación del terrorismo", "homicidio", "robo con violencia"),
}
FACTS = {
    "en": ("Between {d} and {e} the suspects transferred {n} euros to accounts at {b} and "
           "withdrew most of the funds in cash; the witness saw {p} at the branch.",
           "The victim company received e-mails from a look-alike domain and paid {n} euros "
           "to {b}; {p} controlled the account and travelled to {c}.",
           "A shipment of {n} kilograms was seized at the port of {c}; messages on the "
           "seized phone show that {p} organised the transport."),
    "fr": ("Entre le {d} et le {e}, les suspects ont viré {n} euros sur des comptes ouverts "
           "à la {b} et retiré la plus grande partie des fonds en espèces ; le témoin a vu "
           "{p} à l'agence.",
           "La société victime a reçu des courriels d'un domaine frauduleux et a payé {n} "
           "euros à la {b} ; {p} contrôlait le compte et s'est rendu à {c}."),
    "es": ("Entre el {d} y el {e} los sospechosos transfirieron {n} euros a cuentas del {b} "
           "y retiraron la mayor parte de los fondos en efectivo; el testigo vio a {p} en la "
           "sucursal.",
           "La empresa víctima recibió correos de un dominio fraudulento y pagó {n} euros al "
           "{b}; {p} controlaba la cuenta y viajó a {c}."),
}
BANKS = ("Mara Commercial Bank", "Banque du Léman", "Banco Atlántico", "First Harbour Bank",
         "Nordic Trust", "Crédit Rive Gauche")
CITIES = ("Nairobi", "Lyon", "Madrid", "Dakar", "Casablanca", "Moscow", "Rotterdam", "Naples")
KINDS = ("mla.evidence", "mla.search_seizure", "mla.freezing_confiscation",
         "mla.e_evidence.preservation", "mla.e_evidence.production", "extradition.request")


# Syllables in Latin, Cyrillic and Arabic (consonants only, as Arabic writes names): the
# made-up surnames spread like a population's (tens of thousands of them, a few common), so
# that a name's trigrams are not in a tenth of all documents as with a short list.
SYLLABLES = (("ka", "ка", "ك"), ("mi", "ми", "م"), ("ro", "ро", "ر"), ("la", "ла", "ل"),
             ("to", "то", "ت"), ("sa", "са", "س"), ("ne", "не", "ن"), ("bu", "бу", "ب"),
             ("di", "ди", "د"), ("va", "ва", "ف"), ("go", "го", "غ"), ("ha", "ха", "ح"),
             ("zu", "зу", "ز"), ("pe", "пе", "ب"), ("shi", "ши", "ش"), ("dor", "дор", "در"),
             ("mak", "мак", "مك"), ("lin", "лин", "لن"), ("tes", "тес", "تس"),
             ("rav", "рав", "رف"), ("kon", "кон", "كن"), ("sul", "сул", "سل"),
             ("ber", "бер", "بر"), ("nov", "нов", "نف"), ("ist", "ист", "است"))


def _made_up(rng: random.Random, script: int) -> str:
    # Zipf-like: low syllable indexes are much more frequent.
    parts = [SYLLABLES[min(int(rng.paretovariate(0.7)) - 1, len(SYLLABLES) - 1)]
             for _ in range(rng.choice((2, 3, 3)))]
    return "".join(p[script] for p in parts)


def _person(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.05:
        return rng.choice(CYRILLIC)
    if pick < 0.08:
        return rng.choice(ARABIC)
    if pick < 0.2:
        return f"{_made_up(rng, 1).capitalize()} {rng.choice(CYRILLIC).split()[1]}"
    if pick < 0.3:
        return f"{_made_up(rng, 2)} {rng.choice(ARABIC).split()[0]}"
    surname = rng.choice(SURNAMES) if pick < 0.4 else _made_up(rng, 0)
    return f"{surname.upper()} {rng.choice(GIVEN)}"


def _form(rng: random.Random, language: str) -> dict[str, Any]:
    people = [_person(rng) for _ in range(rng.randint(1, 3))]
    start = datetime(2025, 1, 1) + timedelta(days=rng.randint(0, 500))
    facts = rng.choice(FACTS[language]).format(
        d=start.date(), e=(start + timedelta(days=30)).date(), n=rng.randint(10, 5000) * 1000,
        b=rng.choice(BANKS), p=people[0], c=rng.choice(CITIES))
    offence = rng.choice(OFFENCES[language])
    return {"case_subject": f"{offence} — {rng.choice(CITIES)}", "facts_summary": facts,
            "offences": [{"name": offence, "legal_provision": f"art. {rng.randint(100, 450)}"}],
            "persons": [{"role": "suspect", "full_name": p,
                         "date_of_birth": f"19{rng.randint(50, 99)}-0{rng.randint(1, 9)}-1"
                         f"{rng.randint(0, 9)}"} for p in people],
            "competent_authority": {"name": "Parquet", "reference": f"INV-{rng.randint(1, 10**6)}"}}


def seed(url: str, n: int, rng: random.Random, pool: int = 20_000) -> dict[str, int]:
    """Requests and their search rows in bulk. `pool` distinct requests are generated in
    Python and indexed by the engine's own code (documents.request_row, the tsvector by the
    trigger of migration 0014); the rest are copies of them filed under new ids, references
    and counterpart references by INSERT … SELECT generate_series, with the secondary
    indexes dropped during the load and rebuilt after (as a restore would), so 1,000,000
    rows take minutes, not the hour row-by-row inserts would."""
    engine = db.make_engine(url)
    users: dict[str, int] = {}
    with db.unit_of_work(engine) as s:
        ids = {}
        for code, country, language in AUTHORITIES:
            a = directory.add_authority(s, code=code, country=country, name=code,
                                        timezone="UTC", languages=[language, "en"])
            ids[code] = (a.id, language)
            for role in ("officer", "liaison"):
                users[f"{code}.{role}"] = directory.add_user(
                    s, a, username=f"{code.lower()}.{role}", full_name=role, role=role).id
    codes = [c for c, _, _ in AUTHORITIES]
    batch_size = 5000
    pool = min(pool, n)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        rebuild = _drop_indexes(conn, ("requests", "search_documents"))
        for start in range(0, pool, batch_size):
            rows, docs = [], []
            for i in range(start, min(pool, start + batch_size)):
                # FR-MJ is a party to a third of the requests, like a busy central authority.
                a = "FR-MJ" if rng.random() < 0.33 else rng.choice(codes)
                b = rng.choice([c for c in codes if c != a])
                if rng.random() < 0.5:
                    a, b = b, a
                language = ids[a][1]
                form = _form(rng, language)
                request = Request(
                    id=uuid.uuid4(), reference=f"{a}-2026-{i:07d}",
                    counterpart_reference=f"{b[:2]}/{rng.randint(1, 99)}/{i}",
                    kind=rng.choice(KINDS),
                    workflow="mla_requesting", legal_basis="untoc",
                    requesting_authority_id=ids[a][0], requested_authority_id=ids[b][0],
                    title=form["case_subject"][:300], urgent=False, state="transmitted",
                    template_version=1, language=language, data=form, created_at=now,
                    updated_at=now, version=1)
                rows.append({c.key: getattr(request, c.key) for c in Request.__table__.columns})
                docs.append(documents.request_row(request))
            conn.execute(insert(Request), rows)
            conn.execute(insert(SearchDocument), docs)
            print(f"  generated {min(pool, start + batch_size):>9,} / {pool:,}", end="\r",
                  flush=True)
        print()
        # The name dictionary, as the engine's writes keep it (mla/search/documents.py);
        # the copies below name the same people.
        conn.execute(text("INSERT INTO search_name_words (word) SELECT DISTINCT "
                          "unnest(name_words) FROM search_documents ON CONFLICT DO NOTHING"))
        # Copy g of pool request j is request number g * pool + j: its id is derived from
        # the original's, so its search row finds it without a lookup table.
        number = "(g * CAST(:pool AS int) + right({ref}, 7)::int)"
        new_ref = f"regexp_replace({{ref}}, '\\d{{{{7}}}}$', lpad({number}::text, 7, '0'))"
        new_cref = f"regexp_replace({{cref}}, '/\\d+$', '/' || {number})"
        request_columns = [c.name for c in Request.__table__.columns
                           if c.name not in ("id", "reference", "counterpart_reference")]
        doc_columns = [c.name for c in SearchDocument.__table__.columns
                       if c.name not in ("id", "object_id", "reference", "body")]
        step = max(1, 200_000 // pool)
        series = "generate_series(CAST(:first AS int), CAST(:last AS int))"
        copies = -(-n // pool)
        for first in range(1, copies, step):
            last = min(copies - 1, first + step - 1)
            params = {"pool": pool, "first": first, "last": last, "n": n}
            conn.execute(text(
                f"INSERT INTO requests (id, reference, counterpart_reference, "
                f"{', '.join(request_columns)}) "
                f"SELECT md5(r.id::text || g)::uuid, "
                f"{new_ref.format(ref='r.reference')}, "
                f"{new_cref.format(cref='r.counterpart_reference', ref='r.reference')}, "
                f"{', '.join('r.' + c for c in request_columns)} "
                f"FROM requests r CROSS JOIN {series} g "
                f"WHERE r.title NOT LIKE 'write %' AND right(r.reference, 7)::int < :pool "
                f"AND {number.format(ref='r.reference')} < :n"), params)
            conn.execute(text(
                f"INSERT INTO search_documents (object_id, reference, body, "
                f"{', '.join(doc_columns)}) "
                f"SELECT md5(d.object_id || g)::uuid::text, "
                f"{new_ref.format(ref='d.reference')}, "
                f"{new_cref.format(cref='split_part(d.body, chr(10), 1)', ref='d.reference')} "
                "|| substr(d.body, strpos(d.body, chr(10))), "
                f"{', '.join('d.' + c for c in doc_columns)} "
                f"FROM search_documents d CROSS JOIN {series} g "
                f"WHERE d.object_type = 'request' AND right(d.reference, 7)::int < :pool "
                f"AND {number.format(ref='d.reference')} < :n"), params)
            print(f"  copied {min(n, (last + 1) * pool):>9,} / {n:,}", end="\r", flush=True)
        print()
        for statement in rebuild:
            started = time.perf_counter()
            conn.execute(text(statement))
            print(f"  {time.perf_counter() - started:6.1f} s  {statement}")
        conn.execute(text("ANALYZE requests"))
        conn.execute(text("ANALYZE search_documents"))
        conn.execute(text("ANALYZE search_name_words"))
    engine.dispose()
    return users


def _drop_indexes(conn: Any, tables: tuple[str, ...]) -> list[str]:
    """Drops the tables' indexes that back no constraint; returns their definitions."""
    found = conn.execute(text(
        "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = current_schema() "
        "AND tablename = ANY(:tables) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conname = i.indexname)"), {"tables": list(tables)}).all()
    for name, _ in found:
        conn.execute(text(f'DROP INDEX "{name}"'))
    return [definition for _, definition in found]


def samples(url: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """400 requests picked by a hash of their id (the same ones on every run over the same
    data), and the users, read back from the database."""
    engine = db.make_engine(url)
    with engine.connect() as conn:
        users = {f"{code}.{role}": uid for uid, code, role in conn.execute(text(
            "SELECT u.id, a.code, u.role FROM users u JOIN authorities a "
            "ON a.id = u.authority_id"))}
        picked = []
        for reference, counterpart, data, a, b in conn.execute(text(
                "SELECT r.reference, r.counterpart_reference, r.data, ra.code, rb.code "
                "FROM requests r JOIN authorities ra ON ra.id = r.requesting_authority_id "
                "JOIN authorities rb ON rb.id = r.requested_authority_id "
                "WHERE r.title NOT LIKE 'write %' ORDER BY md5(r.id::text) LIMIT 400")):
            picked.append({"reference": reference, "counterpart_reference": counterpart,
                           "persons": [p["full_name"] for p in data["persons"]],
                           "offence": data["offences"][0]["name"],
                           "facts": data["facts_summary"], "a": a, "b": b})
    engine.dispose()
    return picked, users


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randint(1, len(word) - 3)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def queries(samples: list[dict[str, Any]], rng: random.Random, count: int
            ) -> list[tuple[str, str]]:
    """(user, query) pairs, mixed like a day's searches."""
    out = []
    for k in range(count):
        s = rng.choice(samples)
        party = rng.choice((s["a"], s["b"]))
        officer = f"{party}.officer"
        kind = k % 10
        if kind == 0:
            out.append((f"{party}.liaison", s["reference"][-7:]))
        elif kind == 1:
            out.append((officer, s["reference"]))
        elif kind == 2:
            out.append((officer, s["counterpart_reference"]))
        elif kind in (3, 4):
            # The name as a Latin reader types it, whatever script it is stored in.
            out.append((officer, names.latin(rng.choice(s["persons"])).title()))
        elif kind == 5:
            surname = names.latin(s["persons"][0]).split()[0]
            out.append((officer, _typo(surname.capitalize(), rng)))
        elif kind == 6:
            out.append((officer, s["offence"]))
        else:
            words = [w for w in s["facts"].split() if len(w) > 4 and w.isalpha()]
            out.append((officer, " ".join(rng.sample(words, min(2, len(words))))))
    return out


def time_queries(url: str, users: dict[str, int], pairs: list[tuple[str, str]]
                 ) -> tuple[list[float], list[int]]:
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    timings, counts = [], []
    with sessions() as s:
        people = {k: s.get_one(User, v) for k, v in users.items()}
        s.commit()
        search.search(s, people["FR-MJ.officer"], "warm up")
        s.rollback()
        for who, q in pairs:
            start = time.perf_counter()
            hits = search.search(s, people[who], q)
            timings.append((time.perf_counter() - start) * 1000)
            counts.append(len(hits))
            s.rollback()
    engine.dispose()
    return timings, counts


def explain(url: str, user: User, q: str) -> str:
    """EXPLAIN ANALYZE of the slowest query's statement, as search() sends it."""
    engine = db.make_engine(url)
    plans: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                many: bool) -> None:
        if "search_documents" in statement and "EXPLAIN" not in statement:
            rows = cursor.connection.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement,
                                             params).fetchall()
            plans.append("\n".join(r[0] for r in rows))

    event.listen(engine, "after_cursor_execute", capture)
    with Session(engine) as s:
        search.search(s, s.get_one(User, user.id), q)
    engine.dispose()
    return plans[-1] if plans else ""


def write_cost(url: str, users: dict[str, int], n: int) -> tuple[float, float]:
    """Draft edits per second with the index kept, then without (same rows, same edits)."""
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    form = templates.example("mla.evidence")
    rates = []
    with sessions() as s:
        officer = s.get_one(User, users["FR-MJ.officer"])
        ke = s.scalar(text("SELECT id FROM authorities WHERE code = 'KE-ODPP'"))
        drafts = [filing.file_request(s, officer, kind="mla.evidence", requested_authority_id=ke,
                                      legal_basis="untoc", title=f"write {i}", language="en",
                                      data=form) for i in range(n)]
        s.commit()
        for indexed in (True, False):
            if not indexed:
                event.remove(Session, "after_flush", documents._after_flush)
            start = time.perf_counter()
            for i, draft in enumerate(drafts):
                changed = form | {"facts_summary": f"{form['facts_summary']} edit {i} {indexed}"}
                filing.update_draft(s, draft, officer, data=changed,
                                    expected_version=draft.version)
                s.commit()
            rates.append(n / (time.perf_counter() - start))
        documents.install()
    engine.dispose()
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--database", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="search the schema a --keep run left, without seeding")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores shared)")
    hooks.install()
    templates.load_all()
    rng = random.Random(22)
    if args.reuse:
        scoped = make_url(args.database).update_query_dict(
            {"options": f"-csearch_path={SCHEMA}"})
        url = scoped.render_as_string(hide_password=False)
    else:
        url = prepare(args.database, SCHEMA)
    try:
        if not args.reuse:
            start = time.perf_counter()
            seed(url, args.requests, rng)
            print(f"seeded {args.requests:,} requests in {time.perf_counter() - start:.0f} s")
        picked, users = samples(url)
        pairs = queries(picked, rng, args.queries)
        timings, counts = time_queries(url, users, pairs)
        order = sorted(range(len(timings)), key=lambda i: timings[i])
        p95 = timings[order[int(0.95 * (len(order) - 1))]]
        print(f"queries: {len(timings)}, p50 {statistics.median(timings):.1f} ms, "
              f"p95 {p95:.1f} ms, max {timings[order[-1]]:.1f} ms "
              f"(target p95 < 150 ms: {'met' if p95 < 150 else 'NOT met'})")
        print(f"queries with at least one hit: {sum(1 for c in counts if c)}/{len(counts)}")
        kinds = ("liaison: reference digits", "reference", "counterpart reference",
                 "name in Latin", "name in Latin", "surname with a typo", "offence",
                 "words of the facts", "words of the facts", "words of the facts")
        for kind in dict.fromkeys(kinds):
            these = sorted(t for i, t in enumerate(timings) if kinds[i % 10] == kind)
            print(f"  {kind:<26} n={len(these):>3}  p50 {statistics.median(these):6.1f} ms"
                  f"  max {these[-1]:6.1f} ms")
        print("slowest ten:")
        for i in order[-10:]:
            print(f"  {timings[i]:7.1f} ms  {counts[i]:>2} hits  {pairs[i][0]:<16} {pairs[i][1]!r}")
        slowest = order[-1]
        who, q = pairs[slowest]
        print(f"slowest: {who} {q!r}")
        engine = db.make_engine(url)
        with Session(engine) as s:
            user = s.get_one(User, users[who])
            s.expunge(user)
        engine.dispose()
        print(explain(url, user, q))
        if args.writes:
            indexed, bare = write_cost(url, users, args.writes)
            print(f"draft edits/s with the index: {indexed:.0f}, without: {bare:.0f}, "
                  f"ratio {indexed / bare:.1%}")
    finally:
        if not (args.keep or args.reuse):
            drop(args.database, SCHEMA)


if __name__ == "__main__":
    main()
