"""The wiring every entry point shares: hooks installed explicitly, one settings object."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.app import create_app
from cli import worker
from cli.main import main
from mla import db, hooks, settings
from mla.deadlines import escalation
from mla.models import Request
from mla.requests import lifecycle
from tests.conftest import World
from tests.lifecycle_helpers import new_request

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def unwired(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As a fresh process is before its entry point runs: no hooks at all."""
    monkeypatch.setattr(lifecycle, "_hooks", None)
    monkeypatch.setattr(escalation, "_alert_hooks", None)
    yield


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'wired.db'}"
    db.upgrade(url)
    made = db.make_engine(url)
    yield made
    made.dispose()


def _hook_modules() -> set[str]:
    return {hook.__module__ for hook in lifecycle.installed_hooks() or ()}


ENTRY_POINTS: dict[str, Callable[[Engine], object]] = {
    "api": lambda engine: create_app(str(engine.url)),
    "cli": lambda engine: CliRunner().invoke(main, ["workflows", "list"], catch_exceptions=False),
    "worker": lambda engine: worker.run(engine, once=True),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_every_entry_point_installs_deadline_paging_and_transfer_hooks(
        entry: str, unwired: None, sqlite_engine: Engine) -> None:
    assert lifecycle.installed_hooks() is None
    ENTRY_POINTS[entry](sqlite_engine)
    assert _hook_modules() == {"mla.deadlines.service", "mla.oncall.paging",
                               "mla.transfer.outbox", "mla.mail.outbox", "mla.ops.metrics"}
    assert {h.__module__ for h in escalation.installed_alert_hooks() or ()} == \
        {"mla.oncall.paging"}


def test_a_transition_without_the_hooks_fails_and_stores_nothing(
        unwired: None, session: Session, world: World) -> None:
    """Forgetting `hooks.install()` must not commit a state change without its deadlines."""
    with pytest.raises(RuntimeError, match=r"hooks.install\(\)"):
        new_request(session, world, "mla.evidence")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Request)) == 0


def test_hooks_install_is_idempotent() -> None:
    hooks.install()
    first = lifecycle.installed_hooks()
    hooks.install()
    assert lifecycle.installed_hooks() == first and len(first or ()) == len(hooks.TRANSITION_HOOKS)


def test_no_domain_module_reads_the_environment_itself() -> None:
    """Every MLA_* variable goes through mla/settings.py."""
    offenders = [str(p.relative_to(ROOT)) for folder in ("mla", "api", "workflows")
                 for p in (ROOT / folder).rglob("*.py")
                 if p.name != "settings.py" and re.search(r"os\.environ|getenv\(",
                                                          p.read_text("utf-8"))]
    assert offenders == []


def test_readme_configuration_table_is_the_settings_object() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert settings.markdown_table() in readme
    documented = set(re.findall(r"`(MLA_[A-Z0-9_]+)`", readme.split("## Configuration")[1]
                                .split("\n## ")[0]))
    assert documented == {name for name, _, _ in settings.variables()}


def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLA_TRANSFER_CONCURRENCY", "many")
    with pytest.raises(settings.SettingsError, match=r"^MLA_TRANSFER_CONCURRENCY='many': "):
        settings.get()
    monkeypatch.setenv("MLA_TRANSFER_CONCURRENCY", "3")
    assert settings.get().transfer_concurrency == 3
