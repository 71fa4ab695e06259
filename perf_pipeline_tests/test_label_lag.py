"""`label_lag` against a pandas/NumPy reference on generated label arrivals.

Predictions and labels go through the real ingest in Dagster (the labels asset keeps the table);
the expected numbers are computed here from the generated arrival delays alone: first arrival
per prediction (a correction arriving later does not count), coverage within k days only once
arrival day `date + k` has been ingested, and the median and p90 delay as
`numpy.percentile(..., method="linear")` (the default: linear interpolation between the two
nearest delays), which is what DuckDB's `quantile_cont` computes.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from perf_pipeline.definitions import build_definitions
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables.label_lag import WINDOWS
from perf_pipeline_tests.landing_zone import write_binary_root

FIRST = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=60)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(6)]
ROWS = 200
# Arrival days ingested by the first run: the 30-day window of the last two days stays open.
LAST_ARRIVAL = FIRST + dt.timedelta(days=33)
MODELS = f"""models:
  m:
    task: binary_classification
    start_date: {FIRST.isoformat()}
    features: {{numerical: [amount]}}
"""


def _arrivals(seed: int = 11) -> pd.DataFrame:
    """(prediction_id, date, arrival, label): first arrivals of 85 % of the predictions, a day
    or more late (geometric), and a correction for some of them a few days later."""
    rng = np.random.default_rng(seed)
    rows = []
    for day in DAYS:
        for i in range(ROWS):
            if rng.random() < 0.15:
                continue  # never labelled
            arrival = day + dt.timedelta(days=int(min(rng.geometric(0.2) - 1, 45)))
            rows.append((f"{day}-{i}", day, arrival, 1))
            if rng.random() < 0.05:
                rows.append((f"{day}-{i}", day, arrival + dt.timedelta(days=3), 0))
    return pd.DataFrame(rows, columns=["prediction_id", "date", "arrival", "label"])


def _land(paths: DataPaths, arrivals: pd.DataFrame) -> None:
    for arrival, group in arrivals.groupby("arrival"):
        folder = paths.landing_day("labels", "m", arrival)
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            json.dumps({"prediction_id": p, "label": int(y)}) + "\n"
            for p, y in zip(group["prediction_id"], group["label"], strict=True)
        ]
        (folder / "labels.jsonl").write_text("".join(lines), encoding="utf-8")


def expected_profile(arrivals: pd.DataFrame, observed: dt.date) -> pd.DataFrame:
    """The documented numbers, computed in pandas/NumPy from the arrivals up to `observed`."""
    seen = arrivals[arrivals["arrival"] <= observed]
    first = seen.groupby(["prediction_id", "date"])["arrival"].min().reset_index()
    rows = []
    for day in DAYS:
        delays = np.array([(a - day).days for a in first[first["date"] == day]["arrival"]])
        row = {"date": day, "predictions": ROWS, "labelled": len(delays)}
        for k in WINDOWS:
            closed = day + dt.timedelta(days=k) <= observed
            row[f"coverage_after_{k}d"] = (delays <= k).sum() / ROWS if closed else np.nan
        median, p90 = np.percentile(delays, [50, 90], method="linear")
        row |= {"median_delay_days": median, "p90_delay_days": p90}
        row["never_labelled_share"] = 1 - len(delays) / ROWS
        rows.append(row)
    return pd.DataFrame(rows)


def _materialize(defs, instance, stage: str, start: dt.date, end: dt.date):
    result = dg.materialize(
        [defs.resolve_assets_def(dg.AssetKey(["m", stage]))],
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        },
    )
    assert result.success
    (materialization,) = [
        m for m in result.asset_materializations_for_node(f"m__{stage}") if m.partition is None
    ] or result.asset_materializations_for_node(f"m__{stage}")[:1]
    return materialization.metadata


def _table(paths: DataPaths) -> pd.DataFrame:
    frame = connect().execute(f"SELECT * FROM {read_table_sql(paths, 'label_lag')}").df()
    for column in ("date", "observed_through"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame.sort_values("date").reset_index(drop=True)


@pytest.fixture(scope="module")
def lag(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A first labels run over every arrival day up to LAST_ARRIVAL, then one more arrival day
    holding late labels of the last prediction day only."""
    root = tmp_path_factory.mktemp("label_lag")
    paths = write_binary_root(root, MODELS, "m", DAYS, rows=ROWS)
    arrivals = _arrivals()
    _land(paths, arrivals[arrivals["arrival"] <= LAST_ARRIVAL])
    defs = build_definitions(root)
    late_day = LAST_ARRIVAL + dt.timedelta(days=1)
    late = arrivals[(arrivals["arrival"] > LAST_ARRIVAL) & (arrivals["date"] == DAYS[-1])]
    late = late.assign(arrival=late_day)
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("home"))) as instance:
        _materialize(defs, instance, "predictions", DAYS[0], DAYS[-1])
        metadata = _materialize(defs, instance, "labels", FIRST, LAST_ARRIVAL)
        first = _table(paths)
        _land(paths, late)
        late_metadata = _materialize(defs, instance, "labels", late_day, late_day)
    known = pd.concat([arrivals[arrivals["arrival"] <= LAST_ARRIVAL], late])
    return {
        "arrivals": arrivals,
        "known": known,
        "late_day": late_day,
        "metadata": metadata,
        "late_metadata": late_metadata,
        "first": first,
        "second": _table(paths),
    }


def _compare(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    columns = list(expected.columns)
    pd.testing.assert_frame_equal(
        table[columns].reset_index(drop=True), expected, check_dtype=False, rtol=1e-12
    )


def test_profile_matches_the_numpy_reference(lag: dict) -> None:
    expected = expected_profile(lag["arrivals"], LAST_ARRIVAL)
    _compare(lag["first"], expected)
    assert (lag["first"]["observed_through"] == LAST_ARRIVAL).all()
    assert (lag["first"]["model_id"] == "m").all()
    # The generated stream has open windows, corrections and never-labelled rows to get right.
    assert expected["coverage_after_30d"].isna().sum() == 2
    assert (expected["never_labelled_share"] > 0.1).all()


def test_labels_asset_metadata_pools_the_recomputed_days(lag: dict) -> None:
    arrivals = lag["arrivals"]
    seen = arrivals[arrivals["arrival"] <= LAST_ARRIVAL]
    first = seen.groupby(["prediction_id", "date"])["arrival"].min().reset_index()
    delays = np.array([(a - d).days for a, d in zip(first["arrival"], first["date"], strict=True)])
    median, p90 = np.percentile(delays, [50, 90], method="linear")
    within_7 = sum(1 for d in delays if d <= 7) / (ROWS * len(DAYS))
    metadata = lag["metadata"]
    assert metadata["label_median_delay_days"].value == pytest.approx(median)
    assert metadata["label_p90_delay_days"].value == pytest.approx(p90)
    assert metadata["label_coverage_after_7d"].value == pytest.approx(within_7)
    assert metadata["label_lag_days"].value == len(DAYS)


def test_a_later_arrival_day_recomputes_only_the_days_it_touches(lag: dict) -> None:
    """The late labels move the last day; the day whose 30-day window closes on the new arrival
    day gets its coverage; the others are left as they were."""
    late_day = lag["late_day"]
    expected = expected_profile(lag["known"], late_day)
    second = lag["second"]
    touched = [DAYS[-1], late_day - dt.timedelta(days=30)]
    rows = second["date"].isin(touched)
    _compare(second[rows], expected[expected["date"].isin(touched)].reset_index(drop=True))
    assert (second[rows]["observed_through"] == late_day).all()
    closed = late_day - dt.timedelta(days=30)  # no label of its own arrived, yet it moved
    before = lag["first"].set_index("date")["coverage_after_30d"]
    after = second.set_index("date")["coverage_after_30d"]
    assert np.isnan(before[closed]) and not np.isnan(after[closed])
    pd.testing.assert_frame_equal(
        second[~rows].reset_index(drop=True),
        lag["first"][~lag["first"]["date"].isin(touched)].reset_index(drop=True),
    )
    assert lag["late_metadata"]["label_lag_days"].value == 2
