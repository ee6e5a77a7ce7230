"""Builds the package with its translation catalogs compiled: every
mla/locale/<lang>/LC_MESSAGES/messages.po becomes messages.mo in the wheel (the metadata is
in pyproject.toml). A source checkout needs no build: mla.i18n compiles a missing or stale
catalog in memory on first use."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_catalogs(build_py):
    def run(self) -> None:
        for po in Path(__file__).parent.glob("mla/locale/*/LC_MESSAGES/*.po"):
            with po.open("rb") as f:
                catalog = read_po(f, locale=po.parent.parent.name)
            with po.with_suffix(".mo").open("wb") as f:
                write_mo(f, catalog, use_fuzzy=False)
        super().run()


setup(cmdclass={"build_py": build_py_with_catalogs})
