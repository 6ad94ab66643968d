"""Stage deps name every project module the stage runs (w2s/deps.py): the committed dvcfiles are checked
against the imports of the code, and the checker / rewriter are tried on small hand-made packages."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from w2s import deps
from w2s.deps import ROOT, check, direct_imports, dvcfiles, import_chains, write


def test_committed_dvcfiles_list_exactly_the_imported_modules() -> None:
    """dvc.yaml and every studies/*/dvc.yaml: no stage misses a module it imports, none lists one it
    does not (fix: `python -m w2s.deps --write`)."""
    files = dvcfiles()
    assert ROOT / "dvc.yaml" in files and ROOT / "studies/decoder/dvc.yaml" in files
    findings = [str(f) for file in files for f in check(file)]
    assert not findings, "\n".join(findings)


def test_cli_check_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert deps.main(["--check"]) == 0
    assert capsys.readouterr().out == ""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A package `w2s` whose imports exercise every rule: a function-level import, a relative one, one
    under `if TYPE_CHECKING:` (not run) and one in that block's `else:` (run)."""
    _write(tmp_path, {
        "w2s/__init__.py": '"""toy"""\n',
        "w2s/a.py": """\
            from typing import TYPE_CHECKING
            import numpy
            if TYPE_CHECKING:
                from w2s.d import Thing
            else:
                from w2s import e
            def f():
                import w2s.b
                return w2s.b
            """,
        "w2s/b.py": "from . import c\nfrom .c import value\n",
        "w2s/c.py": "value = 1\n",
        "w2s/d.py": "Thing = int\n",
        "w2s/e.py": "import os\n",
        "w2s/unused.py": "x = 1\n",
        "stages/s.py": "from w2s import a\nfrom w2s.errors_missing import nothing\n",
    })
    return tmp_path


def test_imports_follow_functions_and_relative_imports_but_not_type_checking(toy: Path) -> None:
    names = {p.relative_to(toy).as_posix() for p in import_chains([toy / "stages/s.py"], toy)}
    assert names == {"w2s/__init__.py", "w2s/a.py", "w2s/b.py", "w2s/c.py", "w2s/e.py"}
    assert {p.name for p in direct_imports(toy / "w2s/a.py", toy)} == {"__init__.py", "b.py", "e.py"}
    chain = import_chains([toy / "stages/s.py"], toy)[(toy / "w2s/c.py").resolve()]
    assert [p.relative_to(toy.resolve()).as_posix() for p in chain] == [
        "stages/s.py", "w2s/a.py", "w2s/b.py", "w2s/c.py"]


DVCFILE = """\
# the toy DAG
stages:
  one:
    matrix:
      seed: [0, 1]
    desc: a stage   # kept
    cmd: python stages/s.py --seed ${item.seed}
    deps:
      - data/validated.txt
      - stages/s.py
      - w2s/unused.py   # listed but never imported
      - data/in.txt
    outs:
      - out${item.seed}.txt
  two:
    foreach: [a]
    do:
      cmd: python stages/s.py
      deps:
        - stages/s.py
"""


def test_a_hand_edited_dvcfile_names_stage_module_and_chain(toy: Path) -> None:
    _write(toy, {"dvc.yaml": DVCFILE})
    found = [str(f) for f in check(toy / "dvc.yaml", toy)]
    assert "dvc.yaml: stage one misses dep w2s/c.py (imported: stages/s.py -> w2s/a.py -> w2s/b.py -> w2s/c.py)" \
        in found
    assert "dvc.yaml: stage two misses dep w2s/a.py (imported: stages/s.py -> w2s/a.py)" in found
    assert any("stage one lists dep w2s/unused.py, which it does not import" in f for f in found)
    assert not any("w2s/d.py" in f for f in found)


def test_write_fixes_the_deps_and_keeps_everything_else(toy: Path) -> None:
    _write(toy, {"dvc.yaml": DVCFILE})
    assert write(toy / "dvc.yaml", toy)
    assert check(toy / "dvc.yaml", toy) == []
    text = (toy / "dvc.yaml").read_text()
    wanted = ["w2s/__init__.py", "w2s/a.py", "w2s/b.py", "w2s/c.py", "w2s/e.py"]
    listed = ["      - " + d for d in ["data/validated.txt", "stages/s.py", *wanted, "data/in.txt"]]
    assert "\n".join(listed) in text  # in place of the first w2s dep, other deps in their order
    assert "\n".join("        - " + d for d in ["stages/s.py", *wanted]) in text  # after the script
    for kept in ("# the toy DAG\n", "desc: a stage   # kept\n", "cmd: python stages/s.py --seed ${item.seed}\n"):
        assert kept in text
    assert not write(toy / "dvc.yaml", toy)  # idempotent


def test_studies_spell_deps_relative_to_their_folder(toy: Path) -> None:
    _write(toy, {"studies/x/dvc.yaml": """\
        stages:
          one:
            cmd: python ../../stages/s.py
            deps:
              - ../../stages/s.py
              - ../../w2s/a.py
        """})
    found = {f.module for f in check(toy / "studies/x/dvc.yaml", toy)}
    assert found == {"../../w2s/__init__.py", "../../w2s/b.py", "../../w2s/c.py", "../../w2s/e.py"}
    write(toy / "studies/x/dvc.yaml", toy)
    assert check(toy / "studies/x/dvc.yaml", toy) == []


def test_report_sources_count_as_entry_files(tmp_path: Path) -> None:
    """The report's .qmd sources import w2s.figures inside Python chunks: the report stage needs it."""
    shutil.copytree(ROOT / "w2s", tmp_path / "w2s")
    _write(tmp_path, {"r.qmd": "# title\n\n```{python}\nfrom w2s import figures as F\n```\n\ntext `import w2s.io`\n"})
    assert {p.name for p in direct_imports(tmp_path / "r.qmd", tmp_path)} == {"__init__.py", "figures.py"}


def test_a_module_run_with_dash_m_is_an_entry_and_a_dep(toy: Path) -> None:
    _write(toy, {"dvc.yaml": "stages:\n  m:\n    cmd: python -m w2s.b --out x\n    deps:\n      - w2s/b.py\n"})
    assert [str(f) for f in check(toy / "dvc.yaml", toy)] == [
        "dvc.yaml: stage m misses dep w2s/__init__.py (imported: w2s/b.py -> w2s/__init__.py)",
        "dvc.yaml: stage m misses dep w2s/c.py (imported: w2s/b.py -> w2s/c.py)"]


def test_a_data_folder_inside_the_package_is_an_ordinary_dep(toy: Path) -> None:
    """`w2s/fonts` (package data, not a module) is neither reported as unimported nor dropped by --write."""
    (toy / "w2s/fonts").mkdir()
    _write(toy, {"dvc.yaml": """\
        stages:
          s:
            cmd: python stages/e.py
            deps:
              - stages/e.py
              - w2s/fonts
        """, "stages/e.py": "import w2s.e\n"})
    write(toy / "dvc.yaml", toy)
    text = (toy / "dvc.yaml").read_text()
    assert "- w2s/fonts" in text and "- w2s/e.py" in text
    assert check(toy / "dvc.yaml", toy) == []
