"""Every `mla` command, given a user's mistake (a database unreachable or without tables, a
missing file, a number out of range, a bad value), ends with one line on stderr saying what
is wrong, a non-zero exit status and no traceback (issue #17). The commands are found by
walking the `mla` group, so a new command is covered without anyone adding it here; each
gets at least one mistake, chosen from its parameters."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

from cli.main import main
from mla import db

MLA = [sys.executable, "-m", "cli"]
PG_UNREACHABLE = "postgresql+psycopg://mla@127.0.0.1:1/nowhere"

# Reaches the database of MLA_DATABASE_URL without a --database option of its own.
DATABASE_FROM_ENVIRONMENT = {"serve"}
# A database without tables is no mistake for these: they migrate it (or, restore, fill it
# from a backup).
MIGRATES = {"demo", "db upgrade", "restore"}
# Fetches from another instance before it touches the database.
NETWORK_FIRST = {"peers add"}
# Values for required parameters, so that the mistake is what the command stops at.
SAMPLES = {
    "authority_code": "FR-MJ", "authority": "FR-MJ", "username": "fr.officer",
    "full_name": "Camille Martin", "kind": "mla.evidence", "network": "national",
    "code": "KE-ODPP", "url": "http://127.0.0.1:1", "country": "FR", "name": "Ministry",
    "timezone": "Europe/Paris", "languages": "fr,en", "kid": "kid-1", "month": "2026-01",
    "measure": "mla.evidence",
}
DATABASE_MISTAKES = ("no tables", "unreachable sqlite", "unreachable postgresql")


@dataclass
class Leaf:
    """A command a user runs: its names from the `mla` group down, with the commands."""

    names: tuple[str, ...]
    commands: tuple[click.Command, ...]

    @property
    def path(self) -> str:
        return " ".join(self.names)

    def params(self) -> Iterator[click.Parameter]:
        for command in self.commands:
            yield from command.params

    @property
    def uses_database(self) -> bool:
        return self.path in DATABASE_FROM_ENVIRONMENT or \
            any(p.name == "database" for p in self.params())


def leaves(group: click.Group, above: tuple[click.Command, ...] = (),
           names: tuple[str, ...] = ()) -> Iterator[Leaf]:
    for name, command in sorted(group.commands.items()):
        chain, path = (*above, command), (*names, name)
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                yield Leaf(path, chain)
            yield from leaves(command, chain, path)
        else:
            yield Leaf(path, chain)


@dataclass
class Case:
    leaf: Leaf
    mistake: str
    bad: dict[str, str] = field(default_factory=dict)  # parameter name -> value
    database: str = "migrated"  # or one of DATABASE_MISTAKES
    extra: tuple[str, ...] = ()  # appended to the command line
    expect: str = ""  # in the message

    @property
    def id(self) -> str:
        return f"{self.leaf.path}: {self.mistake}"


def _range_mistake(param: click.Parameter) -> str | None:
    kind = param.type
    if isinstance(kind, click.IntRange | click.FloatRange):
        if kind.min is not None:
            return str(kind.min - 1) if not kind.min_open else str(kind.min)
        if kind.max is not None:
            return str(kind.max + 1)
    return None


def cases() -> list[Case]:
    found = []
    database_turn = 0
    for leaf in leaves(main):
        mine: list[Case] = []
        if leaf.uses_database:
            kinds = [k for k in DATABASE_MISTAKES
                     if not (k == "no tables" and leaf.path in MIGRATES)]
            kind = kinds[database_turn % len(kinds)]
            database_turn += 1
            expect = "" if leaf.path in NETWORK_FIRST else \
                ("mla db upgrade" if kind == "no tables" else "cannot connect to database")
            mine.append(Case(leaf, f"database: {kind}", database=kind, expect=expect))
        # Files and numbers of the command itself (its group's are the group's mistakes).
        own = leaf.commands[-1].params
        files = [p for p in own if isinstance(p.type, click.Path)]
        for param in files[:1]:
            if getattr(param.type, "exists", False):
                mine.append(Case(leaf, f"missing file {param.name}",
                                 bad={param.name: "{tmp}/missing.yaml"},
                                 expect="does not exist"))
            else:  # a file or directory to write, under a regular file
                mine.append(Case(leaf, f"unwritable {param.name}",
                                 bad={param.name: "{tmp}/regular-file/out"},
                                 expect="regular-file"))
        numbers = [(p, v) for p in own if (v := _range_mistake(p)) is not None]
        for param, value in numbers[:1]:
            mine.append(Case(leaf, f"{param.name} out of range", bad={param.name: value},
                             expect="is not in the range"))
        if not mine:
            required = [p for p in leaf.params() if p.required]
            if required:
                mine.append(Case(leaf, f"unknown {required[0].name}",
                                 bad={required[0].name: "nope"}, expect="nope"))
            else:
                mine.append(Case(leaf, "unexpected argument", extra=("nope",),
                                 expect="unexpected extra argument"))
        found += mine
    return [
        *found,
        # The mistakes issue #17 reported as tracebacks, as they were typed.
        Case(_leaf("db upgrade"), "database: unreachable postgresql, reported",
             database="unreachable postgresql", expect="cannot connect to database"),
        Case(_leaf("users add"), "database: no tables, reported", database="no tables",
             expect="run `mla db upgrade`"),
        Case(_leaf("templates validate"), "missing file, reported",
             bad={"form": "missing.yaml"}, expect="does not exist"),
        Case(_leaf("serve"), "port 99999", bad={"port": "99999"},
             expect="is not in the range"),
        Case(_leaf("db upgrade"), "unknown revision", bad={"revision": "nope"},
             expect="Can't locate revision"),
        Case(_leaf("serve"), "database at an older revision", database="0009",
             expect="is at revision 0009, not at the migrations' head"),
        Case(_leaf("stats unseal"), "bad month", bad={"month": "2026-13"},
             expect="YYYY-MM"),
        Case(_leaf("oncall who"), "bad instant", bad={"at": "yesterday"},
             expect="ISO instant"),
        Case(_leaf("keys list"), "not a database URL", bad={"database": "postgres://x/y"},
             expect="not a database URL"),
    ]


def _leaf(path: str) -> Leaf:
    return next(leaf for leaf in leaves(main) if leaf.path == path)


def _value(param: click.Parameter) -> str:
    if isinstance(param.type, click.Path):
        return "{tmp}/form.json"  # there, and an empty object
    if isinstance(param.type, click.Choice):
        return str(param.type.choices[0])
    if isinstance(param.type, click.types.UUIDParameterType):
        return str(uuid.UUID(int=1))
    if isinstance(param.type, click.types.IntParamType | click.types.FloatParamType):
        return "1"
    return SAMPLES.get(param.name or "", "x")


def command_line(case: Case, database: str, tmp: Path) -> list[str]:
    args: list[str] = []
    for name, command in zip(case.leaf.names, case.leaf.commands, strict=True):
        args.append(name)
        options: list[str] = []
        arguments: list[str] = []
        for param in command.params:
            name_ = param.name or ""
            if name_ in case.bad:
                value = case.bad[name_].format(tmp=tmp)
            elif name_ == "database":
                value = database
            elif param.required:
                value = _value(param).format(tmp=tmp)
            else:
                continue
            if isinstance(param, click.Argument):
                arguments.append(value)
            else:
                options += [param.opts[0], value]
        args += options + arguments
    return args + list(case.extra)


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, tuple[list[str], subprocess.CompletedProcess[str]]]:
    """Runs the selected cases, two or more at a time: each is a fresh interpreter that
    spends most of its time importing."""
    selected = {item.callspec.id for item in request.session.items
                if item.originalname == "test_a_mistake_is_one_line_not_a_traceback"}
    migrated = f"sqlite:///{tmp_path_factory.mktemp('migrated') / 'mla.db'}"
    db.upgrade(migrated)
    older = f"sqlite:///{tmp_path_factory.mktemp('older') / 'mla.db'}"
    db.upgrade(older, "0009")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLA_")}

    def run(case: Case) -> tuple[list[str], subprocess.CompletedProcess[str]]:
        tmp = tmp_path_factory.mktemp("case")
        (tmp / "regular-file").write_text("not a directory")
        (tmp / "form.json").write_text("{}")
        database = {"migrated": migrated, "0009": older,
                    "no tables": f"sqlite:///{tmp / 'empty.db'}",
                    "unreachable sqlite": f"sqlite:///{tmp / 'no-such-dir' / 'mla.db'}",
                    "unreachable postgresql": PG_UNREACHABLE}[case.database]
        args = command_line(case, database, tmp)
        return args, subprocess.run([*MLA, *args], cwd=tmp, capture_output=True, text=True,
                                    timeout=300, stdin=subprocess.DEVNULL,
                                    env={**environment, "MLA_DATABASE_URL": database})

    chosen = [case for case in ALL if case.id in selected]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return dict(zip((c.id for c in chosen), pool.map(run, chosen), strict=True))


ALL = list({c.id: c for c in cases()}.values())


def test_every_command_gets_a_mistake() -> None:
    assert {leaf.path for leaf in leaves(main)} == {case.leaf.path for case in ALL}
    # The walk reaches the nested groups and the groups that are commands themselves.
    assert {"users add", "stats", "stats seal", "serve", "templates validate"} <= \
        {leaf.path for leaf in leaves(main)}


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_a_mistake_is_one_line_not_a_traceback(
        case: Case, outcomes: dict[str, tuple[list[str], subprocess.CompletedProcess[str]]]
) -> None:
    args, result = outcomes[case.id]
    where = f"mla {' '.join(args)}\n{result.stderr}"
    assert result.returncode != 0, where
    assert "Traceback" not in result.stderr, where
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, where
    assert case.expect in result.stderr, where
