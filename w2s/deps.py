"""`python -m w2s.deps [--check | --write] [DVCFILE ...]`: every stage depends on every project module it runs.

DVC reruns a stage when one of its `deps` changes, so a stage whose `deps` omit a module of `w2s/` that it
imports keeps a stale result when that module is edited. This tool derives each stage's `w2s/` deps from
the code, exactly and statically:

- the stage's entry files are the Python scripts its `cmd` runs (`stages/<name>.py`, `-m w2s.x`) and every `.py` or
  `.qmd` file among its deps (the reports' Quarto sources run Python chunks that import `w2s.figures`);
- every `import w2s.x` / `from w2s.x import y` / `from w2s import x` / relative import inside `w2s` is an
  edge, wherever it sits in the file (function-level imports included: they run when the function does),
  except under `if TYPE_CHECKING:` (never executed); `w2s/__init__.py` counts too, since every
  `import w2s.x` executes it;
- the closure of those edges is the stage's set of modules.

`--check` (the default) prints one line per stage whose `w2s/` deps differ from that set, naming the stage,
the module and the import chain that reaches it (or saying that a listed module is not imported, which
only costs needless reruns), and exits 1. `--write` rewrites the `w2s/` entries of each stage's `deps`
in place (sorted, where the first one stood, else after the stage script), keeping every other entry,
comment and the rest of the file as they were. Without DVCFILE: `dvc.yaml` and `studies/*/dvc.yaml`.
The test `tests/test_deps.py` runs the check on the committed files.

Why a generated list rather than a `w2s/` directory dependency: a directory dep reruns every stage (hours of
training) after any edit to any module, e.g. the report's figures.
"""

from __future__ import annotations

import argparse
import ast
import functools
import io
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

PACKAGE = "w2s"
#: The repository root: the folder holding the `w2s` package (paths of the report are relative to it).
ROOT = Path(__file__).resolve().parents[1]
_SCRIPT = re.compile(r"(\S+\.py)\b")
_MODULE = re.compile(rf"-m\s+({PACKAGE}(?:\.\w+)*)")
_QMD_CHUNK = re.compile(r"^```+\s*\{python[^}]*\}\s*\n(.*?)^```+\s*$", re.M | re.S)


def _is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:` (a block that only type checkers read)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of `tree` except those inside the body of an `if TYPE_CHECKING:` block."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _module_file(root: Path, dotted: str) -> Path | None:
    """The file of project module `dotted` (`w2s.config` -> w2s/config.py, a package -> its __init__.py)."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _source(path: Path) -> str:
    """The Python code of `path`: the file itself, or the ```{python} chunks of a Quarto (.qmd) file."""
    text = path.read_text(encoding="utf-8")
    return "\n".join(_QMD_CHUNK.findall(text)) if path.suffix == ".qmd" else text


def direct_imports(path: Path, root: Path = ROOT) -> set[Path]:
    """See `_direct_imports` (cached per file and modification time: every stage walks the same modules)."""
    path = path.resolve()
    return set(_direct_imports(path, root.resolve(), path.stat().st_mtime_ns))


@functools.cache
def _direct_imports(path: Path, root: Path, mtime_ns: int) -> frozenset[Path]:
    """The project modules (files under `root/w2s`) that running `path` imports directly: each dotted
    prefix of an imported `w2s` module (importing `w2s.a` executes `w2s/__init__.py` first), and for
    `from w2s import x` the module `w2s/x.py` when it exists. Imports under `if TYPE_CHECKING:` are
    left out; imports inside functions are kept."""
    try:
        rel = path.resolve().relative_to(root.resolve())
        here = list(rel.with_suffix("").parts)  # w2s/a/b.py -> [w2s, a, b]; w2s/__init__.py -> [w2s, __init__]
    except ValueError:
        here = []
    found: set[Path] = set()

    def add(dotted: str, names: Sequence[str] = ()) -> None:
        parts = dotted.split(".")
        if parts[0] != PACKAGE:
            return
        for i in range(1, len(parts) + 1):
            file = _module_file(root, ".".join(parts[:i]))
            if file is not None:
                found.add(file)
        for name in names:
            file = _module_file(root, f"{dotted}.{name}")
            if file is not None:
                found.add(file)

    for node in _nodes(ast.parse(_source(path), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level == 0:
                add(node.module or "", names)
            elif here[:1] == [PACKAGE]:  # a relative import inside the package
                package = here[: len(here) - node.level]
                add(".".join([*package, *([node.module] if node.module else [])]), names)
    return frozenset(f.resolve() for f in found) - {path}


def import_chains(entries: Sequence[Path], root: Path = ROOT) -> dict[Path, list[Path]]:
    """Every project module that running `entries` imports, directly or transitively, mapped to one
    shortest import chain from an entry to it (entry first, the module last)."""
    chains: dict[Path, list[Path]] = {}
    queue = [(e.resolve(), [e.resolve()]) for e in entries]
    seen = {e for e, _ in queue}
    while queue:
        file, chain = queue.pop(0)
        for module in sorted(direct_imports(file, root)):
            if module not in seen:
                seen.add(module)
                chains[module] = [*chain, module]
                queue.append((module, chains[module]))
    return chains


@dataclass(frozen=True)
class Finding:
    """One difference between a stage's listed `w2s/` deps and the modules it imports."""

    dvcfile: str
    stage: str
    module: str           # as the dep would be written in the dvcfile
    chain: tuple[str, ...]  # entry -> ... -> module (repo-relative); empty for an extra dep
    missing: bool         # True: imported but not a dep (stale results); False: a dep not imported

    def __str__(self) -> str:
        if self.missing:
            return (f"{self.dvcfile}: stage {self.stage} misses dep {self.module} "
                    f"(imported: {' -> '.join(self.chain)})")
        return f"{self.dvcfile}: stage {self.stage} lists dep {self.module}, which it does not import (needless reruns)"


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: comments, order and block scalars kept
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _stage_bodies(doc: Any) -> Iterator[tuple[str, Any]]:
    """(name, body) of each stage of a loaded dvc.yaml (a foreach stage's body is its `do`)."""
    for name, stage in (doc.get("stages") or {}).items():
        body = stage.get("do", stage) if "foreach" in stage else stage
        yield name, body


class _Stage:
    """One stage of a dvcfile: its entry files and its listed `w2s/` deps, as repo paths."""

    def __init__(self, dvcfile: Path, root: Path, name: str, body: Any) -> None:
        self.name, self.body = name, body
        self.wdir = (dvcfile.parent / str(body.get("wdir", "."))).resolve()
        self.root = root.resolve()
        self.deps = [str(d) for d in body.get("deps") or [] if isinstance(d, str)]
        cmd = str(body.get("cmd", ""))
        scripts = [self.resolve(s) for s in _SCRIPT.findall(cmd) if "${" not in s]
        modules = [_module_file(self.root, m) for m in _MODULE.findall(cmd)]  # `python -m w2s.x`
        sources = [self.resolve(d) for d in self.deps if d.endswith((".py", ".qmd")) and not self.is_package(d)]
        entries = [*scripts, *(m for m in modules if m is not None), *sources]
        self.entries = [p.resolve() for p in dict.fromkeys(entries) if p.is_file()]

    def modules(self) -> dict[Path, list[Path]]:
        """The project modules the stage runs, each with its import chain (a `-m w2s.x` entry: itself)."""
        chains = import_chains(self.entries, self.root)
        for entry in self.entries:
            if entry.is_relative_to(self.root) and entry.relative_to(self.root).parts[0] == PACKAGE:
                chains.setdefault(entry, [entry])
        return chains

    def resolve(self, dep: str) -> Path:
        return (self.wdir / dep).resolve()

    def is_package(self, dep: str) -> bool:
        """Whether `dep` is a module of the package (a `w2s/...py` file): the deps this tool owns. A data
        folder or file inside the package (`w2s/fonts`) is an ordinary dep, listed by hand and kept."""
        path = self.resolve(dep)
        try:
            return path.relative_to(self.root).parts[0] == PACKAGE and path.suffix == ".py"
        except ValueError:
            return False

    def spelled(self, module: Path) -> str:
        """`module` as this stage's dvcfile writes a dep (relative to the stage's wdir, posix)."""
        rel = Path(*[".."] * len(self.wdir.relative_to(self.root).parts), module.relative_to(self.root))
        return PurePosixPath(rel).as_posix()

    def repo(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def check(dvcfile: Path, root: Path = ROOT) -> list[Finding]:
    """The findings of one dvcfile: each module a stage imports but does not list (with its import chain),
    and each listed `w2s/` module it does not import."""
    doc = _yaml().load(dvcfile.read_text(encoding="utf-8"))
    try:
        shown = dvcfile.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = str(dvcfile)
    findings = []
    for name, body in _stage_bodies(doc):
        stage = _Stage(dvcfile, root, name, body)
        chains = stage.modules()
        listed = {stage.resolve(d) for d in stage.deps if stage.is_package(d)}
        for module in sorted(set(chains) - listed):
            findings.append(Finding(shown, name, stage.spelled(module), tuple(map(stage.repo, chains[module])), True))
        for module in sorted(listed - set(chains)):
            findings.append(Finding(shown, name, stage.spelled(module), (), False))
    return findings


def write(dvcfile: Path, root: Path = ROOT) -> bool:
    """Rewrite the `w2s/` deps of every stage of `dvcfile` to the modules it imports (sorted, at the place
    of the first listed one, else right after the last entry file); other deps, comments and formatting
    stay. Returns whether the file changed."""
    yaml = _yaml()
    text = dvcfile.read_text(encoding="utf-8")
    doc = yaml.load(text)
    for name, body in _stage_bodies(doc):
        stage = _Stage(dvcfile, root, name, body)
        wanted = sorted(stage.spelled(m) for m in stage.modules())
        deps = body.get("deps")
        if deps is None:
            if not wanted:
                continue
            from ruamel.yaml.comments import CommentedSeq

            body["deps"] = deps = CommentedSeq()
        if [d for d in deps if isinstance(d, str) and stage.is_package(d)] == wanted:
            continue
        entries = {stage.resolve(str(e)) for e in stage.entries}
        at = next((i for i, d in enumerate(deps) if isinstance(d, str) and stage.is_package(d)), None)
        if at is None:
            after = [i for i, d in enumerate(deps) if isinstance(d, str) and stage.resolve(d) in entries]
            at = after[-1] + 1 if after else 0
        for i in reversed(range(len(deps))):
            if isinstance(deps[i], str) and stage.is_package(deps[i]):
                del deps[i]
                at -= i < at
        for offset, dep in enumerate(wanted):
            deps.insert(at + offset, dep)
    out = io.StringIO()
    yaml.dump(doc, out)
    if out.getvalue() == text:
        return False
    dvcfile.write_text(out.getvalue(), encoding="utf-8")
    return True


def dvcfiles(root: Path = ROOT) -> list[Path]:
    """The project's dvcfiles: the root `dvc.yaml` and each study's `studies/*/dvc.yaml`."""
    return [p for p in [root / "dvc.yaml", *sorted(root.glob("studies/*/dvc.yaml"))] if p.is_file()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m w2s.deps", description=(__doc__ or "").split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report differences, exit 1 if any (default)")
    mode.add_argument("--write", action="store_true", help="rewrite the w2s/ deps of each stage in place")
    p.add_argument("dvcfiles", nargs="*", type=Path, help="default: dvc.yaml and studies/*/dvc.yaml")
    args = p.parse_args(argv)
    files = list(args.dvcfiles) or dvcfiles()
    if args.write:
        for f in files:
            if write(f):
                print(f"rewrote the w2s deps of {f}")
        return 0
    findings = [finding for f in files for finding in check(f)]
    for finding in findings:
        print(finding)
    if findings:
        print("fix: python -m w2s.deps --write", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
