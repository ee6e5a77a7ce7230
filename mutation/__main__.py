"""Mutation testing of the security- and law-critical modules, one scoped session per module:

    python -m mutation [MODULE ...] [--sample N] [--seed S] [--postgres] [--resume] [--list]

MODULE is a path (`mla/access.py`) or its tail (`access`, `requests/lifecycle`); none means
every module of mutation/modules.toml. Each module is mutated by cosmic-ray and, per mutant,
only its own tests run (modules.toml), stopping at the first failure.

It works on a snapshot of the tree in mutation/work/ (cosmic-ray rewrites the file under test in
place; the working tree, and whoever runs tests in it, never sees a mutant), put first on
PYTHONPATH so that the `python -m cli` processes and servers the tests start import the mutant
too. By default only the SQLite runs: MLA_TEST_POSTGRES_URL points nowhere, CI is unset (so
PostgreSQL runs skip instead of failing) and `-k "not postgresql"` drops the PostgreSQL
parametrizations; `--postgres` keeps them (slower; needed to judge PostgreSQL-only code such as
audit's pipelined append).

Prints killed / timeout / survived / total per module; mutation/report.md (git-ignored) has the
same table, the settings and every surviving mutant's diff. Not run by CI: it takes tens of
minutes (CONTRIBUTING.md has the last timings)."""

from __future__ import annotations

import argparse
import ast
import fcntl
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import ceil
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
TREE = WORK / "tree"
PRISTINE = WORK / "pristine"
REPORT = HERE / "report.md"
# docs/: the transfer tests read the protocol's conformance vectors from docs/transfer-vectors.
SNAPSHOT = ["mla", "api", "cli", "workflows", "migrations", "templates", "tests", "docs",
            "alembic.ini", "pyproject.toml"]
# Port 1 refuses at once: the PostgreSQL fixtures skip without waiting for a timeout.
NO_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/mutation-runs-sqlite-only"
BIN = Path(sys.executable).parent
NOT_SAMPLED = "not in the sample"


@dataclass
class Module:
    path: str
    tests: list[str]
    keyword: str | None = None
    timeout: float | None = None
    note: str = ""


@dataclass
class Outcome:
    module: str
    generated: int = 0
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    incompetent: int = 0
    not_sampled: int = 0
    excluded: int = 0
    seconds: float = 0.0
    baseline_seconds: float = 0.0
    problem: str = ""
    survivors: list[tuple[str, str]] = field(default_factory=list)  # (where, diff)

    @property
    def tested(self) -> int:
        return self.killed + self.timeout + self.survived

    @property
    def score(self) -> str:
        if not self.tested:
            return "-"
        return f"{100 * (self.killed + self.timeout) / self.tested:.0f}%"


def load_config() -> tuple[dict[str, Module], list[str]]:
    data = tomllib.loads((HERE / "modules.toml").read_text("utf-8"))
    modules = {path: Module(path=path, **spec) for path, spec in data["modules"].items()}
    return modules, list(data.get("exclude-operators", []))


def select(modules: dict[str, Module], wanted: list[str]) -> list[Module]:
    if not wanted:
        return list(modules.values())
    chosen = []
    for name in wanted:
        stem = name.removesuffix(".py")
        matches = [m for p, m in modules.items()
                   if p == name or p.removesuffix(".py").endswith(stem)]
        if not matches:
            sys.exit(f"no module {name!r} in mutation/modules.toml; known: {', '.join(modules)}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def snapshot() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    TREE.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db")
    for name in SNAPSHOT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, TREE / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, TREE / name)
    shutil.copytree(TREE / "mla", PRISTINE / "mla")


def environment(postgres: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CI", None)  # an unreachable PostgreSQL must skip, not fail the run
    env.pop("MLA_DATABASE_URL", None)
    # hypothesis' and schemathesis' pytest plugins cost seconds per mutant and no scoped test
    # needs them (tests/security/test_fuzz.py imports them itself and is not in scope).
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if not postgres:
        env["MLA_TEST_POSTGRES_URL"] = NO_POSTGRES
    # The snapshot before the editable install's finder, in this process's children and theirs.
    env["PYTHONPATH"] = os.pathsep.join([str(TREE), *filter(None, [env.get("PYTHONPATH")])])
    return env


def test_command(module: Module, postgres: bool) -> list[str]:
    keyword = [k for k in (module.keyword and f"({module.keyword})",
                           None if postgres else "not postgresql") if k]
    # xdist loaded by hand (autoload is off): pyproject's addopts pass it `-n auto`.
    command = [sys.executable, "-m", "pytest", "-x", "-q", "--no-header", "-p", "no:cacheprovider",
               "-p", "xdist.plugin", "-n", "0"]
    if keyword:
        command += ["-k", " and ".join(keyword)]
    return command + [t for t in module.tests if (TREE / t.split("::")[0]).exists()]


def cosmic_ray(*args: str, env: dict[str, str], log: Path | None = None,
               cwd: Path = TREE) -> int:
    with (log.open("a") if log else open(os.devnull, "w")) as out:
        return subprocess.call([str(BIN / "cosmic-ray"), *args], cwd=cwd, env=env, stdout=out,
                               stderr=subprocess.STDOUT)


def annotations(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the annotations of a module under `from __future__ import annotations` are: text
    never evaluated, so a mutant there (`int | None` -> `int & None`) changes nothing."""
    tree = ast.parse(path.read_text("utf-8"))
    if not any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
               and any(alias.name == "annotations" for alias in node.names)
               for node in tree.body):
        return []
    spans = []
    for node in ast.walk(tree):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node.returns)
        elif isinstance(node, ast.arg | ast.AnnAssign):
            found.append(node.annotation)
        spans += [((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0))
                  for a in found if a is not None]
    return spans


def choose(session: Path, module: Path, excluded: list[str], sample: int | None,
           seed: int) -> int:
    """Marks as skipped the mutants of excluded operators and of annotations, and all but a
    seeded sample of the rest; the number of mutants left to run."""
    spans = annotations(module)
    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = sorted(db.pending_work_items, key=lambda item: [
            (str(m.module_path), m.start_pos, m.operator_name, m.occurrence)
            for m in item.mutations])
        keep = []
        for item in pending:
            if any(re.fullmatch(pattern, m.operator_name)
                   for m in item.mutations for pattern in excluded):
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                      output="operator excluded"))
            elif any(start <= tuple(m.start_pos) <= end
                     for m in item.mutations for start, end in spans):
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                      output="annotation, never evaluated"))
            else:
                keep.append(item)
        if sample is not None and len(keep) > sample:
            chosen = {item.job_id for item in random.Random(seed).sample(keep, sample)}
            for item in keep:
                if item.job_id not in chosen:
                    db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                          output=NOT_SAMPLED))
            keep = [item for item in keep if item.job_id in chosen]
        return len(keep)


def tally(session: Path, outcome: Outcome) -> None:
    with use_db(str(session), WorkDB.Mode.open) as db:
        outcome.generated = db.num_work_items
        outcome.not_sampled = len(db.pending_work_items)  # an interrupted run
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                if result.output == NOT_SAMPLED:
                    outcome.not_sampled += 1
                else:
                    outcome.excluded += 1
            elif result.worker_outcome != WorkerOutcome.NORMAL:
                outcome.incompetent += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                outcome.survived += 1
                m = item.mutations[0]
                where = f"line {m.start_pos[0]}, {m.operator_name} #{m.occurrence}"
                outcome.survivors.append((where, result.diff or ""))
            elif result.test_outcome == TestOutcome.INCOMPETENT:
                outcome.incompetent += 1
            elif result.output == "timeout":
                outcome.timeout += 1
            else:
                outcome.killed += 1
        outcome.survivors.sort(key=lambda s: int(s[0].split(",")[0].split()[1]))


def run_module(module: Module, args: argparse.Namespace, excluded: list[str],
               env: dict[str, str]) -> Outcome:
    outcome = Outcome(module.path)
    if not (TREE / module.path).exists():
        outcome.problem = "not in the tree (yet)"
        return outcome
    folder = WORK / module.path.replace("/", "_").removesuffix(".py")
    folder.mkdir(parents=True, exist_ok=True)
    session, config, log = folder / "session.sqlite", folder / "cosmic-ray.toml", folder / "log"
    # A run killed mid-mutant leaves the mutant on disk: always start from the pristine copy.
    shutil.copy2(PRISTINE / module.path, TREE / module.path)
    command = test_command(module, args.postgres)

    started = time.monotonic()
    baseline = subprocess.run(command, cwd=TREE, env=env, capture_output=True, text=True)
    outcome.baseline_seconds = time.monotonic() - started
    if baseline.returncode != 0:
        outcome.problem = ("tests fail without any mutant:\n"
                           + "\n".join((baseline.stdout + baseline.stderr).splitlines()[-25:]))
        return outcome
    # Mutants are compiled fresh (cosmic-ray sets PYTHONDONTWRITEBYTECODE); a cached .pyc of
    # the original with the same size and second would hide them.
    for cached in (TREE / module.path).parent.glob(f"__pycache__/{Path(module.path).stem}.*"):
        cached.unlink()
    timeout = module.timeout or max(60, ceil(2 * outcome.baseline_seconds + 30))
    config.write_text("\n".join([
        "[cosmic-ray]",
        f'module-path = "{module.path}"',
        f"timeout = {float(timeout)}",
        "excluded-modules = []",
        f"test-command = {json.dumps(shlex.join(command))}",
        "",
        "[cosmic-ray.distributor]",
        'name = "local"',
        ""]), "utf-8")

    if not (args.resume and session.exists()):
        session.unlink(missing_ok=True)
        if cosmic_ray("init", str(config), str(session), env=env, log=log) != 0:
            outcome.problem = f"cosmic-ray init failed, see {log}"
            return outcome
        to_run = choose(session, TREE / module.path, excluded, args.sample, args.seed)
    else:
        with use_db(str(session), WorkDB.Mode.open) as db:
            to_run = len(db.pending_work_items)
    print(f"{module.path}: {to_run} mutants to run, tests {outcome.baseline_seconds:.0f} s "
          f"unmutated, timeout {timeout} s", flush=True)

    started = time.monotonic()
    proc = subprocess.Popen([str(BIN / "cosmic-ray"), "exec", str(config), str(session)],
                            cwd=TREE, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT)
    try:
        while proc.poll() is None:
            time.sleep(20)
            with use_db(str(session), WorkDB.Mode.open) as db:
                left = len(db.pending_work_items)
            print(f"  {module.path}: {to_run - left}/{to_run} "
                  f"({(time.monotonic() - started) / 60:.1f} min)", flush=True)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
        shutil.copy2(PRISTINE / module.path, TREE / module.path)
    outcome.seconds = time.monotonic() - started
    tally(session, outcome)
    return outcome


def table(outcomes: list[Outcome]) -> list[str]:
    lines = ["| module | killed | timeout | survived | total | score | not run (sample) "
             "| excluded | incompetent | minutes |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        if o.problem:
            lines.append(f"| `{o.module}` | {o.problem.splitlines()[0]} |||||||||")
            continue
        lines.append(f"| `{o.module}` | {o.killed} | {o.timeout} | {o.survived} | {o.tested} | "
                     f"{o.score} | {o.not_sampled} | {o.excluded} | {o.incompetent} | "
                     f"{o.seconds / 60:.1f} |")
    return lines


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip()


def write_report(outcomes: list[Outcome], args: argparse.Namespace, modules: dict[str, Module],
                 excluded: list[str], started: datetime) -> None:
    dirty = " plus uncommitted changes" if git("status", "--porcelain", "--", *SNAPSHOT) else ""
    lines = [
        f"# Mutation testing, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `python -m mutation {' '.join(sys.argv[1:])}`; tree: "
        f"{git('rev-parse', '--short', 'HEAD') or '?'}{dirty}.",
        f"Databases: {'SQLite and PostgreSQL' if args.postgres else 'SQLite only'}. "
        f"Sample: {f'{args.sample} mutants per module (seed {args.seed})' if args.sample else 'all mutants'}. "  # noqa: E501
        f"Excluded operators: {', '.join(excluded) or 'none'}.",
        "Score = (killed + timeout) / total, total = killed + timeout + survived. *not run* are "
        "mutants outside the sample; *excluded* are those of excluded operators "
        "(mutation/modules.toml) or inside annotations (never evaluated).",
        "",
        *table(outcomes),
        "",
    ]
    for o in outcomes:
        m = modules[o.module]
        tests = shlex.join(test_command(m, args.postgres)[3:])
        lines += [f"## `{o.module}`", "",
                  f"Tests: `pytest {tests}`; unmutated {o.baseline_seconds:.0f} s.", ""]
        if m.note:
            lines += [m.note, ""]
        if o.problem:
            lines += ["```", o.problem, "```", ""]
            continue
        lines += [f"{len(o.survivors)} surviving mutant(s).", ""]
        for where, diff in o.survivors:
            lines += [f"### {where}", "", "```diff", diff.strip(), "```", ""]
    REPORT.write_text("\n".join(lines), "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mutation",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help="a path of mutation/modules.toml or its tail; none: all")
    parser.add_argument("--sample", type=int, default=None,
                        help="run at most N mutants per module, a seeded random sample")
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument("--postgres", action="store_true",
                        help="also run the PostgreSQL cases (MLA_TEST_POSTGRES_URL)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the snapshot and sessions of the last run; run what is left")
    parser.add_argument("--list", action="store_true",
                        help="count the mutants of each module, run nothing")
    args = parser.parse_args()
    modules, excluded = load_config()
    chosen = select(modules, args.modules)
    env = environment(args.postgres)
    if args.list:  # parsing only: the working tree itself, in place
        with tempfile.TemporaryDirectory() as folder:
            config, session = Path(folder) / "cosmic-ray.toml", Path(folder) / "session.sqlite"
            for module in chosen:
                if not (ROOT / module.path).exists():
                    print(f"{module.path}: not in the tree (yet)")
                    continue
                config.write_text(f'[cosmic-ray]\nmodule-path = "{module.path}"\ntimeout = 1.0\n'
                                  'excluded-modules = []\ntest-command = "true"\n', "utf-8")
                session.unlink(missing_ok=True)
                cosmic_ray("init", str(config), str(session), env=env, cwd=ROOT)
                count = choose(session, ROOT / module.path, excluded, None, args.seed)
                print(f"{module.path}: {count} mutants")
        return
    # One run at a time: a second would wipe the first one's snapshot under it.
    lock = open(__file__)  # noqa: SIM115 (held until the process ends)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit("another `python -m mutation` is running")
    if not (args.resume and TREE.exists()):
        snapshot()

    started = datetime.now(UTC)
    outcomes = []
    for module in chosen:
        outcomes.append(run_module(module, args, excluded, env))
        write_report(outcomes, args, modules, excluded, started)
    print()
    print("\n".join(table(outcomes)))
    print(f"\nSurviving mutants and their diffs: {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
