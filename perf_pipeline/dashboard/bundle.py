"""Plotly's JavaScript, carried inside each page so it opens offline and stands alone.

Plotly's full offline bundle (from the installed `plotly` package, never a CDN) is 4.6 MB,
which would leave almost nothing of the 5 MB a page may weigh for a year of data. It travels
gzip-compressed and base64-encoded (about 1.8 MB) and the browser's own `DecompressionStream`
expands it before the charts are drawn; a browser without it gets a message instead of blank
charts.

Compressing takes about a second, and every Dagster run is a new process, so the encoded bundle
is kept in the user's cache folder per Plotly version (as the DuckDB root aliases are) and in
memory; a cache that cannot be written only costs the second again.
"""

from __future__ import annotations

import base64
import functools
import gzip
import os
import uuid
from pathlib import Path

LOADER_JS = """
async function loadPlotly(encoded) {
  if (typeof DecompressionStream === "undefined") {
    throw new Error("this browser cannot expand the embedded charting library");
  }
  const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const script = document.createElement("script");
  script.textContent = await new Response(stream).text();
  document.head.appendChild(script);
}
"""


def _cache_file(version: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "perf_pipeline" / f"plotly-{version}.min.js.gz.b64"


def _encode() -> str:
    from plotly.offline import get_plotlyjs

    compressed = gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=6, mtime=0)
    return base64.b64encode(compressed).decode("ascii")


@functools.lru_cache(maxsize=1)
def plotly_bundle_gzip_base64() -> str:
    import plotly

    cached = _cache_file(plotly.__version__)
    try:
        return cached.read_text("ascii")
    except OSError:
        pass
    encoded = _encode()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        staged = cached.with_name(f".{cached.name}.{uuid.uuid4().hex}")
        staged.write_text(encoded, "ascii")
        os.replace(staged, cached)  # atomic: a concurrent run reads a whole file or none
    except OSError:
        pass
    return encoded
