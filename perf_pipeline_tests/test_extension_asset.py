"""The README's "Adding an asset" recipe, followed literally.

The snippet under that heading is written into a copy of the defs folder, the definitions are
loaded from it, and the new asset is materialized for a week on performance tables that a real
run of the model wrote, through the storage resource and real DuckDB.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest

from perf_pipeline.definitions import build_definitions, daily_job_name
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.sample_data import write_sample

REPO = Path(__file__).resolve().parent.parent
HEADING = "## Adding an asset"
DEFS_FOLDER = REPO / "perf_pipeline" / "defs"
WEEK = "2026-09-06"  # the first whole week (weeks start on Sunday) of the sample


def recipe(readme: str) -> tuple[str, str]:
    """(file name, code) of the first Python block under the heading; the block's first line
    is a comment naming the file, as the recipe tells the reader where to put it."""
    section = readme.split(HEADING, 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code, f"no ```python block under {HEADING!r} in README.md"
    first_line = code.group(1).splitlines()[0]
    name = re.fullmatch(r"# .*?([\w]+\.py)", first_line.strip())
    assert name, f"the recipe's first line should name its file, got {first_line!r}"
    return name.group(1), code.group(1)


@pytest.fixture
def recipe_snippet() -> tuple[str, str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    if HEADING not in readme:
        pytest.fail(f"README.md has no {HEADING!r} section: the recipe this test follows")
    return recipe(readme)


def _defs_folder_with(tmp_path: Path, file_name: str, code: str, monkeypatch) -> str:
    package = f"extension_defs_{uuid.uuid4().hex[:8]}"
    target = tmp_path / "code" / package
    shutil.copytree(DEFS_FOLDER, target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / file_name).write_text(code, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    return package


def _weekly_truth(paths: DataPaths, model_id: str, start: dt.date) -> dict[str, float]:
    rows = (
        connect()
        .execute(
            f"SELECT metric, avg(value) FROM {read_table_sql(paths, 'performance', model_id)} "
            "WHERE segment_column = '__all__' AND NOT is_estimated AND value IS NOT NULL "
            "AND date >= ? AND date < ? GROUP BY metric",
            [start, start + dt.timedelta(days=7)],
        )
        .fetchall()
    )
    return {metric: mean for metric, mean in rows}


@pytest.mark.slow
def test_the_recipes_asset_joins_the_graph_and_materializes(
    tmp_path: Path, recipe_snippet: tuple[str, str], monkeypatch
) -> None:
    file_name, code = recipe_snippet
    paths = write_sample(tmp_path / "root", days=13)
    package = _defs_folder_with(tmp_path, file_name, code, monkeypatch)
    defs = build_definitions(paths.root, defs_module=package)

    graph = defs.resolve_asset_graph()
    new = [k for k in graph.get_all_asset_keys() if k.path[-1] not in _STAGES]
    assert len(new) == 1, new
    (key,) = new
    assert dg.AssetKey([key.path[0], "performance"]) in graph.get(key).parent_keys

    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        week = dt.date.fromisoformat(WEEK)
        defs.resolve_job_def(daily_job_name(key.path[0])).execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": WEEK,
                "dagster/asset_partition_range_end": (week + dt.timedelta(days=6)).isoformat(),
            },
        )
        result = dg.materialize(
            [defs.resolve_assets_def(key)],
            partition_key=WEEK,
            instance=instance,
        )
    assert result.success
    metadata = result.asset_materializations_for_node(result.all_node_events[0].node_name)[
        0
    ].metadata
    truth = _weekly_truth(paths, key.path[0], week)
    assert truth, "the week's run wrote no realized metrics to roll up"
    for metric, mean in truth.items():
        assert metadata[metric].value == pytest.approx(mean), metric


_STAGES = {
    "reference",
    "predictions",
    "labels",
    "data_quality",
    "performance",
    "drift",
    "report",
    "review",
    "alerts",
    "dashboard",
    "gate",
}
