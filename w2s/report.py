"""Render the Quarto reports in `reports/`: with `quarto` when it is on PATH, else offline.

The offline renderer executes the same `.qmd` files the way Quarto's Jupyter engine does, with no
Jupyter and no network:

* the YAML front matter gives the title; Markdown between chunks is kept as is;
* ```` ```{python} ```` chunks run in order in one namespace (a cell tagged `parameters` first sets
  defaults, then the document's parameters override them, as `quarto render -P key:value` does);
  `#| key: value` lines are chunk options (`echo`, `output: asis` / `false`, `fig-cap`, `tags`);
* what a chunk shows is collected like Jupyter does: its printed text (as Markdown with
  `output: asis`, else as a code block), then the `display(...)` calls and the value of its last
  expression in order;
  Altair charts become figures, objects with `_repr_markdown_` (e.g. `w2s.figures.Note`) Markdown.

It then writes (a) one self-contained HTML file per document, the charts interactive through
vega-embed with the Vega, Vega-Lite and vega-embed bundle (from `vl-convert-python`) inlined, so the
page draws with no network, and (b) a PDF: pandoc (the `pypandoc-binary` wheel) turns the Markdown,
charts as PNG images from vl-convert, into typst, which the `typst` wheel compiles.
"""

from __future__ import annotations

import ast
import contextlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from w2s.errors import InputError

OFFLINE_ENV = "W2S_OFFLINE_RENDER"
"""Set to 1 while the offline renderer executes a document (figures.setup() then does nothing)."""

_CHUNK = re.compile(r"^```\{python[^}]*\}[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_OPTION = re.compile(r"^#\|\s?(.*)$")


@dataclass(frozen=True)
class Chunk:
    """One ```{python} chunk: its source (options removed), options, and first line in the file."""

    code: str
    options: dict[str, Any]
    line: int


@dataclass(frozen=True)
class Document:
    """A parsed .qmd file: front matter and an alternating list of Markdown text and code chunks."""

    path: Path
    meta: dict[str, Any]
    parts: list[str | Chunk]


@dataclass
class Chart:
    """A chart a chunk displayed: its Vega-Lite spec and title (the PDF caption)."""

    spec: dict[str, Any]
    title: str
    caption: str | None = None


@dataclass
class Rendered:
    """An executed document: title, and a sequence of Markdown strings and charts."""

    title: str
    subtitle: str | None
    blocks: list[str | Chart] = field(default_factory=list)

    @property
    def charts(self) -> list[Chart]:
        return [b for b in self.blocks if isinstance(b, Chart)]


def parse_qmd(path: str | Path) -> Document:
    """Split a .qmd file into front matter, Markdown and python chunks."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: report source not found")
    text = path.read_text()
    meta: dict[str, Any] = {}
    body_start = 0
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end < 0:
            raise InputError(f"{path}: front matter opened with --- is never closed")
        try:
            meta = yaml.safe_load(text[4:end]) or {}
        except yaml.YAMLError as err:
            raise InputError(f"{path}: front matter is not valid YAML ({str(err).splitlines()[0]})") from None
        body_start = text.find("\n", end + 4) + 1 if text.find("\n", end + 4) >= 0 else len(text)
    parts: list[str | Chunk] = []
    pos = body_start
    for m in _CHUNK.finditer(text, body_start):
        parts.append(text[pos:m.start()])
        lines = m.group(1).splitlines()
        opts: list[str] = []
        while lines and _OPTION.match(lines[0]):
            opts.append(_OPTION.match(lines.pop(0)).group(1))  # type: ignore[union-attr]
        try:
            options = yaml.safe_load("\n".join(opts)) or {} if opts else {}
        except yaml.YAMLError as err:
            raise InputError(f"{path}:{text.count(chr(10), 0, m.start()) + 1}: bad chunk option "
                             f"({str(err).splitlines()[0]})") from None
        parts.append(Chunk("\n".join(lines) + "\n", options, text.count("\n", 0, m.start()) + 2))
        pos = m.end()
    parts.append(text[pos:])
    return Document(path, meta, [p for p in parts if not (isinstance(p, str) and not p.strip())])


def _chart_title(spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(map(str, title))
    return str(title) if title else "Figure"


def _is_chart(obj: Any) -> bool:
    try:
        import altair as alt
    except ImportError:  # pragma: no cover - altair is a dependency
        return False
    return isinstance(obj, alt.TopLevelMixin)


def execute(doc: Document, params: Mapping[str, Any] | None = None) -> Rendered:
    """Run the document's chunks in one namespace (in the document's folder, as Quarto does) and
    collect what they show."""
    meta = doc.meta
    rendered = Rendered(str(meta.get("title", doc.path.stem)), meta.get("subtitle"))
    echo_default = bool((meta.get("execute") or {}).get("echo", False))
    overrides = dict(meta.get("params") or {})
    overrides.update(params or {})
    shown: list[str | Chart] = []

    def display(*objs: Any) -> None:
        for obj in objs:
            if _is_chart(obj):
                spec = obj.to_dict()
                shown.append(Chart(spec, _chart_title(spec)))
            elif hasattr(obj, "_repr_markdown_"):
                shown.append(str(obj._repr_markdown_()))
            elif obj is not None:
                shown.append(f"```\n{obj!r}\n```\n")

    namespace: dict[str, Any] = {"__name__": "__main__", "display": display}
    old_cwd = Path.cwd()
    old_env = os.environ.get(OFFLINE_ENV)
    os.environ[OFFLINE_ENV] = "1"
    try:
        os.chdir(doc.path.parent)
        for part in doc.parts:
            if isinstance(part, str):
                rendered.blocks.append(part)
                continue
            tags = part.options.get("tags") or []
            if part.options.get("echo", echo_default):
                rendered.blocks.append(f"```python\n{part.code}```\n")
            shown.clear()
            out = io.StringIO()
            where = f"{doc.path}:{part.line}"
            try:
                tree = ast.parse(part.code, filename=str(doc.path))
                last = tree.body[-1] if tree.body else None
                if isinstance(last, ast.Expr):
                    tree.body.pop()  # shown like Jupyter shows a cell's last expression
                else:
                    last = None
                with contextlib.redirect_stdout(out):
                    exec(compile(tree, where, "exec"), namespace)  # noqa: S102 - the report's own code
                    if "parameters" in tags:
                        namespace.update(overrides)
                    if last is not None:
                        value = eval(compile(ast.Expression(last.value), where, "eval"), namespace)  # noqa: S307
                        display(value)
            except InputError:
                raise
            except Exception as err:
                raise InputError(f"{where}: chunk failed: {type(err).__name__}: {err}") from err
            if part.options.get("output") is False:  # `#| output: false`: run, show nothing
                continue
            printed = out.getvalue()
            if printed:
                asis = part.options.get("output") == "asis"
                rendered.blocks.append(printed if asis else f"```\n{printed}```\n")
            caption = part.options.get("fig-cap")
            for item in shown:
                if isinstance(item, Chart) and caption:
                    item.caption = str(caption)
                rendered.blocks.append(item)
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop(OFFLINE_ENV, None)
        else:
            os.environ[OFFLINE_ENV] = old_env
    return rendered


# ------------------------------------------------------------------------------------------------ HTML


def vegalite_version() -> str | None:
    """The Vega-Lite version vl-convert should bundle: the one Altair's specs are written for."""
    import altair as alt
    import vl_convert as vlc

    version = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]
    return version if version in vlc.get_vegalite_versions() else None


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """The Vega + Vega-Lite + vega-embed JavaScript as one script (defines window.vegaEmbed)."""
    import vl_convert as vlc

    return str(vlc.javascript_bundle(vl_version=vegalite_version()))  # type: ignore[call-arg]


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1100px;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.5; }
h1 { margin-bottom: 0.2rem; } .subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
blockquote { border-left: 4px solid #f58518; margin: 1rem 0; padding: 0.2rem 1rem; background: #fff7ee; }
figure.w2s-figure { margin: 1.5rem 0; overflow-x: auto; }
figcaption { color: #555; font-size: 0.9rem; }
code { background: #f4f4f4; padding: 0 0.2rem; }
pre { background: #f4f4f4; padding: 0.6rem; overflow-x: auto; }
"""


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(obj).replace("</", "<\\/")


def to_html(rendered: Rendered) -> str:
    """One self-contained HTML page: the Markdown through pandoc, every chart a vega-embed view."""
    import pypandoc

    md: list[str] = []
    specs: list[dict[str, Any]] = []
    for block in rendered.blocks:
        if isinstance(block, Chart):
            i = len(specs)
            specs.append(block.spec)
            cap = f"<figcaption>{html.escape(block.caption)}</figcaption>" if block.caption else ""
            md.append(f'\n```{{=html}}\n<figure class="w2s-figure"><div class="w2s-chart" id="w2s-chart-{i}" '
                      f'data-title="{html.escape(block.title)}"></div>{cap}</figure>\n```\n')
        else:
            md.append(block)
    body = pypandoc.convert_text("\n".join(md), "html5", format="markdown", extra_args=["--wrap=none"])
    subtitle = f'<p class="subtitle">{html.escape(rendered.subtitle)}</p>' if rendered.subtitle else ""
    embed = (
        "const specs = JSON.parse(document.getElementById('w2s-specs').textContent);\n"
        "window.w2sRendered = 0; window.w2sErrors = [];\n"
        "specs.forEach((spec, i) => vegaEmbed('#w2s-chart-' + i, spec, {renderer: 'svg', "
        "actions: {export: true, source: false, compiled: false, editor: false}})\n"
        "  .then(() => { window.w2sRendered += 1; document.body.dataset.chartsRendered = window.w2sRendered; })\n"
        "  .catch(err => { window.w2sErrors.push(String(err)); document.body.dataset.chartErrors = "
        "window.w2sErrors.join(' | '); }));\n"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(rendered.title)}</title>\n<style>{_CSS}</style>\n"
        f"<script>{vega_bundle()}</script>\n</head>\n"
        f"<body data-charts=\"{len(specs)}\">\n<header><h1>{html.escape(rendered.title)}</h1>{subtitle}</header>\n"
        f"{body}\n<script type=\"application/json\" id=\"w2s-specs\">{_script_json(specs)}</script>\n"
        f"<script>\n{embed}</script>\n</body>\n</html>\n"
    )


# ------------------------------------------------------------------------------------------------- PDF


def chart_png(spec: Mapping[str, Any], scale: float = 2.0) -> bytes:
    """A static PNG of a Vega-Lite spec (vl-convert, no browser)."""
    import vl_convert as vlc

    return bytes(vlc.vegalite_to_png(dict(spec), vl_version=vegalite_version(), scale=scale))


def _md_escape(text: str) -> str:
    """Plain text safe inside Markdown (a caption must not turn into HTML, emphasis or a link)."""
    return re.sub(r"([\\`*_{}\[\]<>#|!$@~^])", r"\\\1", text)


def to_pdf(rendered: Rendered, out: Path, figures_dir: Path | None = None, prefix: str = "figure") -> list[Path]:
    """Write the PDF (pandoc -> typst -> PDF) and return the chart PNGs it embeds, which are also kept
    under `figures_dir` when given."""
    import pypandoc
    import typst

    pngs: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="w2s-report-") as tmp_name:
        tmp = Path(tmp_name)
        md: list[str] = []
        for block in rendered.blocks:
            if isinstance(block, Chart):
                slug = re.sub(r"[^a-z0-9]+", "-", block.title.lower()).strip("-")[:80]
                name = f"{prefix}-{len(pngs) + 1:02d}-{slug}.png"
                (tmp / name).write_bytes(chart_png(block.spec))
                pngs.append(tmp / name)
                cap = _md_escape(block.title + (f". {block.caption}" if block.caption else ""))
                md.append(f"\n![{cap}]({name}){{width=100%}}\n")
            else:
                md.append(block.replace("> **Figure not available.**", "> **Figure not available:**"))
        meta = {"title": rendered.title, **({"subtitle": rendered.subtitle} if rendered.subtitle else {})}
        text = f"---\n{yaml.safe_dump(meta)}---\n\n" + "\n".join(md)
        typ = tmp / "report.typ"
        pypandoc.convert_text(text, "typst", format="markdown", outputfile=str(typ),
                              extra_args=["--standalone", "-V", "papersize=a4", "-V", "margin.x=1.6cm"])
        # No creation date in the PDF, so a rerun of the stage is byte-identical (DVC compares hashes).
        typ.write_text("#set document(date: none)\n" + typ.read_text())
        pdf = tmp / "report.pdf"
        typst.compile(str(typ), output=str(pdf), root=str(tmp))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(pdf), out)
        kept: list[Path] = []
        if figures_dir is not None:
            figures_dir.mkdir(parents=True, exist_ok=True)
            for p in pngs:
                shutil.copy(p, figures_dir / p.name)
                kept.append(figures_dir / p.name)
    return kept


# --------------------------------------------------------------------------------------------- drivers


@dataclass(frozen=True)
class Job:
    """One document to render: a .qmd source, its parameters, and the output stem."""

    source: Path
    params: dict[str, Any]
    stem: str


def jobs(reports: Path, tasks: Sequence[str]) -> list[Job]:
    """The overview once, and the per-task document once per task (parameter `task`)."""
    overview, task_doc = reports / "overview.qmd", reports / "task.qmd"
    for p in (overview, task_doc):
        if not p.is_file():
            raise InputError(f"{p}: report source not found")
    return [Job(overview, {}, "overview"), *[Job(task_doc, {"task": t}, f"task-{t}") for t in tasks]]


def render_offline(job: Job, out_dir: Path, formats: Sequence[str] = ("html", "pdf")) -> dict[str, Path]:
    """Execute one document and write `<stem>.html` / `<stem>.pdf` (+ figures/<stem>-N.png)."""
    rendered = execute(parse_qmd(job.source), job.params)
    written: dict[str, Path] = {}
    if "html" in formats:
        path = out_dir / f"{job.stem}.html"
        path.write_text(to_html(rendered))
        written["html"] = path
    if "pdf" in formats:
        path = out_dir / f"{job.stem}.pdf"
        to_pdf(rendered, path, out_dir / "figures", prefix=job.stem)
        written["pdf"] = path
    return written


def render_quarto(job: Job, out_dir: Path, formats: Sequence[str] = ("html", "pdf"), quarto: str = "quarto") -> dict[
        str, Path]:
    """`quarto render` one document per format (HTML self-contained, PDF through typst)."""
    written: dict[str, Path] = {}
    for fmt, to, ext in (("html", "html", "html"), ("pdf", "typst", "pdf")):
        if fmt not in formats:
            continue
        name = f"{job.stem}.{ext}"
        cmd = [quarto, "render", job.source.name, "--to", to, "--output", name]
        for key, value in job.params.items():
            cmd += ["-P", f"{key}:{value}"]
        result = subprocess.run(cmd, cwd=job.source.parent, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InputError(f"quarto render {job.source} failed:\n{result.stderr[-2000:]}")
        produced = job.source.parent / "_output" / name
        if not produced.exists():
            produced = job.source.parent / name
        shutil.move(str(produced), out_dir / name)
        written[fmt] = out_dir / name
    return written


def render_all(reports: Path, out_dir: Path, tasks: Sequence[str], renderer: str = "auto",
               formats: Sequence[str] = ("html", "pdf"), progress: bool = True) -> dict[str, dict[str, Path]]:
    """Render every report into `out_dir` (which the caller makes fresh); returns stem -> format -> file."""
    quarto = shutil.which("quarto")
    if renderer == "quarto" and quarto is None:
        raise InputError("W2S_RENDERER='quarto' but `quarto` is not on PATH (use auto or offline)")
    use_quarto = renderer == "quarto" or (renderer == "auto" and quarto is not None)
    out_dir.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Path]] = {}
    todo = jobs(reports, tasks)
    try:
        from tqdm import tqdm

        iterator = tqdm(todo, desc="report", disable=not progress)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        iterator = todo
    for job in iterator:
        if use_quarto:
            done[job.stem] = render_quarto(job, out_dir, formats, quarto or "quarto")
        else:
            done[job.stem] = render_offline(job, out_dir, formats)
    return done


def table_paths(dirs: Sequence[str | Path]) -> dict[str, Path]:
    """Every `*.parquet` under the table folders, by name: the file stem, or `<folder>_<stem>` when the
    stem is generic (`summary`) or already taken by an earlier folder."""
    found: dict[str, Path] = {}
    for d in map(Path, dirs):
        for f in sorted(d.glob("*.parquet")):
            name = f.stem if f.stem not in found and f.stem != "summary" else f"{d.name}_{f.stem}"
            found[name] = f.resolve()
    return found


def build_reports(table_dirs: Sequence[str | Path], reports: str | Path, out: str | Path, tasks: Sequence[str],
                  ladder: Sequence[str], renderer: str = "auto", formats: Sequence[str] = ("html", "pdf"),
                  progress: bool = True) -> dict[str, dict[str, Path]]:
    """Render every report from the analysis tables into `out`, replaced as a whole (atomically).

    Missing table folders are not an error: the figures that need them show a note instead."""
    from w2s.figures import CONTEXT_ENV
    from w2s.io import atomic_dir

    reports, out = Path(reports).resolve(), Path(out)
    bad = sorted(set(formats) - {"html", "pdf"})
    if bad or not formats:
        raise InputError(f"report.formats: unknown format {bad[0]!r}; allowed: html, pdf" if bad else
                         "report.formats: need at least one of html, pdf")
    if not [d for d in table_dirs if Path(d).is_dir()]:
        raise InputError(f"report: none of the table folders exists ({', '.join(map(str, table_dirs))}); "
                         "run `dvc repro analyze` first")
    context = {"tables": {k: str(v) for k, v in table_paths(table_dirs).items()}, "tasks": list(tasks),
               "ladder": list(ladder)}
    old = os.environ.get(CONTEXT_ENV)
    os.environ[CONTEXT_ENV] = json.dumps(context)
    try:
        with atomic_dir(out) as tmp:
            written = render_all(reports, tmp, tasks, renderer, formats, progress)
        return {stem: {fmt: out / p.name for fmt, p in files.items()} for stem, files in written.items()}
    finally:
        if old is None:
            os.environ.pop(CONTEXT_ENV, None)
        else:
            os.environ[CONTEXT_ENV] = old
