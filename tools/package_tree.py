"""Build ``build/package-tree/agentotel/``: the ``agentotel`` namespace as one directory, for static tools.

The repository root holds the design card's folders, mapped onto ``agentotel.*`` by setuptools'
``package-dir``. Importing works (regular and editable installs), but tools that read the source tree
(import-linter's grimp, mypy) look for ``agentotel/warehouse/…`` on disk. This mirrors the mapping
with one symlink per source file, so their reports name the real files' contents, and is rebuilt from
scratch on every run (cheap: a few hundred links).

Usage: ``python tools/package_tree.py`` → prints the directory to put on ``PYTHONPATH`` / ``MYPYPATH``.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "package-tree"
SOURCE_SUFFIXES = (".py", ".pyi", ".typed")


def package_dirs() -> dict[str, Path]:
    """``{"agentotel.warehouse": <root>/warehouse, …}`` from pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        mapping = tomllib.load(fh)["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in mapping.items()}


def build() -> Path:
    if TREE.exists():
        shutil.rmtree(TREE)
    for package, folder in sorted(package_dirs().items()):
        target = TREE.joinpath(*package.split("."))
        for source in folder.rglob("*"):
            if source.suffix not in SOURCE_SUFFIXES or "__pycache__" in source.parts:
                continue
            link = target / source.relative_to(folder)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source)
    return TREE


if __name__ == "__main__":
    print(build())
    sys.exit(0)
