"""Small HTML pieces shared by the model pages and the index: escaping, tables, the style.

Every text that comes from data (model ids, feature names, alert messages) goes through
`html.escape`; figure JSON goes into a `<script type="application/json">` with `<` escaped, so a
feature named `</script>` stays text.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

from perf_pipeline.object_store import write_bytes

STYLE = """
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; margin: 0 24px 40px;
       color: #222; }
h1 { font-size: 22px; margin: 18px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.sub { color: #666; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left;
         vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { font-weight: bold; padding: 1px 8px; border-radius: 3px; color: #fff; }
.state.OK { background: #2ca02c; } .state.ALERT { background: #d62728; }
.state.NO.DATA, .state.NO_DATA { background: #999; }
.days a { display: inline-block; min-width: 22px; margin: 1px; padding: 1px 3px;
          text-align: center; font-size: 12px; text-decoration: none;
          border: 1px solid #cde; border-radius: 2px; }
.days a.alert { background: #fde0dc; border-color: #d62728; }
.more { color: #666; font-style: italic; }
.error { color: #d62728; }
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def fmt_number(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """`rows` hold already-escaped HTML; `numeric` column indexes are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _finite(value: object) -> object:
    """`value` with every NaN or infinite float as null: Plotly draws null as a gap, and a page
    must never fail to build because one day's metric was undefined."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_script(element_id: str, payload: object) -> str:
    text = json.dumps(_finite(payload), separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def write_atomically(target: Path, text: str) -> int:
    """Write the page so that a reader never sees half of it (`object_store.write_bytes`);
    the size in bytes."""
    data = text.encode("utf-8")
    write_bytes(target, data)
    return len(data)
