"""Render the Quarto reports in `reports/`: with `quarto` when it is on PATH, else offline.

The offline renderer executes the same `.qmd` files the way Quarto's Jupyter engine does:

* the YAML front matter (title, subtitle, params, `jupyter`, `execute`, `format`) over the folder's
  `_quarto.yml` (`execute` defaults, `format.html.toc` / `include-in-header`, `format.typst.papersize` /
  `margin` / `toc`); a key it does not implement is an error naming it;
* every ```` ```{python} ```` cell runs in ONE Jupyter kernel per document (nbclient + ipykernel, the
  document's folder as working directory), with Quarto's cell options (`CELL_OPTIONS`: eval, echo,
  output true/false/asis, include, warning, error, label, fig-cap, fig-alt, code-fold, code-summary,
  tags); any other `#|` option is refused with one line naming it and the file:line. A cell tagged
  `parameters` is followed by the document's parameters, as `quarto render -P key:value` does;
* outputs are taken in the kernel's order (stdout and `display()` interleaved): charts (the Vega-Lite
  spec that `w2s.figures.use_chart_renderer` puts in each chart's output) become figures, `text/markdown`
  (e.g. `w2s.figures.Note`) Markdown, text a code block (raw Markdown with `output: asis`);
* inline `` `{python} expr` `` is evaluated in the kernel where it stands; `label: fig-...` cells are
  numbered "Figure N" with their `fig-cap`, and `@fig-...` in the text becomes a link "Figure N".

It then writes (a) one self-contained HTML file per document, the charts interactive through vega-embed
with the Vega bundle (`include-in-header`, from `vl-convert-python`) inlined, so the page draws with no
network, and (b) a PDF: pandoc (the `pypandoc-binary` wheel) turns the Markdown, charts as PNG images from
vl-convert, into typst, which the `typst` wheel compiles. Both are the same bytes on any machine: typst
sees only its embedded fonts, the PNGs only the bundled `w2s/fonts/` family, and nothing carries a date.
"""

from __future__ import annotations

import ast
import base64
import html
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
"""Set to 1 in the kernel's environment while the offline renderer executes a document."""

_CHUNK = re.compile(r"^```\{python[^}]*\}[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_OPTION = re.compile(r"^#\|\s?(.*)$")
_INLINE = re.compile(r"`\{python\}\s+([^`]+)`")
_XREF = re.compile(r"(?<![\w.@])@(fig-[A-Za-z0-9_-]*[A-Za-z0-9_])")

EXECUTE_OPTIONS = ("eval", "echo", "output", "include", "warning", "error")
"""Execution options: per cell (`#| echo: true`), or as defaults under `execute:` in `_quarto.yml` or the
front matter (the cell wins, then the front matter, then `_quarto.yml`)."""
CELL_OPTIONS = (*EXECUTE_OPTIONS, "label", "fig-cap", "fig-alt", "code-fold", "code-summary", "tags")
"""Every cell option the offline renderer implements; any other `#|` option is refused (one line naming
it and the file:line), so no option is ignored silently."""
_DEFAULTS: dict[str, Any] = {"eval": True, "echo": True, "output": True, "include": True, "warning": True,
                             "error": False}
FRONT_MATTER_KEYS = ("title", "subtitle", "params", "jupyter", "execute", "format")
PROJECT_KEYS = {"project": ("type", "output-dir"), "execute": EXECUTE_OPTIONS, "format": ("html", "typst")}
FORMAT_KEYS = {"html": ("embed-resources", "toc", "toc-depth", "toc-title", "include-in-header"),
               "typst": ("papersize", "margin", "toc", "toc-depth")}


@dataclass(frozen=True)
class Chunk:
    """One ```{python} chunk: its source (options removed), options, and first line in the file."""

    code: str
    options: dict[str, Any]
    line: int


@dataclass(frozen=True)
class Document:
    """A parsed .qmd file: front matter, the project's `_quarto.yml` (if any) and an alternating list of
    Markdown text and code chunks."""

    path: Path
    meta: dict[str, Any]
    parts: list[str | Chunk]
    project: dict[str, Any] = field(default_factory=dict)

    def line_of(self, part: str) -> int:
        """First line of a Markdown part in the file."""
        text = self.path.read_text()
        pos = text.find(part)
        return text.count("\n", 0, max(pos, 0)) + 1


@dataclass
class Chart:
    """A chart a chunk displayed: its Vega-Lite spec, title, and the PNG the kernel made of it."""

    spec: dict[str, Any]
    title: str
    caption: str | None = None
    png: bytes | None = None


@dataclass
class Figure:
    """A figure: the charts (or Markdown notes in their place) of one cell, its caption, alt text and, with
    a `fig-` label, its number. Several charts in one figure are its sub-figures (a), (b), ..."""

    items: list[str | Chart]
    label: str | None = None
    number: int | None = None
    caption: str | None = None
    alt: str | None = None

    @property
    def charts(self) -> list[Chart]:
        return [i for i in self.items if isinstance(i, Chart)]

    def caption_text(self) -> str | None:
        if self.number is None:
            return self.caption
        return f"Figure {self.number}" + (f": {self.caption}" if self.caption else "")


@dataclass
class Rendered:
    """An executed document: title, format options, and a sequence of Markdown strings and figures."""

    title: str
    subtitle: str | None
    blocks: list[str | Figure] = field(default_factory=list)
    formats: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]

    @property
    def charts(self) -> list[Chart]:
        return [c for f in self.figures for c in f.charts]


def _yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"{where}: not valid YAML ({str(err).splitlines()[0]})") from None


def _check_keys(found: Mapping[str, Any], allowed: Sequence[str], where: str, what: str) -> None:
    for key in found:
        if key not in allowed:
            raise InputError(f"{where}: {what} {key!r} is not supported by the offline renderer "
                             f"(supported: {', '.join(allowed)})")


def read_project(folder: Path) -> dict[str, Any]:
    """`_quarto.yml` of a report folder (empty without one), checked: a key the offline renderer does not
    implement is an error naming it."""
    path = folder / "_quarto.yml"
    if not path.is_file():
        return {}
    project = _yaml(path.read_text(), str(path)) or {}
    _check_keys(project, list(PROJECT_KEYS), str(path), "key")
    for key, allowed in PROJECT_KEYS.items():
        _check_keys(project.get(key) or {}, allowed, str(path), f"{key} option")
    for fmt, allowed in FORMAT_KEYS.items():
        _check_keys((project.get("format") or {}).get(fmt) or {}, allowed, str(path), f"format.{fmt} option")
    return project


def parse_qmd(path: str | Path) -> Document:
    """Split a .qmd file into front matter, Markdown and python chunks; read the folder's `_quarto.yml`.
    Unknown front-matter keys and cell options are errors naming the file and line."""
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
        meta = _yaml(text[4:end], f"{path}: front matter") or {}
        _check_keys(meta, FRONT_MATTER_KEYS, f"{path}:1", "front-matter key")
        for fmt, allowed in FORMAT_KEYS.items():
            _check_keys((meta.get("format") or {}).get(fmt) or {}, allowed, f"{path}:1", f"format.{fmt} option")
        _check_keys(meta.get("execute") or {}, EXECUTE_OPTIONS, f"{path}:1", "execute option")
        body_start = text.find("\n", end + 4) + 1 if text.find("\n", end + 4) >= 0 else len(text)
    parts: list[str | Chunk] = []
    pos = body_start
    for m in _CHUNK.finditer(text, body_start):
        parts.append(text[pos:m.start()])
        line = text.count("\n", 0, m.start()) + 2
        lines = m.group(1).splitlines()
        opts: list[str] = []
        while lines and _OPTION.match(lines[0]):
            opts.append(_OPTION.match(lines.pop(0)).group(1))  # type: ignore[union-attr]
        options = (_yaml("\n".join(opts), f"{path}:{line - 1}: bad chunk option") or {}) if opts else {}
        for key in options:
            if key not in CELL_OPTIONS:
                raise InputError(f"{path}:{line + next(i for i, o in enumerate(opts) if o.startswith(key))}: "
                                 f"cell option {key!r} is not supported by the offline renderer "
                                 f"(supported: {', '.join(CELL_OPTIONS)})")
        if options.get("output", True) not in (True, False, "asis"):
            raise InputError(f"{path}:{line}: output: {options['output']!r} (allowed: true, false, asis)")
        parts.append(Chunk("\n".join(lines) + "\n", options, line + len(opts)))
        pos = m.end()
    parts.append(text[pos:])
    return Document(path, meta, [p for p in parts if not (isinstance(p, str) and not p.strip())],
                    read_project(path.parent))


def _chart_title(spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(map(str, title))
    return str(title) if title else "Figure"


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _outputs_to_blocks(outputs: Sequence[Mapping[str, Any]], options: Mapping[str, Any]) -> list[str | Chart]:
    """A cell's Jupyter outputs, in the kernel's order, as Markdown strings and charts (stdout and displays
    interleave as they did in the kernel; consecutive stream text is one block)."""
    asis = options.get("output") == "asis"
    shown: list[str | Chart] = []
    stream: list[str] = []
    stream_name = None

    def flush() -> None:
        nonlocal stream_name
        if stream:
            text = "".join(stream)
            shown.append(text if asis and stream_name == "stdout" else f"```\n{text.rstrip(chr(10))}\n```\n")
            stream.clear()
        stream_name = None

    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stderr" and not options.get("warning"):
                continue  # `warning: false` drops what the cell wrote to stderr (warnings), as Quarto does
            if stream_name not in (None, out.get("name")):
                flush()
            stream_name = out.get("name")
            stream.append(out.get("text", ""))
            continue
        flush()
        if kind == "error":
            shown.append(f"```\n{out.get('ename')}: {_strip_ansi(str(out.get('evalue')))}\n```\n")
            continue
        data = out.get("data") or {}
        spec = next((v for k, v in data.items() if k.startswith("application/vnd.vegalite.")), None)
        if spec is not None:
            spec = json.loads(spec) if isinstance(spec, str) else dict(spec)
            png = base64.b64decode(data["image/png"]) if "image/png" in data else None
            shown.append(Chart(spec, _chart_title(spec), png=png))
        elif "text/markdown" in data:
            shown.append(str(data["text/markdown"]).rstrip("\n") + "\n")
        elif "text/plain" in data:
            text = str(data["text/plain"])
            shown.append(text + "\n" if asis else f"```\n{text}\n```\n")
    flush()
    return shown


class _Kernel:
    """One Jupyter kernel (nbclient + ipykernel, as Quarto's Jupyter engine) running a document's cells."""

    def __init__(self, doc: Document, kernel_name: str, sockets: Path) -> None:
        import nbformat
        from nbclient import NotebookClient

        self.doc = doc
        self.nb = nbformat.v4.new_notebook()
        self.client = NotebookClient(self.nb, kernel_name=kernel_name, timeout=1800,
                                     resources={"metadata": {"path": str(doc.path.parent)}})
        # local sockets in a private folder instead of TCP ports: nothing listens on the network
        self.client.km = self.client.create_kernel_manager()
        self.client.km.transport = "ipc"
        self.client.km.ip = str(sockets / "kernel")

    def run(self, code: str, where: str, allow_error: bool = False) -> list[dict[str, Any]]:
        import nbformat
        from nbclient.exceptions import CellExecutionError

        cell = nbformat.v4.new_code_cell(code)
        if allow_error:
            cell.metadata["tags"] = ["raises-exception"]
        self.nb.cells.append(cell)
        try:
            self.client.execute_cell(cell, len(self.nb.cells) - 1)
        except CellExecutionError as err:
            raise InputError(f"{where}: chunk failed: {err.ename}: {_strip_ansi(str(err.evalue))}") from None
        return [dict(o) for o in cell.outputs]

    def value(self, expr: str, where: str) -> str:
        """An inline expression's value as text: a string as is, anything else as Jupyter shows it."""
        for out in self.run(expr, where):
            data = out.get("data") or {}
            if out.get("output_type") == "execute_result":
                if "text/markdown" in data:
                    return str(data["text/markdown"]).strip()
                text = str(data.get("text/plain", ""))
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    return text
                return value if isinstance(value, str) else text
        raise InputError(f"{where}: inline expression `{expr}` has no value")


def _options(doc: Document, chunk: Chunk) -> dict[str, Any]:
    """A cell's effective options: its own, then the front matter's `execute`, then `_quarto.yml`'s."""
    merged = dict(_DEFAULTS)
    merged.update(doc.project.get("execute") or {})
    merged.update(doc.meta.get("execute") or {})
    merged.update(chunk.options)
    return merged


def formats_of(doc: Document) -> dict[str, dict[str, Any]]:
    """Per-format options (html, typst): `_quarto.yml`'s, updated by the front matter's."""
    out: dict[str, dict[str, Any]] = {}
    for fmt in FORMAT_KEYS:
        out[fmt] = {**((doc.project.get("format") or {}).get(fmt) or {}),
                    **((doc.meta.get("format") or {}).get(fmt) or {})}
    return out


def _code_block(code: str, options: Mapping[str, Any]) -> str:
    block = f"```python\n{code.rstrip(chr(10))}\n```\n"
    if options.get("code-fold"):
        summary = html.escape(str(options.get("code-summary", "Code")))
        opened = " open" if options["code-fold"] == "show" else ""
        return f"<details{opened}>\n<summary>{summary}</summary>\n\n{block}\n</details>\n"
    return block


_BOOTSTRAP = ("import os as _os\n_os.environ['" + OFFLINE_ENV + "'] = '1'\n"
              "from w2s.figures import use_chart_renderer as _w2s_use\n_w2s_use()\ndel _os, _w2s_use\n")


def execute(doc: Document, params: Mapping[str, Any] | None = None) -> Rendered:
    """Run the document's cells in one Jupyter kernel (in the document's folder, as Quarto does), with
    Quarto's cell options, and collect what they show; inline `` `{python} expr` `` are evaluated in the
    same kernel where they stand; `@fig-...` references become "Figure N"."""
    meta = doc.meta
    rendered = Rendered(str(meta.get("title", doc.path.stem)), meta.get("subtitle"), formats=formats_of(doc))
    overrides = dict(meta.get("params") or {})
    overrides.update(params or {})
    declared = {str(p.options["label"]) for p in doc.parts if isinstance(p, Chunk) and "label" in p.options}
    for text in (p for p in doc.parts if isinstance(p, str)):
        for ref in _XREF.findall(text):
            if ref not in declared:  # checked before the kernel starts
                raise InputError(f"{doc.path}:{doc.line_of(text)}: @{ref} refers to no figure label "
                                 f"(labels: {', '.join(sorted(declared)) or 'none'})")
    kernel_name = str(meta.get("jupyter") or "python3")
    labels: dict[str, Figure] = {}
    with tempfile.TemporaryDirectory(prefix="w2s-kernel-") as sockets:
        kernel = _Kernel(doc, kernel_name, Path(sockets))
        _run_cells(kernel, doc, rendered, overrides, labels)
    for i, block in enumerate(rendered.blocks):
        if isinstance(block, str):
            rendered.blocks[i] = _resolve_refs(block, labels, doc)
    return rendered


def _run_cells(kernel: _Kernel, doc: Document, rendered: Rendered, overrides: Mapping[str, Any],
               labels: dict[str, Figure]) -> None:
    """Execute every cell and inline expression of `doc` in `kernel`, appending what shows to `rendered`."""
    with kernel.client.setup_kernel():
        kernel.run(_BOOTSTRAP, f"{doc.path}: renderer set-up")
        for part in doc.parts:
            if isinstance(part, str):
                rendered.blocks.append(_inline(kernel, doc, part))
                continue
            opts = _options(doc, part)
            where = f"{doc.path}:{part.line}"
            label = opts.get("label")
            if label is not None and (not isinstance(label, str) or label in labels):
                raise InputError(f"{where}: label {label!r} is not a string or is used twice")
            shown: list[str | Chart] = []
            if opts["eval"]:
                shown = _outputs_to_blocks(kernel.run(part.code, where, bool(opts["error"])), opts)
                if "parameters" in (opts.get("tags") or []) and overrides:
                    kernel.run("".join(f"{k} = {v!r}\n" for k, v in overrides.items()), f"{where}: parameters")
            if not opts["include"]:
                continue
            rendered.blocks.extend(_cell_blocks(part, opts, shown, labels))


def _cell_blocks(part: Chunk, opts: Mapping[str, Any], shown: list[str | Chart],
                 labels: dict[str, Figure]) -> list[str | Figure]:
    """What an included cell shows: its code (`echo`, `code-fold`), then its outputs, the charts (and the
    notes standing in for missing ones) of a `fig-` cell gathered into one numbered figure."""
    label = opts.get("label")
    out: list[str | Figure] = [_code_block(part.code, opts)] if opts["echo"] else []
    is_fig = isinstance(label, str) and label.startswith("fig-")
    figure: Figure | None = None
    for item in [] if opts["output"] is False else shown:
        if isinstance(item, Chart) or (is_fig and opts["output"] != "asis" and item.startswith("> ")):
            if figure is None:
                figure = Figure([], label if is_fig else None, caption=opts.get("fig-cap"), alt=opts.get("fig-alt"))
                out.append(figure)
            figure.items.append(item)
        else:
            out.append(item)
    if is_fig:
        if figure is None:
            figure = Figure([], label, caption=opts.get("fig-cap"), alt=opts.get("fig-alt"))
            out.append(figure)
        figure.number = sum(1 for f in labels.values() if f.number is not None) + 1
        labels[str(label)] = figure
    elif label:
        out = [f"::: {{#{label}}}\n", *out, ":::\n"]
    return out


def _inline(kernel: _Kernel, doc: Document, text: str) -> str:
    """Markdown with every `` `{python} expr` `` replaced by the expression's value."""
    if not _INLINE.search(text):
        return text
    start = doc.line_of(text)

    def value(m: re.Match[str]) -> str:
        where = f"{doc.path}:{start + text.count(chr(10), 0, m.start())}"
        return kernel.value(m.group(1).strip(), where)

    return _INLINE.sub(value, text)


def _resolve_refs(text: str, labels: Mapping[str, Figure], doc: Document) -> str:
    def ref(m: re.Match[str]) -> str:
        figure = labels.get(m.group(1))
        if figure is None:
            raise InputError(f"{doc.path}: @{m.group(1)} refers to no figure (labels: {', '.join(labels) or 'none'})")
        return f"[Figure {figure.number}](#{m.group(1)})"

    # code spans and blocks keep their text
    pieces = re.split(r"(```.*?```|`[^`]*`)", text, flags=re.S)
    return "".join(p if i % 2 else _XREF.sub(ref, p) for i, p in enumerate(pieces))


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
.w2s-subcaption { color: #555; font-size: 0.85rem; margin: 0.2rem 0 0.8rem; }
nav#TOC { border: 1px solid #ddd; padding: 0.4rem 1rem; margin: 1rem 0; font-size: 0.9rem; }
nav#TOC ul { padding-left: 1.2rem; margin: 0.2rem 0; } details summary { cursor: pointer; color: #555; }
"""


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(obj).replace("</", "<\\/")


VEGA_HEADER = "_vega-header.html"
"""The Vega bundle as a header file beside the .qmd sources (`format.html.include-in-header` of
`_quarto.yml`): `build_reports` writes it before either renderer runs (git ignores it)."""


def write_vega_header(folder: Path) -> Path:
    """Write `<folder>/_vega-header.html` (the inlined Vega, Vega-Lite, vega-embed bundle) if it differs."""
    path = folder / VEGA_HEADER
    text = f"<script>{vega_bundle()}</script>\n"
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def _raw_html(text: str) -> str:
    return f"\n```{{=html}}\n{text}\n```\n"


def _figure_html(fig: Figure, specs: list[dict[str, Any]]) -> str:
    """A figure as raw HTML blocks (so pandoc leaves it alone) around its Markdown notes, if any."""
    ident = f' id="{html.escape(fig.label)}"' if fig.label else ""
    parts = [_raw_html(f'<figure class="w2s-figure"{ident}>')]
    charts = fig.charts
    for item in fig.items:
        if isinstance(item, Chart):
            i = len(specs)
            specs.append(item.spec)
            alt = fig.alt or item.title
            sub = ""
            if len(charts) > 1:
                sub = (f'<p class="w2s-subcaption">({chr(97 + charts.index(item))}) '
                       f'{html.escape(item.title)}</p>')
            parts.append(_raw_html(f'<div class="w2s-subfigure"><div class="w2s-chart" id="w2s-chart-{i}" '
                                   f'role="img" aria-label="{html.escape(alt)}" '
                                   f'data-title="{html.escape(item.title)}"></div>{sub}</div>'))
        else:
            parts.append(f"\n{item}\n")
    caption = fig.caption_text()
    parts.append(_raw_html((f"<figcaption>{html.escape(caption)}</figcaption>" if caption else "") + "</figure>"))
    return "".join(parts)


_TEMPLATE = "$if(toc)$<nav id=\"TOC\" role=\"doc-toc\">\n$if(toc-title)$<h2 id=\"toc-title\">$toc-title$</h2>\n" \
            "$endif$$table-of-contents$\n</nav>\n$endif$\n$body$\n"


def to_html(rendered: Rendered, folder: Path | None = None) -> str:
    """One self-contained HTML page: the Markdown through pandoc (with a table of contents when
    `format.html.toc`), every chart a vega-embed view, the `include-in-header` files (the Vega bundle)
    inlined in <head> (files relative to `folder`, the document's)."""
    import pypandoc

    opts = rendered.formats.get("html", {})
    md: list[str] = []
    specs: list[dict[str, Any]] = []
    for block in rendered.blocks:
        md.append(_figure_html(block, specs) if isinstance(block, Figure) else block)
    args = ["--wrap=none", "--standalone", "--section-divs"]
    if opts.get("toc"):
        args += ["--toc", f"--toc-depth={int(opts.get('toc-depth', 3))}",
                 "-V", f"toc-title={opts.get('toc-title', 'Table of contents')}"]
    with tempfile.TemporaryDirectory(prefix="w2s-report-") as tmp:
        template = Path(tmp) / "page.html"
        template.write_text(_TEMPLATE)
        body = pypandoc.convert_text("\n".join(md), "html5", format="markdown",
                                     extra_args=[*args, f"--template={template}", "--metadata=title:-"])
    headers = opts.get("include-in-header") or []
    head = "".join((Path(folder or ".") / h).read_text() for h in ([headers] if isinstance(headers, str)
                                                                     else headers))
    if "vegaEmbed" not in head:
        head += f"<script>{vega_bundle()}</script>\n"
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
        f"{head}</head>\n"
        f"<body data-charts=\"{len(specs)}\">\n<header><h1>{html.escape(rendered.title)}</h1>{subtitle}</header>\n"
        f"{body}\n<script type=\"application/json\" id=\"w2s-specs\">{_script_json(specs)}</script>\n"
        f"<script>\n{embed}</script>\n</body>\n</html>\n"
    )


# ------------------------------------------------------------------------------------------------- PDF


FONT_DIR = Path(__file__).with_name("fonts")
CHART_FONT = "W2S Sans"
"""The family of every chart PNG's text: DejaVu Sans renamed, in w2s/fonts/ (see its README), a name no
system font has, so vl-convert never draws a PNG with a font of the machine."""


@lru_cache(maxsize=1)
def _register_chart_font() -> None:
    import vl_convert as vlc

    vlc.register_font_directory(str(FONT_DIR))


def chart_png(spec: Mapping[str, Any], scale: float = 2.0) -> bytes:
    """A static PNG of a Vega-Lite spec (vl-convert, no browser), all its text in `CHART_FONT`."""
    import vl_convert as vlc

    _register_chart_font()
    spec = {**spec, "config": {**(spec.get("config") or {}), "font": CHART_FONT}}
    return bytes(vlc.vegalite_to_png(spec, vl_version=vegalite_version(), scale=scale))


def _typst_str(text: str) -> str:
    """A typst string literal (content from it is never parsed as markup)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _figure_typst(fig: Figure, images: list[tuple[str, Chart]]) -> str:
    """A figure as raw typst: its images (sub-captions with the chart titles), its caption "Figure N: ...",
    and its label, so that `[Figure N](#fig-...)` links resolve."""
    charts = fig.charts
    body = []
    for name, chart in images:
        letter = f"({chr(97 + charts.index(chart))}) " if len(charts) > 1 else ""
        body.append(f"image({_typst_str(name)}, width: 100%, alt: {_typst_str(fig.alt or chart.title)}), "
                    f"text(size: 0.85em, {_typst_str(letter + chart.title)})")
    caption = fig.caption_text()
    cap = f", caption: [#{_typst_str(caption)}]" if caption else ""
    label = f" <{fig.label}>" if fig.label else ""
    return (f"\n```{{=typst}}\n#figure(stack(spacing: 0.5em, {', '.join(body)}){cap}, kind: image, "
            f"supplement: none, numbering: none){label}\n```\n")


def to_pdf(rendered: Rendered, out: Path, figures_dir: Path | None = None, prefix: str = "figure") -> list[Path]:
    """Write the PDF (pandoc -> typst -> PDF) and return the chart PNGs it embeds, which are also kept
    under `figures_dir` when given. Typst uses only its own embedded fonts (never the machine's) and
    writes no date, so the PDF is byte-identical on any machine."""
    import pypandoc
    import typst

    opts = rendered.formats.get("typst", {})
    pngs: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="w2s-report-") as tmp_name:
        tmp = Path(tmp_name)
        md: list[str] = []
        for block in rendered.blocks:
            if not isinstance(block, Figure):
                md.append(block.replace("> **Figure not available.**", "> **Figure not available:**"))
                continue
            images = []
            for item in block.items:
                if isinstance(item, Chart):
                    slug = re.sub(r"[^a-z0-9]+", "-", item.title.lower()).strip("-")[:80]
                    name = f"{prefix}-{len(pngs) + 1:02d}-{slug}.png"
                    (tmp / name).write_bytes(item.png or chart_png(item.spec))
                    pngs.append(tmp / name)
                    images.append((name, item))
                else:
                    md.append(item.replace("> **Figure not available.**", "> **Figure not available:**"))
            md.append(_figure_typst(block, images))
        meta = {"title": rendered.title, **({"subtitle": rendered.subtitle} if rendered.subtitle else {})}
        text = f"---\n{yaml.safe_dump(meta)}---\n\n" + "\n".join(md)
        typ = tmp / "report.typ"
        args = ["--standalone", "-V", f"papersize={opts.get('papersize', 'a4')}"]
        margin = opts.get("margin") or {}
        for side, value in (margin.items() if isinstance(margin, Mapping) else [("x", margin)]):
            args += ["-V", f"margin.{side}={value}"]
        if opts.get("toc"):
            args += ["--toc", f"--toc-depth={int(opts.get('toc-depth', 3))}"]
        pypandoc.convert_text(text, "typst", format="markdown", outputfile=str(typ), extra_args=args)
        # No creation date in the PDF, so a rerun of the stage is byte-identical (DVC compares hashes).
        typ.write_text("#set document(date: none)\n" + typ.read_text())
        pdf = tmp / "report.pdf"
        typst.compile(str(typ), output=str(pdf), root=str(tmp), ignore_system_fonts=True)
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
        path.write_text(to_html(rendered, job.source.parent))
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
    if use_quarto:
        for job in iterator:
            done[job.stem] = render_quarto(job, out_dir, formats, quarto or "quarto")
        return done
    # Two documents at a time: one's kernel runs its cells while the other's HTML and PDF are written
    # (every output depends only on its own document, so the bytes do not depend on the overlap).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {job.stem: pool.submit(render_offline, job, out_dir, formats) for job in todo}
        for job in iterator:
            done[job.stem] = futures[job.stem].result()
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
    write_vega_header(reports)
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
