"""`mla templates ...`: look at, export and try out the universal request templates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from mla import templates as t
from mla.errors import DomainError

VERSION = click.IntRange(min=1)


def _load(kind: str) -> None:
    try:
        t.load_all()
        t.get(kind)
    except t.TemplateError as exc:
        raise click.ClickException(str(exc)) from None
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None


def _read_form(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    try:
        return yaml.safe_load(text) if not text.lstrip().startswith("{") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path}: not JSON or YAML: {exc}") from None


@click.group()
def templates() -> None:
    """Universal request templates (templates/requests/)."""


@templates.command("list")
def list_() -> None:
    """Kinds, their template versions and titles."""
    from cli.output import table

    try:
        loaded = t.load_all()
    except t.TemplateError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [(kind, ", ".join(map(str, sorted(tpl.versions))), tpl.title["en"])
            for kind, tpl in sorted(loaded.items())]
    click.echo(table(("kind", "versions", "title"), rows))


@templates.command()
def forms() -> None:
    """Official EU forms (templates/requests/forms/): the kinds filed on each and the share
    of the annex's boxes the engine fills (the README's coverage table)."""
    from cli.output import table

    try:
        loaded = t.load_all()
    except t.TemplateError as exc:
        raise click.ClickException(str(exc)) from None
    rows = []
    for form_id, form in sorted(t.forms().items()):
        filed = [f"{kind} v{n}" for kind, tpl in sorted(loaded.items())
                 for n, v in sorted(tpl.versions.items()) if v.form == form_id]
        mapped, total = form.coverage()
        rows.append((form_id, f"{form.instrument}, {form.annex}",
                     ", ".join(filed) or "(no template)", f"{mapped} of {total}",
                     f"{100 * mapped // total} %"))
    click.echo(table(("form", "annex", "filed as", "boxes mapped", "coverage"), rows))


@templates.command()
@click.argument("kind")
@click.option("--version", type=VERSION, help="Template version (default: latest).")
def schema(kind: str, version: int | None) -> None:
    """Print the JSON Schema of KIND."""
    _load(kind)
    try:
        click.echo(json.dumps(t.json_schema(kind, version), indent=2, ensure_ascii=False))
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None


@templates.command()
@click.argument("kind")
@click.option("--version", type=VERSION)
def example(kind: str, version: int | None) -> None:
    """Print a complete example form of KIND as JSON."""
    _load(kind)
    click.echo(json.dumps(t.example(kind, version), indent=2, ensure_ascii=False))


@templates.command()
@click.argument("kind")
@click.argument("form", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--version", type=VERSION)
@click.option("--draft", is_flag=True, help="Accept a partly filled form.")
def validate(kind: str, form: str, version: int | None, draft: bool) -> None:
    """Check FORM (JSON or YAML file, - for stdin) against KIND; exit 1 listing every problem."""
    _load(kind)
    problems = t.validate(kind, _read_form(form), version, complete=not draft)
    for p in problems:
        click.echo(f"{p.path}: {p.message}")
    if problems:
        raise SystemExit(1)
    click.echo("valid")


@templates.command()
@click.argument("kind")
@click.argument("form", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--version", type=VERSION)
@click.option("--language", default="en", show_default=True)
@click.option("--format", "fmt", type=click.Choice(sorted(t.FORMATS)), default="md",
              show_default=True)
def render(kind: str, form: str, version: int | None, language: str, fmt: str) -> None:
    """Render FORM as a document with labels in LANGUAGE."""
    _load(kind)
    try:
        click.echo(t.render(kind, _read_form(form), version=version, language=language, fmt=fmt),
                   nl=False)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
