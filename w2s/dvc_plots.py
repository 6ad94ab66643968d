"""Plot data for `dvc plots` and an HTML page that draws it offline.

DVC reads plot data from json/csv/yaml, not parquet, so each analysis stage writes, beside its tidy
parquet table, the same rows as a JSON list of records (`write_records`): numbers stay numbers (a CSV
would hand Vega strings). The vega-lite templates that draw them live in `plot_templates/*.json`.

`dvc plots show` fills an HTML page whose default version loads vega, vega-lite and vega-embed from a
CDN: offline the page stays blank. `offline_page` builds a page template with the three libraries
inlined (the bundle shipped in the `vl-convert-python` wheel), which `.dvc/config`'s
`plots.html_template` points at; the template has no `{scripts}` placeholder, so DVC's CDN tags are
never inserted.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from w2s.io import atomic_path, write_json

#: Exposes the bundle's modules under the global names DVC's per-plot snippets call.
_GLOBALS = "window.vega = vega; window.vegaLite = vegaLite; window.vegaEmbed = vegaEmbed;"

_PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>w2s-lab plots</title>
    <!-- vega {vega}, vega-lite {vegalite}, vega-embed {embed}: inlined (from vl-convert-python) so the
         page draws without a network -->
    <script type="text/javascript">
{bundle}
    </script>
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def write_records(table: pl.DataFrame, path: str | Path) -> None:
    """`table` as a JSON list of row objects (what DVC's json plot loader expects), written atomically."""
    write_json(table.to_dicts(), path)


def offline_page() -> str:
    """DVC's HTML page template with the vega libraries inlined; keeps DVC's `{plot_divs}` and
    `{refresh_tag}` placeholders."""
    import vl_convert as vlc

    vegalite = vlc.get_vegalite_versions()[-1]
    bundle = vlc.javascript_bundle(_GLOBALS, vl_version=vegalite)
    # Inline JS ends at the first "</script": escape any inside the bundle (none in 1.9, but cheap).
    bundle = bundle.replace("</script", "<\\/script")
    for placeholder in ("{plot_divs}", "{refresh_tag}", "{scripts}"):
        if placeholder in bundle:  # DVC's str.replace would splice plots into the library's code
            raise RuntimeError(f"vega bundle contains DVC's placeholder {placeholder}")
    versions = {"vega": vlc.get_vega_version(), "vegalite": vegalite,
                "embed": vlc.get_vega_embed_version()}
    page = _PAGE
    for key, value in versions.items():
        page = page.replace("{" + key + "}", value)
    return page.replace("{bundle}", bundle)


def write_offline_page(path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(offline_page(), encoding="utf8")
