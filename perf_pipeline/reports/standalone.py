"""Evidently dashboards made into one page that works anywhere: e-mailed, copied, offline.

Each Evidently 0.7 snapshot renders a whole page (`get_html_str(as_iframe=False)`): its data in a
script in the head, an empty root element, its 3.5 MB dashboard library inlined as plain text,
and a `drawDashboard` call. A daily report holds two snapshots (drift on every row, quality on
the labelled rows), so this module takes each page's data, root and call, and writes one page
with the library once, gzip-compressed and base64-encoded (about 1.4 MB), unpacked by the
browser's own `DecompressionStream` before the dashboards are drawn. Nothing is fetched: no
shared script beside the page, no CDN, so a copy of the file alone shows the whole report.
"""

from __future__ import annotations

import base64
import gzip
import re
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from pathlib import Path

_STYLE = re.compile(r"<style>.*?</style>", re.S)
_DATA = re.compile(r"<script>\s*var (metric_\w+) = .*?</script>", re.S)
# The library's opening; it ends at the next `</script>` (which it cannot contain, or the
# browser would end it there too). Found with `str.find`: a lazy regular expression over its
# 3.5 MB cost 35 ms a page, a tenth of a small day's report with both dashboards.
_LIBRARY_OPEN = re.compile(r"<script>var global = globalThis</script>\s*<script>")
_SCRIPT_END = "</script>"
_DRAW_CALL = re.compile(r"<script>\s*(window\.drawDashboard\(.*?\);)\s*</script>", re.S)

_LOADER = """<script>var global = globalThis</script>
<script id="evidently-library" type="application/octet-stream">{payload}</script>
<script>
(async () => {{
  const packed = document.getElementById("evidently-library").textContent.trim();
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const library = document.createElement("script");
  library.textContent = await new Response(stream).text();
  document.body.appendChild(library);
  {draws}
}})();
</script>"""


class ReportTemplateError(RuntimeError):
    """Evidently's page no longer has the shape this module reads (not the 0.7 series)."""


@dataclass(frozen=True)
class Dashboard:
    """The parts of one Evidently page that a combined page needs, its library already packed
    (so a worker that drew the page hands back 1.4 MB, not 3.5)."""

    style: str
    data: str
    dashboard_id: str
    packed_library: str
    draw: str

    @classmethod
    def of(cls, page: str) -> Dashboard:
        library = _library_span(page)
        if library is None:
            raise ReportTemplateError(_UNKNOWN_SHAPE)
        start, end = library
        style, data = _STYLE.search(page, 0, start), _DATA.search(page, 0, start)
        draw = _DRAW_CALL.search(page, end)
        if style is None or data is None or draw is None:
            raise ReportTemplateError(_UNKNOWN_SHAPE)
        return cls(
            style.group(0), data.group(0), data.group(1), _packed(page[start:end]), draw.group(1)
        )


_UNKNOWN_SHAPE = (
    "Evidently's report page has no style, data, inlined library or drawDashboard call where "
    "the 0.7 series puts them; pin evidently 0.7.x"
)


def _library_span(page: str) -> tuple[int, int] | None:
    """Where the inlined library's code starts and ends in `page`."""
    opening = _LIBRARY_OPEN.search(page)
    if opening is None:
        return None
    end = page.find(_SCRIPT_END, opening.end())
    return None if end < 0 else (opening.end(), end)


@lru_cache(maxsize=2)
def _packed(code: str) -> str:
    """The library compressed once per process: every report of a run embeds the same bytes."""
    return base64.b64encode(gzip.compress(code.encode("utf-8"), compresslevel=9, mtime=0)).decode()


INPUTS_META = "perf-pipeline-inputs"
_INPUTS = re.compile(rf"<meta name='{INPUTS_META}' content='([0-9a-f.]+)'>")
# The meta tag sits in the page's first line or two: reading this much finds it.
_HEAD_BYTES = 1024


def stored_inputs_digest(page: Path) -> str | None:
    """The inputs digest a report page was drawn from; None for a page without one (a blocked
    day's page, an older report) or no page."""
    try:
        with page.open("rb") as handle:
            head = handle.read(_HEAD_BYTES).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    found = _INPUTS.search(head)
    return found.group(1) if found else None


def standalone_page(
    title: str, header: str, sections: list[tuple[str, Dashboard]], inputs_digest: str = ""
) -> str:
    """One page: `header` (HTML), then each (heading, Evidently dashboard) under its heading.

    `inputs_digest` (of the data the page is drawn from) goes in a meta tag at the top, so a
    later run finds out cheaply whether the page is still current."""
    first = sections[0][1]
    bodies = "".join(
        f"<h2 class='pp-section'>{escape(heading)}</h2><div id='root_{d.dashboard_id}'></div>"
        for heading, d in sections
    )
    loader = _LOADER.format(
        payload=first.packed_library,
        draws="\n  ".join(d.draw for _, d in sections),
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='UTF-8'>\n"
        f"<meta name='{INPUTS_META}' content='{inputs_digest}'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1.0'>\n"
        f"<title>{escape(title)}</title>\n{first.style}\n"
        f"{''.join(d.data for _, d in sections)}\n"
        "<style>.pp-section { font-family: system-ui, sans-serif; margin: 24px 24px 0; }</style>"
        f"\n</head>\n<body>\n{header}\n{bodies}\n{loader}\n</body>\n</html>\n"
    )
