"""The library code a job depends on, computed from the imports (read with `ast`, nothing executed) of its
script and of every advrepro module those reach, so that a change to any of them reruns the job.

Only static imports are followed; a module imported by name at run time (a paper's module, chosen by
the paper wildcard) is passed as an extra root.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "advrepro"


def _module_file(name: str, src: Path) -> Path | None:
    """The file of module `name` (a package's __init__.py) under `src`, or None if it is not a module there."""
    base = src.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


@functools.cache  # every rule's code() reads the same files: each is parsed once per Snakemake run
def imported_modules(path: Path, src: Path, name: str | None = None) -> frozenset[str]:
    """The advrepro modules the file at `path` (module `name`, if it is one) imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(Path(path).read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package of `name`, `level - 1` packages up
                package = _package_of(name, path).split(".")
                module = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names
                         if _module_file(f"{module}.{alias.name}", src))
    return frozenset(m for m in found if m == PACKAGE or m.startswith(PACKAGE + "."))


@functools.cache
def _closure(roots: tuple[str, ...], src: Path) -> tuple[str, ...]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        path = _module_file(name, src)
        if name in seen or path is None:
            continue
        seen.add(name)
        todo += _parents(name) + sorted(imported_modules(path, src, name))
    return tuple(sorted(str(_module_file(m, src)) for m in seen))


def _parents(name: str) -> list[str]:
    """The packages whose __init__ runs before module `name` is imported."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(script: str | Path, *extra: str, src: str | Path = "src") -> list[str]:
    """The files under `src` of every advrepro module the script (a Python file outside the package) and
    the `extra` modules import, directly or not, the package's own __init__ files included."""
    src = Path(src)
    roots = tuple(sorted(imported_modules(Path(script), src) | set(extra)))
    return list(_closure(roots, src))
