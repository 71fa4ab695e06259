"""The dashboard after a real run: what it draws is what the tables hold, it is built once per
run, and `perf-pipeline status` reads the same run."""

from __future__ import annotations

import json
import re

import dagster as dg
import pytest

from perf_pipeline import cli
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.performance_status import StatusSettings, with_status_sql
from perf_pipeline_tests.dashboard_sample_run import BLOCKED_DAY, MODEL_ID, sample_run

pytestmark = pytest.mark.slow
MAX_BYTES = 5_000_000


@pytest.fixture(scope="module")
def run():
    result = sample_run()
    assert result.outcome.success, result.outcome.failed_steps
    return result


@pytest.fixture(scope="module")
def page_html(run) -> str:
    return (run.paths.reports / MODEL_ID / "index.html").read_text("utf-8")


@pytest.fixture(scope="module")
def figures(page_html) -> dict:
    match = re.search(r'<script type="application/json" id="figures">(.*?)</script>', page_html)
    return json.loads(match.group(1))


def _trace(figure: dict, name: str, axis: str) -> dict:
    return next(t for t in figure["data"] if t.get("name") == name and t["yaxis"] == axis)


def _query(run, sql: str) -> list[tuple]:
    con = connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_one_build_per_run_with_links_as_metadata(run) -> None:
    with dg.DagsterInstance.from_config(str(run.dagster_home)) as instance:
        records = instance.fetch_materializations(
            dg.AssetKey([MODEL_ID, "dashboard"]), limit=10
        ).records
    assert len(records) == 1  # a single-run backfill of 18 days builds the page once
    metadata = records[0].asset_materialization.metadata
    page = run.paths.reports / MODEL_ID / "index.html"
    assert metadata["dashboard"] == dg.MetadataValue.url(page.as_uri())
    assert metadata["index"] == dg.MetadataValue.url((run.paths.reports / "index.html").as_uri())


def test_the_page_is_small_standalone_and_loads_nothing_from_outside(run, page_html) -> None:
    assert len(page_html.encode("utf-8")) < MAX_BYTES
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", page_html)
    assert "https://" not in page_html.split('id="plotly-gz"')[0]


def test_the_drawn_metric_is_the_table_realized_final_values(run, figures) -> None:
    timeline = figures["timeline"]
    final = _trace(timeline, "final", "y")  # roc_auc: the model's first configured metric
    # a day whose metric is undefined (NULL) is a gap in the line
    drawn = {x: y for x, y in zip(final["x"], final["y"], strict=True) if y is not None}
    source = with_status_sql(
        read_table_sql(run.paths, "performance", MODEL_ID), [StatusSettings(MODEL_ID)]
    )
    rows = _query(
        run,
        f"SELECT CAST(date AS VARCHAR), value FROM ({source}) WHERE metric = 'roc_auc' "
        "AND segment_column = '__all__' AND NOT is_estimated AND status = 'final' "
        "AND value IS NOT NULL",
    )
    assert drawn == {day: pytest.approx(value, abs=1e-5) for day, value in rows}
    assert min(drawn.values()) < 0.7  # fraud_decay is on the chart


def test_alerts_and_the_blocked_day_are_on_the_timeline(run, figures) -> None:
    timeline = figures["timeline"]
    marks = _trace(timeline, "alert", "y")
    alerts = _query(
        run,
        f"SELECT CAST(date AS VARCHAR) FROM {read_table_sql(run.paths, 'alerts', MODEL_ID)} "
        "WHERE metric_or_column = 'roc_auc' "
        "AND kind IN ('performance', 'estimated_performance')",
    )
    assert alerts and sorted(marks["x"]) == sorted(d for (d,) in alerts)
    all_alerts = next(t for t in timeline["data"] if t.get("name") == "alerts")
    total = _query(run, f"SELECT count(*) FROM {read_table_sql(run.paths, 'alerts', MODEL_ID)}")
    assert len(all_alerts["x"]) == total[0][0]
    [blocked] = timeline["layout"]["shapes"]  # upstream_break: the one day the gate blocked
    assert blocked["x0"] < BLOCKED_DAY.isoformat() < blocked["x1"]


def test_the_heatmap_holds_every_feature_and_marks_each_drifted_cell(run, figures) -> None:
    heatmap, marks = figures["drift"]["data"]
    drift = read_table_sql(run.paths, "drift", MODEL_ID)
    columns = _query(
        run, f'SELECT DISTINCT "column" FROM {drift} WHERE "column" <> \'__dataset__\''
    )
    assert sorted(heatmap["y"]) == sorted(c for (c,) in columns)
    drifted = _query(
        run, f"SELECT count(*) FROM {drift} WHERE drifted AND \"column\" <> '__dataset__'"
    )
    assert len(marks["x"]) == drifted[0][0]


def test_each_day_links_to_its_report_relatively(run, page_html) -> None:
    links = re.findall(r'<a href="([^"]+)" title="(\d{4}-\d{2}-\d{2})"', page_html)
    folder = run.paths.reports / MODEL_ID
    assert links
    for href, day in links:
        assert href == f"{day}.html" and (folder / href).is_file()
    on_disk = {p.name for p in folder.glob("????-??-??.html")}
    assert {href for href, _ in links} == on_disk


def test_the_index_lists_the_model_with_its_state(run) -> None:
    index = (run.paths.reports / "index.html").read_text("utf-8")
    assert f'<a href="{MODEL_ID}/index.html">{MODEL_ID}</a>' in index
    entry = json.loads((run.paths.reports / MODEL_ID / "summary.json").read_text("utf-8"))
    assert entry["state"] in ("OK", "ALERT") and f">{entry['state']}<" in index
    assert "store_demand" in index  # declared, never run: listed as NO DATA
    assert "NO DATA" in index


def test_status_shows_one_screen_per_model_and_exits_2_for_an_unknown_one(
    run, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("PERF_PIPELINE_HOME", str(run.paths.root))
    assert cli.main(["--home", str(run.paths.root), "status", "--model", MODEL_ID]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0].split()
    assert first[0] == MODEL_ID and first[1] in ("OK", "ALERT")
    roc = next(line for line in out.splitlines() if line.strip().startswith("roc_auc"))
    assert re.search(r"[▁▂▃▄▅▆▇█]", roc)
    assert not re.search(r"\d\.0 rows|\d\.0 quarantined", out)
    assert cli.main(["--home", str(run.paths.root), "status", "--model", "no_such_model"]) == 2
    err = capsys.readouterr().err
    assert "no_such_model" in err and "card_fraud" in err
