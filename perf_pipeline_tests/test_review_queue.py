"""The review queue through real Dagster: the daily file, and a filled-in file back in.

A binary classifier over two days: channel `web` is where the model is wrong half the time (the
regressed segment), and on the second day `amount` moves two reference standard deviations
(a drifted feature). Labels land the same day, so the realized metrics per segment exist. The
expected rows are computed here with pandas and hashlib from the generated frames; the review
metric's interval is compared with SciPy's binomial test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from perf_pipeline.definitions import build_definitions
from perf_pipeline.lake import connect, read_table_sql
from perf_pipeline.paths import DataPaths
from perf_pipeline.review.returned import returned_folder
from perf_pipeline.review.sample import review_file
from perf_pipeline_tests.landing_zone import (
    land_labels,
    write_prediction_log,
    write_reference_frame,
)

MODEL = "cards"
DAYS = [dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
ROWS = 400
SEED = 7
PER_DAY = 20
MODELS = f"""models:
  {MODEL}:
    task: binary_classification
    start_date: 2026-03-01
    features: {{numerical: [amount], categorical: [channel]}}
    segments: [channel]
    thresholds:
      accuracy: {{min: 0.5}}
      roc_auc: {{min: 0.5}}
    review: {{per_day: {PER_DAY}, seed: {SEED}}}
"""
FILE_COLUMNS = [
    "prediction_id",
    "timestamp",
    "model_version",
    "amount",
    "channel",
    "prediction",
    "score",
    "review_reason",
    "reviewed_label",
]


def _frame(rng: np.random.Generator, day: dt.date, n: int, shift: float) -> pd.DataFrame:
    """Calibrated scores, except on `web`, whose labels are coin flips."""
    score = rng.random(n)
    channel = rng.choice(["app", "store", "web"], n)
    calibrated = (rng.random(n) < score).astype(int)
    coin = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "prediction_id": [f"{day}-{i:04d}" for i in range(n)],
            "timestamp": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
            "model_version": "v1",
            "amount": rng.normal(100 + shift, 10, n),
            "channel": channel,
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "label": np.where(channel == "web", coin, calibrated),
        }
    )


def _materialize(defs, instance, stages: list[str], start: dt.date, end: dt.date):
    result = dg.materialize(
        [defs.resolve_assets_def(dg.AssetKey([MODEL, s])) for s in stages],
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        },
    )
    assert result.success
    return result


def _table(paths: DataPaths, table: str) -> pd.DataFrame:
    frame = connect().execute(f"SELECT * FROM {read_table_sql(paths, table, MODEL)}").df()
    for column in ("date", "prediction_date"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def _read_file(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"prediction_id": str, "reviewed_label": str})


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("review_root")
    paths = DataPaths(root)
    paths.models_file.write_text(MODELS, encoding="utf-8")
    rng = np.random.default_rng(5)
    write_reference_frame(paths, MODEL, _frame(rng, DAYS[0] - dt.timedelta(days=30), 1500, 0))
    frames = {d: _frame(rng, d, ROWS, 20.0 * i) for i, d in enumerate(DAYS)}
    for day, frame in frames.items():
        write_prediction_log(paths, MODEL, day, frame)
        land_labels(paths, MODEL, day, frame)
    defs = build_definitions(root)
    stages = [
        "reference",
        "predictions",
        "labels",
        "data_quality",
        "performance",
        "drift",
        "review",
    ]
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("home"))) as instance:
        _materialize(defs, instance, stages, DAYS[0], DAYS[-1])
        first = {d: review_file(paths, MODEL, d).read_bytes() for d in DAYS}
        yield {
            "paths": paths,
            "defs": defs,
            "instance": instance,
            "frames": frames,
            "first_files": first,
        }


def _uniform_order(frame: pd.DataFrame, day: dt.date) -> list[str]:
    """The seeded draw as documented: prediction ids by md5(seed|model|day|id)."""

    def draw(pid: str) -> str:
        return hashlib.md5(f"{SEED}|{MODEL}|{day}|{pid}".encode()).hexdigest()

    return sorted(frame["prediction_id"], key=lambda pid: (draw(pid), pid))


def test_each_day_gets_the_budget_with_the_file_columns(queue) -> None:
    for day, frame in queue["frames"].items():
        sample = _read_file(review_file(queue["paths"], MODEL, day))
        assert list(sample.columns) == FILE_COLUMNS
        assert len(sample) == PER_DAY
        assert sample["prediction_id"].is_unique
        assert set(sample["prediction_id"]) <= set(frame["prediction_id"])
        assert sample["reviewed_label"].isna().all()
        merged = sample.merge(frame, on="prediction_id", suffixes=("", "_logged"))
        assert np.allclose(merged["score"], merged["score_logged"])
        assert (merged["channel"] == merged["channel_logged"]).all()


def test_the_budget_is_split_by_the_shares(queue) -> None:
    """20 rows: 8 least confident, 8 regressed (all segment rows on the first day, half
    segment and half drifted-feature rows once `amount` drifted), 4 uniform."""
    sample = _table(queue["paths"], "review_sample")
    counts = sample.groupby(["date", "stratum"]).size().to_dict()
    assert counts == {
        (DAYS[0], "least_confident"): 8,
        (DAYS[0], "segments"): 8,
        (DAYS[0], "uniform"): 4,
        (DAYS[1], "least_confident"): 8,
        (DAYS[1], "segments"): 4,
        (DAYS[1], "drifted"): 4,
        (DAYS[1], "uniform"): 4,
    }


def test_uniform_rows_are_the_seeded_draw(queue) -> None:
    for day, frame in queue["frames"].items():
        sample = _read_file(review_file(queue["paths"], MODEL, day))
        uniform = sample.loc[sample["review_reason"] == "uniform", "prediction_id"]
        assert list(uniform) == _uniform_order(frame, day)[:4]


def test_least_confident_rows_are_the_scores_nearest_the_threshold(queue) -> None:
    for day, frame in queue["frames"].items():
        sample = _read_file(review_file(queue["paths"], MODEL, day))
        uniform = set(_uniform_order(frame, day)[:4])
        rest = frame[~frame["prediction_id"].isin(uniform)].assign(
            distance=lambda f: (f["score"] - 0.5).abs()
        )
        expected = rest.sort_values(["distance", "prediction_id"])["prediction_id"][:8]
        picked = sample.loc[sample["review_reason"] == "least_confident", "prediction_id"]
        assert list(picked) == list(expected)
        assert picked.map(frame.set_index("prediction_id")["score"]).sub(0.5).abs().max() <= (
            rest["distance"].nsmallest(8).max()
        )


def _regressed_segments(performance: pd.DataFrame, day: dt.date) -> list[str]:
    """Channels by their largest relative shortfall to the day's overall accuracy or roc_auc
    (both higher-is-better), realized and estimated each against its own kind."""
    rows = performance[
        (performance["date"] == day)
        & performance["metric"].isin(["accuracy", "roc_auc"])
        & performance["value"].notna()
    ]
    overall = rows[rows["segment_column"] == "__all__"].set_index(["metric", "is_estimated"])
    segments = rows[(rows["segment_column"] == "channel") & (rows["n"] >= 30)]
    base = overall.loc[
        list(zip(segments["metric"], segments["is_estimated"], strict=True)), "value"
    ].to_numpy()
    gaps = segments.assign(gap=(base - segments["value"].to_numpy()) / np.abs(base))
    worst = gaps.groupby("segment_value")["gap"].max()
    worst = (
        worst[worst > 0]
        .reset_index()
        .sort_values(["gap", "segment_value"], ascending=[False, True])
    )
    return list(worst["segment_value"][:3])


def test_segment_rows_are_drawn_round_robin_from_the_worst_segments(queue) -> None:
    performance = _table(queue["paths"], "performance")
    for day, frame in queue["frames"].items():
        regressed = _regressed_segments(performance, day)
        assert regressed[0] == "web"  # the channel whose labels are coin flips
        sample = _read_file(review_file(queue["paths"], MODEL, day))
        segment = sample[sample["review_reason"].str.startswith("segment:")]
        taken = set(sample.loc[~sample.index.isin(segment.index), "prediction_id"])
        rest = frame[~frame["prediction_id"].isin(taken)]
        queues = {
            c: [
                p
                for p in _uniform_order(rest, day)
                if p in set(rest.loc[rest["channel"] == c, "prediction_id"])
            ]
            for c in regressed
        }
        expected = [
            (f"segment:channel={c}", queues[c][i])
            for i in range(len(segment))
            for c in regressed
            if i < len(queues[c])
        ][: len(segment)]
        assert (
            list(zip(segment["review_reason"], segment["prediction_id"], strict=True)) == expected
        )
        assert (segment["review_reason"] == "segment:channel=" + segment["channel"]).all()


def test_drifted_rows_are_the_most_extreme_against_the_reference(queue) -> None:
    paths = queue["paths"]
    reference = _table(paths, "reference")
    mean, sd = reference["amount"].mean(), reference["amount"].std()
    day, frame = DAYS[1], queue["frames"][DAYS[1]]
    sample = _read_file(review_file(paths, MODEL, day))
    drifted = sample[sample["review_reason"] == "drift:amount"]
    others = set(sample.loc[sample["review_reason"] != "drift:amount", "prediction_id"])
    rest = frame[~frame["prediction_id"].isin(others)].assign(
        z=lambda f: (f["amount"] - mean).abs() / sd
    )
    expected = rest.sort_values(["z", "prediction_id"], ascending=[False, True])[:4]
    assert list(drifted["prediction_id"]) == list(expected["prediction_id"])
    first_day = _read_file(review_file(paths, MODEL, DAYS[0]))
    assert not first_day["review_reason"].str.startswith("drift:").any()


def test_a_rerun_writes_the_identical_file(queue) -> None:
    _materialize(queue["defs"], queue["instance"], ["review"], DAYS[0], DAYS[-1])
    for day in DAYS:
        assert review_file(queue["paths"], MODEL, day).read_bytes() == queue["first_files"][day]
    assert len(_table(queue["paths"], "review_sample")) == PER_DAY * len(DAYS)


def _filled(queue, day: dt.date) -> pd.DataFrame:
    """The day's file as a person returns it: true labels, the last least-confident and the
    last uniform row left blank, and one segment row labelled `maybe`."""
    sample = _read_file(review_file(queue["paths"], MODEL, day))
    truth = queue["frames"][day].set_index("prediction_id")["label"]
    filled = sample.assign(reviewed_label=sample["prediction_id"].map(truth).astype(str))
    for reason in ("least_confident", "uniform"):
        filled.loc[filled.index[filled["review_reason"] == reason][-1], "reviewed_label"] = None
    bad = filled.index[filled["review_reason"].str.startswith("segment:")][0]
    filled.loc[bad, "reviewed_label"] = "maybe"
    return filled


def _return_file(queue, day: dt.date, filled: pd.DataFrame, name: str) -> Path:
    folder = returned_folder(queue["paths"], MODEL)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    filled.to_csv(path, index=False)
    return path


def _review_state(paths: DataPaths) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    quarantine = _table(paths, "quarantine")
    return (
        _table(paths, "review_labels").sort_values("prediction_id", ignore_index=True),
        quarantine[quarantine["source"] == "review"].reset_index(drop=True),
        _table(paths, "review_accuracy"),
    )


@pytest.fixture(scope="module")
def returned(queue) -> dict:
    """Day one's file filled in and returned, then ingested by a run of day two."""
    day = DAYS[0]
    filled = _filled(queue, day)
    path = _return_file(queue, day, filled, f"{day}.alice.csv")
    result = _materialize(queue["defs"], queue["instance"], ["review"], DAYS[1], DAYS[1])
    events = result.asset_materializations_for_node(f"{MODEL}__review")
    return {"day": day, "filled": filled, "path": path, "events": events}


def test_returned_labels_land_with_source_review(queue, returned) -> None:
    labels, _, _ = _review_state(queue["paths"])
    filled = returned["filled"]
    usable = filled[filled["reviewed_label"].notna() & (filled["reviewed_label"] != "maybe")]
    assert len(labels) == len(usable) == PER_DAY - 3  # blanks skipped, `maybe` quarantined
    assert set(labels["source"]) == {"review"}
    assert set(labels["date"]) == set(labels["prediction_date"]) == {returned["day"]}
    expected = usable.set_index("prediction_id")["reviewed_label"]
    assert (
        labels.set_index("prediction_id")["label"] == expected.loc[labels["prediction_id"]]
    ).all()
    sample = _table(queue["paths"], "review_sample").set_index("prediction_id")["stratum"]
    assert (labels["stratum"].to_numpy() == sample.loc[labels["prediction_id"]].to_numpy()).all()
    logged = _table(queue["paths"], "labels")
    assert set(logged["source"]) == {"log"}  # the realized metrics' labels are untouched
    assert returned["day"].isoformat() in {e.partition for e in returned["events"]}


def test_a_bad_review_label_is_quarantined_naming_file_and_column(queue, returned) -> None:
    _, quarantine, _ = _review_state(queue["paths"])
    assert len(quarantine) == 1
    row = quarantine.iloc[0]
    assert row["reason"] == "unknown_label_class:reviewed_label"
    assert row["source_file"] == str(returned["path"])
    bad = returned["filled"].index[returned["filled"]["reviewed_label"] == "maybe"][0]
    assert row["row_number"] == bad + 1
    assert '"maybe"' in row["record"]
    assert row["date"] == returned["day"]


def test_review_accuracy_is_the_uniform_rows_with_a_wilson_interval(queue, returned) -> None:
    from scipy.stats import binomtest

    _, _, accuracy = _review_state(queue["paths"])
    day = returned["day"]
    filled = returned["filled"]
    uniform = filled[(filled["review_reason"] == "uniform") & filled["reviewed_label"].notna()]
    correct = int((uniform["prediction"].astype(str) == uniform["reviewed_label"]).sum())
    (row,) = accuracy[accuracy["date"] == day].to_dict("records")
    assert row["metric"] == "review_accuracy"
    assert row["n"] == len(uniform) == 3
    assert row["uniform_sampled"] == 4
    assert row["value"] == pytest.approx(correct / len(uniform))
    interval = binomtest(correct, len(uniform)).proportion_ci(method="wilson")
    assert row["ci_low"] == pytest.approx(interval.low)
    assert row["ci_high"] == pytest.approx(interval.high)
    assert row["interval"] == "wilson"
    assert set(accuracy["date"]) == {day}  # day two has no review labels: no row


def test_reingesting_the_same_file_adds_nothing(queue, returned) -> None:
    before = _review_state(queue["paths"])
    _materialize(queue["defs"], queue["instance"], ["review"], DAYS[1], DAYS[1])
    stat = returned["path"].stat()
    os.utime(returned["path"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    _materialize(queue["defs"], queue["instance"], ["review"], DAYS[0], DAYS[1])  # re-read
    after = _review_state(queue["paths"])
    for was, now in zip(before, after, strict=True):
        assert len(was) == len(now)
    pd.testing.assert_frame_equal(
        before[0].drop(columns="arrival_date"), after[0].drop(columns="arrival_date")
    )
    pd.testing.assert_frame_equal(before[2], after[2])


def test_removing_the_returned_file_removes_its_labels(queue, returned) -> None:
    returned["path"].unlink()
    _materialize(queue["defs"], queue["instance"], ["review"], DAYS[1], DAYS[1])
    labels, quarantine, accuracy = _review_state(queue["paths"])
    assert labels.empty and quarantine.empty and accuracy.empty
