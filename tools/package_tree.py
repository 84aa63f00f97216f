"""Build ``build/package-tree/agentotel/``: the ``agentotel`` namespace as one directory, for static tools.

The repository root holds the design card's folders, mapped onto ``agentotel.*`` by setuptools'
``package-dir``. Importing works (regular and editable installs), but tools that read the source tree
(import-linter's grimp, mypy) look for ``agentotel/warehouse/…`` on disk. This mirrors the mapping
with one symlink per source file, so their reports name the real files' contents; every run adds the
links of new files and drops those of deleted ones (cheap: a few hundred links).

Usage: ``python tools/package_tree.py`` → prints the directory to put on ``PYTHONPATH`` / ``MYPYPATH``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "package-tree"
SOURCE_SUFFIXES = (".py", ".pyi", ".typed")


def package_dirs() -> dict[str, Path]:
    """``{"agentotel.warehouse": <root>/warehouse, …}`` from pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        mapping = tomllib.load(fh)["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in mapping.items()}


def wanted_links() -> dict[Path, Path]:
    """``{link: source}`` for every source file of every mapped package."""
    links: dict[Path, Path] = {}
    for package, folder in sorted(package_dirs().items()):
        target = TREE.joinpath(*package.split("."))
        for source in folder.rglob("*"):
            if source.suffix in SOURCE_SUFFIXES and "__pycache__" not in source.parts:
                links[target / source.relative_to(folder)] = source
    return links


def build() -> Path:
    """Bring the tree in line with the sources: add missing links, drop stale ones (never a wipe, so
    concurrent runs of the checkers do not see it half-built)."""
    wanted = wanted_links()
    if TREE.exists():
        for path in sorted(TREE.rglob("*"), reverse=True):
            if path.is_symlink() and wanted.get(path) != Path(os.readlink(path)):
                path.unlink(missing_ok=True)
            elif path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                path.rmdir()
    for link, source in wanted.items():
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                link.symlink_to(source)
            except FileExistsError:  # another run made it at the same moment
                pass
    return TREE


if __name__ == "__main__":
    print(build())
    sys.exit(0)
