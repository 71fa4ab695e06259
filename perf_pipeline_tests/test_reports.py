"""The daily Evidently report and the blocked-day page, through a real single-run backfill of
the four-day scenario (`report_scenario.py`)."""

from __future__ import annotations

import re
import shutil

import dagster as dg
import pytest

from perf_pipeline_tests.report_scenario import (
    BLOCKED,
    DAYS,
    HEALTHY,
    MODEL,
    definitions,
    run_range,
    write_scenario,
)

pytestmark = pytest.mark.slow  # one real run of the whole model over four days
MAX_REPORT_BYTES = 3_000_000
# What a browser would fetch: scripts, stylesheets, images, frames, CSS urls.
FETCHES = re.compile(
    r"""(<script[^>]*\ssrc=|<link[^>]*\shref=|\ssrc=["']?https?:|url\(["']?https?:)"""
)


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory):
    paths = write_scenario(tmp_path_factory.mktemp("root"))
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("home"))) as instance:
        assert run_range(definitions(paths), instance, DAYS[0], DAYS[-1]).success
    return paths


def test_report_names_model_day_reference_and_holds_quality(paths, tmp_path) -> None:
    report = paths.report_file(MODEL, HEALTHY)
    copy = tmp_path / "elsewhere" / "sent.html"
    copy.parent.mkdir()
    shutil.copyfile(report, copy)  # as a person would forward it
    html = copy.read_text(encoding="utf-8")
    assert f"<title>{MODEL} {HEALTHY.isoformat()}: Evidently report</title>" in html
    assert "reference file set" in html and "1,000 rows" in html
    assert "Data drift" in html and "Classification quality (labelled rows)" in html
    assert html.count("window.drawDashboard(") == 2
    assert "../_evidently" not in html and not FETCHES.search(html)
    assert 'id="evidently-library"' in html
    assert copy.stat().st_size < MAX_REPORT_BYTES


def test_blocked_day_page_names_the_failed_expectation(paths) -> None:
    html = paths.report_file(MODEL, BLOCKED).read_text(encoding="utf-8")
    assert "blocked at the data-quality gate" in html
    assert "<td>logs_present</td>" in html and "<td>error</td>" in html


def test_a_page_in_another_shape_is_refused_by_name(paths) -> None:
    """A page without Evidently 0.7's inlined library is refused with an error saying so; the
    parts read from a real page rebuild it: its library, data and draw call as written."""
    from perf_pipeline.reports.standalone import Dashboard, ReportTemplateError, _packed

    html = paths.report_file(MODEL, HEALTHY).read_text(encoding="utf-8")
    with pytest.raises(ReportTemplateError, match="inlined library"):
        Dashboard.of(html)  # a combined page: its library is packed, not inlined
    data = re.search(r"<script>\s*var (metric_\w+) = .*?</script>", html, re.S)
    draw = re.search(r"window\.drawDashboard\([^;]*\);", html)
    assert data is not None and draw is not None
    library = "window.drawDashboard = function () {};"
    page = (
        "<html><head><style>.a{}</style>"
        f"{data.group(0)}</head><body>"
        f"<script>var global = globalThis</script>\n<script>{library}</script>"
        f"<script>{draw.group(0)}</script></body></html>"
    )
    parts = Dashboard.of(page)
    assert parts.packed_library == _packed(library)
    assert parts.style == "<style>.a{}</style>"
    assert (parts.data, parts.draw) == (data.group(0), draw.group(0))
    assert parts.dashboard_id == data.group(1)
