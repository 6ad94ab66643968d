"""The documentation points at things that exist: links and anchors, and, in shell code blocks, the dvc
stages, params keys, repo files, modules and make targets the commands name.

What exists is read at test time from the repo itself (`dvc.yaml` resolved by DVC against `params.yaml`,
`params.yaml`, the Makefile, the file tree), so a renamed stage, param or file fails here, naming the page
and the line, until the docs follow. `make docs-check` runs this file alone."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
TOPICS = ["configure", "your-data", "methods", "validity", "analyses-and-reports", "reproduce-and-compare",
          "scale-out", "performance", "extend"]
SHELL = {"bash", "sh", "shell", "console"}
# Tracked folders and files of the repo: a path under one of these named in a command must exist. Outputs
# (data/, metrics/, dvc_plots/) and places outside the repo (../shared, /tmp) are not checked.
TRACKED_ROOTS = ("stages/", "w2s/", "studies/", "benchmarks/", "tests/", "docs/", "reports/", "plot_templates/",
                 ".ci/")
TRACKED_FILES = ("params.yaml", "dvc.yaml", "dvc.lock", "Makefile", "pyproject.toml", "README.md",
                 "CONTRIBUTING.md", ".pre-commit-config.yaml")
REPO_PACKAGES = ("w2s", "benchmarks", "stages")
# params mappings whose keys are the user's names (models, file tasks, ...): keys below them are not checked
OPEN_KEYS = {"models", "data.file_tasks", "data.task_options", "prepare.per_task", "genft.models", "losses"}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
STAGE_REF = re.compile(r"^([a-z_][a-z0-9_]*)@([\w.-]+)$")
DVC_TARGET_COMMANDS = {"repro", "commit", "status", "push", "pull", "checkout"}


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page: its language tag, first line number and text."""

    page: Path
    lang: str
    line: int
    text: str


def code_blocks(page: Path) -> Iterator[Block]:
    """Every fenced code block of a Markdown page."""
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^\s*```+\s*([\w-]*)", lines[i])
        if m:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith("```"):
                body.append(lines[i])
                i += 1
            yield Block(page, m.group(1).lower(), start + 1, "\n".join(body))
        i += 1


def prose(page: Path) -> str:
    """The page without its code blocks (links inside code are not links)."""
    return re.sub(r"^\s*```.*?^\s*```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", prose(page), flags=re.M)}


def link_problems(page: Path) -> list[str]:
    """Relative links and images of `page` whose file (or #anchor) does not exist."""
    problems = []
    for target in LINK.findall(prose(page)):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            problems.append(f"{page.name}: link to {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{page.name}: link to {target}: no heading with that anchor")
    return problems


@cache
def stage_names() -> frozenset[str]:
    """Every stage of `dvc.yaml` as DVC names it (`train_w2s@sst2-...`), resolved against `params.yaml`."""
    from dvc.dvcfile import load_file
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return frozenset(load_file(repo, "dvc.yaml").stages.keys())


@cache
def params() -> Mapping[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


@cache
def make_targets() -> frozenset[str]:
    makefile = ROOT / "Makefile"
    text = makefile.read_text(encoding="utf-8") if makefile.is_file() else ""
    return frozenset(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.M))


def key_problem(key: str, tree: Mapping[str, Any] | None = None) -> str | None:
    """None when the dotted `key` is a params key (or lies under a user-named mapping), else the reason."""
    node: Any = params() if tree is None else tree
    parts = key.split(".")
    if tree is None and len(parts) == 1 and (ROOT / "conf" / key).is_dir():
        return None  # a Hydra config group (`-S study=gpt2`, docs/configure.md)
    for i, part in enumerate(parts):
        here = ".".join(parts[:i])
        if here in OPEN_KEYS:
            return None
        if not isinstance(node, Mapping) or part not in node:
            return f"params key {key!r} is not in params.yaml"
        node = node[part]
    return None


def stage_problem(name: str) -> str | None:
    names = stage_names()
    if name in names:
        return None
    bases = {n.split("@")[0] for n in names}
    if name.split("@")[0] not in bases:
        return f"dvc stage {name!r} is not in dvc.yaml"
    return f"dvc stage {name!r} is not in dvc.yaml for the default params (stages of that kind: " \
           f"{', '.join(sorted(n for n in names if n.split('@')[0] == name.split('@')[0])[:3])}, ...)"


def placeholder(token: str) -> bool:
    return any(s in token for s in ("<", ">", "$", "...", "*", "{"))


def commands(block: Block) -> Iterator[tuple[int, list[str]]]:
    """(line number, tokens) of each shell command in a block, continuations joined, comments and prompts
    dropped, `&&` / `;` / `|` splitting a line into its commands."""
    joined: list[tuple[int, str]] = []
    pending, start = "", 0
    for offset, line in enumerate(block.text.splitlines()):
        if not pending:
            start = block.line + offset
        pending += line.rstrip("\\") + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            joined.append((start, pending))
            pending = ""
    for number, line in joined:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            tokens = line.split()
        current: list[str] = []
        for token in [*tokens, "&&"]:
            if token in {"&&", "||", ";", "|"}:
                if current:
                    yield number, current
                current = []
            elif not current and re.match(r"^[A-Z_][A-Z0-9_]*=", token):  # VAR=value prefix
                continue
            else:
                current.append(token)


def command_problems(block: Block) -> list[str]:
    """What a shell block's commands name that does not exist."""
    problems: list[str] = []
    where = f"{block.page.name}:{block.line}"
    for number, tokens in commands(block):
        where = f"{block.page.name}:{number}"
        args = tokens[1:]
        for i, token in enumerate(tokens):
            if placeholder(token):
                continue
            m = STAGE_REF.match(token)
            if m and m.group(1) in {n.split("@")[0] for n in stage_names()}:
                if (p := stage_problem(token)) is not None:
                    problems.append(f"{where}: {p}")
            if token in {"-S", "--set-param"} and i + 1 < len(tokens):
                for assignment in [tokens[i + 1]]:
                    key = assignment.split("=", 1)[0]
                    if not placeholder(key) and (p := key_problem(key)) is not None:
                        problems.append(f"{where}: {p}")
            if token.startswith(TRACKED_ROOTS) or token in TRACKED_FILES:
                path = token.split(":", 1)[0].split("::", 1)[0]
                if not (ROOT / path).exists():
                    problems.append(f"{where}: file {path} does not exist")
        if tokens[0] == "dvc" and args and args[0] in DVC_TARGET_COMMANDS:
            for target in args[1:]:
                if target.startswith("-") or placeholder(target) or "/" in target or "." in target:
                    continue
                if (p := stage_problem(target)) is not None:
                    problems.append(f"{where}: {p}")
        if "-m" in tokens:
            module = tokens[tokens.index("-m") + 1] if tokens.index("-m") + 1 < len(tokens) else ""
            if module.split(".")[0] in REPO_PACKAGES:
                module_path = ROOT / module.replace(".", "/")
                if not (module_path.with_suffix(".py").is_file() or (module_path / "__init__.py").is_file()):
                    problems.append(f"{where}: module {module} does not exist")
        if tokens[0] == "make":
            for target in args:
                if not target.startswith("-") and "=" not in target and target not in make_targets():
                    problems.append(f"{where}: make target {target!r} is not in the Makefile")
    return list(dict.fromkeys(problems))  # a stage named twice (token and dvc target) is one problem


def yaml_problems(block: Block) -> list[str]:
    """Keys of a YAML block (a params excerpt) that params.yaml does not have."""
    try:
        tree = yaml.safe_load(block.text)
    except yaml.YAMLError as e:
        return [f"{block.page.name}:{block.line}: not YAML: {str(e).splitlines()[0]}"]
    problems = []

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, Mapping) or prefix in OPEN_KEYS:
            return
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if (p := key_problem(dotted)) is not None:
                problems.append(f"{block.page.name}:{block.line}: {p}")
            else:
                walk(value, dotted)

    walk(tree, "")
    return problems


def block_problems(page: Path) -> list[str]:
    problems = []
    for block in code_blocks(page):
        if block.lang in SHELL:
            problems += command_problems(block)
        elif block.lang in {"yaml", "yml"}:
            problems += yaml_problems(block)
    return problems


# --- the checks, on the real pages -------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_point_somewhere(page: Path) -> None:
    assert link_problems(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_commands_name_what_exists(page: Path) -> None:
    assert block_problems(page) == []


def test_readme_is_a_page_and_every_topic_page_is_linked() -> None:
    readme = ROOT / "README.md"
    assert readme.stat().st_size <= 8 * 1024, "README.md over 8 KB: move detail to a docs/ page"
    linked = {(readme.parent / t.partition("#")[0]).resolve() for t in LINK.findall(prose(readme))}
    for topic in TOPICS:
        page = ROOT / "docs" / f"{topic}.md"
        assert page.is_file() and page.resolve() in linked, f"docs/{topic}.md missing or not linked from README"
        first = page.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# ") and "?" in first, f"docs/{topic}.md: its title should be the question it answers"
    reachable = {readme.resolve()}
    frontier = [readme]
    while frontier:
        page = frontier.pop()
        for target in LINK.findall(prose(page)):
            dest = (page.parent / target.partition("#")[0]).resolve()
            if dest.suffix == ".md" and dest.is_file() and dest not in reachable:
                reachable.add(dest)
                frontier.append(dest)
    orphans = [p.name for p in (ROOT / "docs").glob("*.md") if p.resolve() not in reachable]
    assert orphans == [], f"docs pages no link leads to: {orphans}"


# --- the checker itself fails on what it must catch --------------------------------------------------------

def write(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    return page


def test_checker_catches_dead_links_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n", encoding="utf-8")
    page = write(tmp_path, "[ok](other.md#a-section) [gone](missing.md) [bad](other.md#nope) "
                           "![img](fig.png) [web](https://example.org)\n```bash\n[not a link](x.md)\n```\n")
    assert link_problems(page) == ["page.md: link to missing.md: no such file",
                                   "page.md: link to other.md#nope: no heading with that anchor",
                                   "page.md: link to fig.png: no such file"]


def test_checker_catches_unknown_stages_params_files_modules(tmp_path: Path) -> None:
    real = sorted(n for n in stage_names() if n.startswith("train_gt@"))[0]
    page = write(tmp_path, f"""```bash
dvc repro {real} analyze
dvc repro train_gt@nosuchtask-x-0 && dvc commit nosuchstage
dvc exp run -S 'train.lr=0.1,0.2' -S train.nosuch=1 -S 'models.anything=x'
python -m benchmarks.nosuch --tiny && python stages/nosuch.py --task sst2 \\
  --out data/x.parquet
W2S_DEVICE=cuda:1 python -m pytest tests/test_docs.py
make test-fast && make nosuch VENV=/x
```
```yaml
train: {{lr: 0.1, lrr: 1}}
data: {{file_tasks: {{mine: {{path: x.csv}}}}}}
```
""")
    assert block_problems(page) == [
        "page.md:3: dvc stage 'train_gt@nosuchtask-x-0' is not in dvc.yaml for the default params "
        f"(stages of that kind: {', '.join(sorted(n for n in stage_names() if n.startswith('train_gt@'))[:3])}, ...)",
        "page.md:3: dvc stage 'nosuchstage' is not in dvc.yaml",
        "page.md:4: params key 'train.nosuch' is not in params.yaml",
        "page.md:5: module benchmarks.nosuch does not exist",
        "page.md:5: file stages/nosuch.py does not exist",
        "page.md:8: make target 'nosuch' is not in the Makefile",
        "page.md:11: params key 'train.lrr' is not in params.yaml",
    ]


def test_slug_follows_github() -> None:
    assert slug("Did my rerun reproduce the committed results? `python -m w2s.verify`") == \
        "did-my-rerun-reproduce-the-committed-results-python--m-w2sverify"
    assert slug("Machine settings: environment variables, not params") == \
        "machine-settings-environment-variables-not-params"
