"""What the suite covers by kind: `pytest -qq --kinds -n 0` collects (runs nothing) and prints a
table of test functions and parametrized cases per kind, so that a thousand template cases do
not read as a thousand behaviours. Every collected test also gets its kind as a marker
(`pytest -m browser`, `-m "not two_instance"`).

A test has one kind, the first of KINDS it qualifies for, judged from the fixtures it uses
(their whole closure) and from what its code, its fixtures' code and the helpers of tests/
they call refer to (the subprocess module, aiosmtpd, http.server, hypothesis...)."""

from __future__ import annotations

import inspect
import types
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import pytest

# (marker, label, what qualifies a test), in order of precedence.
KINDS: list[tuple[str, str, str]] = [
    ("two_instance", "two-instance", "two running instances over real HTTP (fixture `pair`)"),
    ("browser", "browser", "Chromium driven by Playwright (fixture `browser`)"),
    ("fuzz", "fuzz/property", "generated input (schemathesis, hypothesis)"),
    ("real_server", "real-server", "real SMTP (aiosmtpd) or HTTP receivers on loopback"),
    ("cli_subprocess", "CLI subprocess", "runs `python -m cli` in a child process"),
    ("database", "database", "a migrated SQLite or PostgreSQL database"),
    ("unit", "unit", "none of the above: in-process, no database"),
]
TWO_INSTANCE_FIXTURES = {"pair"}
BROWSER_FIXTURES = {"browser"}
DATABASE_FIXTURES = {"db_url", "engine", "session", "world", "api", "pg_engine",
                     "postgresql_base_url", "sqlite_base_url"}
# Modules whose use, anywhere in a test's reach, gives it a kind.
MODULE_SIGNALS = {
    "playwright": "browser",
    "hypothesis": "fuzz",
    "schemathesis": "fuzz",
    "aiosmtpd": "real_server",
    "http.server": "real_server",
    "subprocess": "cli_subprocess",
    "mla.db": "database",
    "alembic": "database",
}
BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("mla").addoption(
        "--kinds", action="store_true", default=False,
        help="collect only, and print how many test functions and cases there are per kind "
             "(unit, database, browser, two-instance, real-server, fuzz, CLI subprocess)")


def pytest_configure(config: pytest.Config) -> None:
    # The markers themselves are registered in pyproject.toml.
    if config.getoption("kinds"):
        config.option.collectonly = True


def _module_of(obj: Any) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    return getattr(obj, "__module__", None) or ""


def _codes(code: types.CodeType) -> Iterable[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


class Reach:
    """The modules and string constants a function reaches: its own code, and transitively
    the functions and classes of tests/ it names (helpers, receivers, fixtures' helpers)."""

    def __init__(self) -> None:
        self._cache: dict[Callable[..., Any], tuple[frozenset[str], frozenset[str]]] = {}

    def of(self, fn: Callable[..., Any]) -> tuple[frozenset[str], frozenset[str]]:
        if fn not in self._cache:
            modules: set[str] = set()
            strings: set[str] = set()
            self._walk(fn, modules, strings, set())
            self._cache[fn] = frozenset(modules), frozenset(strings)
        return self._cache[fn]

    def _walk(self, obj: Any, modules: set[str], strings: set[str], seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if inspect.isclass(obj):
            for member in vars(obj).values():
                if isinstance(member, staticmethod | classmethod):
                    member = member.__func__
                if isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member) or inspect.isclass(member):
                    self._walk(member, modules, strings, seen)
            return
        fn = inspect.unwrap(obj)
        code = getattr(fn, "__code__", None)
        if code is None:
            return
        scope = getattr(fn, "__globals__", {})
        for c in _codes(code):
            strings.update(s for s in c.co_consts if isinstance(s, str))
            for name in c.co_names:
                if name not in scope:
                    continue
                target = scope[name]
                module = _module_of(target)
                modules.add(module)
                if module.startswith("tests.") and (inspect.isfunction(target)
                                                    or inspect.isclass(target)):
                    self._walk(target, modules, strings, seen)


def _signals(modules: Iterable[str]) -> set[str]:
    found = set()
    for module in modules:
        for prefix, kind in MODULE_SIGNALS.items():
            if module == prefix or module.startswith(prefix + "."):
                found.add(kind)
    return found


def _fixture_functions(item: pytest.Function) -> list[Callable[..., Any]]:
    info = getattr(item, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", {}) if info is not None else {}
    return [d.func for fixturedefs in defs.values() for d in fixturedefs]


def classify(item: pytest.Item, reach: Reach) -> tuple[str, set[str]]:
    """(kind, database backends the test touches)."""
    fixtures = set(getattr(item, "fixturenames", ()))
    functions = [getattr(item, "obj", None), *_fixture_functions(item)]  # type: ignore[arg-type]
    modules: set[str] = set()
    strings: set[str] = set()
    for fn in functions:
        if fn is not None:
            m, s = reach.of(fn)
            modules |= m
            strings |= s
    signals = _signals(modules)
    if fixtures & TWO_INSTANCE_FIXTURES:
        signals.add("two_instance")
    if fixtures & BROWSER_FIXTURES:
        signals.add("browser")
    if fixtures & DATABASE_FIXTURES:
        signals.add("database")

    backends: set[str] = set()
    params = getattr(getattr(item, "callspec", None), "params", {})
    backends.update(v for v in params.values() if isinstance(v, str) and v in BACKENDS)
    if not backends:
        if fixtures & {"pg_engine", "postgresql_base_url"}:
            backends.add("postgresql")
        if "sqlite_base_url" in fixtures or any("sqlite:" in s for s in strings):
            backends.add("sqlite")
        if fixtures & TWO_INSTANCE_FIXTURES:  # FR on SQLite, KE on PostgreSQL when reachable
            backends.update(BACKENDS)
    if backends:
        signals.add("database")
    kind = next(marker for marker, _, _ in KINDS if marker in signals or marker == "unit")
    return kind, backends if "database" in signals else set()


class Tally:
    def __init__(self) -> None:
        self.functions: dict[str, set[str]] = defaultdict(set)
        self.cases: dict[str, int] = defaultdict(int)
        self.backend_cases: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, item: pytest.Item, kind: str, backends: set[str]) -> None:
        self.functions[kind].add(item.nodeid.split("[", 1)[0])
        self.cases[kind] += 1
        for backend in backends:
            self.backend_cases[kind, backend] += 1

    def table(self) -> list[str]:
        lines = ["| kind | test functions | cases | cases on SQLite | cases on PostgreSQL |",
                 "|---|---:|---:|---:|---:|"]
        total_functions: set[str] = set()
        for marker, label, _ in KINDS:
            total_functions |= self.functions[marker]
            lines.append(f"| {label} | {len(self.functions[marker])} | {self.cases[marker]} | "
                         f"{self.backend_cases[marker, 'sqlite']} | "
                         f"{self.backend_cases[marker, 'postgresql']} |")
        sqlite = sum(n for (_, b), n in self.backend_cases.items() if b == "sqlite")
        postgres = sum(n for (_, b), n in self.backend_cases.items() if b == "postgresql")
        lines.append(f"| **total** | {len(total_functions)} | {sum(self.cases.values())} | "
                     f"{sqlite} | {postgres} |")
        return lines


_TALLY_KEY = pytest.StashKey[Tally]()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reach = Reach()
    tally = Tally()
    for item in items:
        kind, backends = classify(item, reach)
        item.add_marker(kind)
        tally.add(item, kind, backends)
    config.stash[_TALLY_KEY] = tally


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not config.getoption("kinds") or _TALLY_KEY not in config.stash:
        return
    terminalreporter.section("tests by kind (tests/kinds.py)")
    for line in config.stash[_TALLY_KEY].table():
        terminalreporter.write_line(line)
