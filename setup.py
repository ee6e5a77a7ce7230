"""Builds the package with its translation catalogs compiled: every
mla/locale/<lang>/LC_MESSAGES/messages.po becomes messages.mo next to it in the build (wheel,
sdist install), written there only, never into the source tree (the metadata is in
pyproject.toml). A source checkout or an editable install needs no build: mla.i18n compiles a
missing or stale catalog in memory, once per process."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py


def compile_catalogs(source: Path, build_lib: Path) -> list[Path]:
    """messages.mo for each messages.po under `source`, at the same place under `build_lib`
    (fuzzy entries left out, as `pybabel compile` does)."""
    written = []
    for po in sorted(source.glob("mla/locale/*/LC_MESSAGES/*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parent.parent.name)
        mo = build_lib / po.relative_to(source).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        written.append(mo)
    return written


class build_py_with_catalogs(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            compile_catalogs(Path(__file__).parent, Path(self.build_lib))


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import it
    setup(cmdclass={"build_py": build_py_with_catalogs})
