"""Plotly's JavaScript, carried inside each page so it opens offline and stands alone.

Plotly's full offline bundle (from the installed `plotly` package, never a CDN) is 4.6 MB,
which would leave almost nothing of the 5 MB a page may weigh for a year of data. It travels
gzip-compressed and base64-encoded (about 1.8 MB) and the browser's own `DecompressionStream`
expands it before the charts are drawn; a browser without it gets a message instead of blank
charts. Compressing takes a fraction of a second, so it is done once per process.
"""

from __future__ import annotations

import base64
import functools
import gzip

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


@functools.lru_cache(maxsize=1)
def plotly_bundle_gzip_base64() -> str:
    from plotly.offline import get_plotlyjs

    compressed = gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=6, mtime=0)
    return base64.b64encode(compressed).decode("ascii")
