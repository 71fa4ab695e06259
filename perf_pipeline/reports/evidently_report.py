"""One Evidently HTML report per model and day, for people who want to look, not query.

Two Evidently 0.7 reports make the page: data drift on every (sampled) prediction of the day,
and the task's quality preset (classification or regression) on the predictions labelled so
far, against the reference's labelled rows. Each is drawn on its own (`draw_drift`,
`draw_quality`), so a pool's workers can draw them at the same time, and the drift one before
the labels are even read; `assemble_report` puts them below a header naming the model, the day
and the reference (`header.py`), in one standalone file (`standalone.py`).

Evidently is imported inside the functions (it is slow to import, and its usage telemetry is
turned off before it loads).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from perf_pipeline.config import ModelConfig, Task, canonical_class_text
from perf_pipeline.object_store import commit, staging_path
from perf_pipeline.reports.day_data import DayData, DaySides

if TYPE_CHECKING:
    from perf_pipeline.reports.standalone import Dashboard

TARGET = "label"
QUALITY_TITLES = {
    Task.BINARY_CLASSIFICATION: "Classification quality",
    Task.MULTICLASS_CLASSIFICATION: "Classification quality",
    Task.REGRESSION: "Regression quality",
}


def _columns(model: ModelConfig, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    numerical = [*model.features.numerical, *[c for c in model.score_columns if c in frame]]
    categorical = list(model.features.categorical)
    if model.task is Task.REGRESSION:
        numerical.append("prediction")
    else:
        categorical.append("prediction")
    return numerical, categorical


def _drift_page(model: ModelConfig, day: dt.date, data: DaySides | DayData) -> str:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    current, reference = data.current, data.reference
    numerical, categorical = _columns(model, current)
    # Evidently refuses a column with no values on either side; the drift table reports those
    # columns as NULL, the report simply leaves them out.
    columns = [
        c
        for c in [*numerical, *categorical]
        if c in current
        and c in reference
        and current[c].notna().any()
        and reference[c].notna().any()
    ]
    definition = DataDefinition(
        numerical_columns=[c for c in numerical if c in columns],
        categorical_columns=[c for c in categorical if c in columns],
    )
    snapshot = Report(
        [DataDriftPreset()], metadata={"model_id": model.model_id, "date": day.isoformat()}
    ).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    return snapshot.get_html_str(as_iframe=False)


def _as_classes(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Labels and predicted classes as the canonical text the tables use (`1`, not `1.0`),
    each distinct value converted once."""
    frame = frame[columns].copy()
    for column in (TARGET, "prediction"):
        texts = {value: canonical_class_text(value) for value in frame[column].unique()}
        frame[column] = frame[column].map(texts)
    return frame


# A class written as an integer that `int()` gives back unchanged (`0`, `-3`, not `007`).
_INTEGER_TEXT = r"-?(?:0|[1-9][0-9]*)"


def _integer_classes(
    model: ModelConfig, frames: list[pd.DataFrame | None], positive: str | None
) -> bool:
    """Whether Evidently may be given the classes as numbers and still draw the same page:
    every class in play is an integer in its canonical text, and sorting them as numbers keeps
    their order as text (`2` and `10` would swap the confusion matrix's rows).

    scikit-learn, under Evidently's classification metrics, finds the classes of text labels
    by sorting Python strings, over and over: on a 20,000-row sample that was 1.3 s of the
    quality section's 1.4 s; with integer labels, 0.5 s.
    """
    if model.task is Task.REGRESSION:
        return False
    classes = {positive} if positive is not None else set()
    for frame in frames:
        if frame is not None:
            classes.update(frame[TARGET].unique(), frame["prediction"].unique())
    if not all(re.fullmatch(_INTEGER_TEXT, text) for text in classes):
        return False
    return sorted(classes) == sorted(classes, key=int)


def _as_integers(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame.astype({TARGET: "int64", "prediction": "int64"})


def _quality_setup(
    model: ModelConfig, integer_classes: bool = False
) -> tuple[dict[str, Any], list[str], Any] | None:
    """Evidently's task definition, the columns it reads and its preset; None for ranking.
    `integer_classes`: the classes go to Evidently as numbers (`_integer_classes`)."""
    from evidently import BinaryClassification, MulticlassClassification, Regression
    from evidently.presets import ClassificationQuality, RegressionQuality

    # The quality presets' compact forms, without Evidently's automatic tests: the pipeline's
    # thresholds are the tests (the checks and alerts), and the full presets' curves and
    # per-label tables would more than double the report's time.
    classification = ClassificationQuality(conf_matrix=True, include_tests=False)
    regression = RegressionQuality(error_distr=True, include_tests=False)

    if model.task is Task.REGRESSION:
        task = Regression(target=TARGET, prediction="prediction")
        return {"regression": [task]}, [TARGET, "prediction"], regression
    if model.task is Task.BINARY_CLASSIFICATION:
        _, positive = model.binary_classes
        # The score draws the ROC and precision-recall curves; the logged class the rest.
        score = "score" if "score" in model.score_columns else None
        task = BinaryClassification(
            target=TARGET,
            prediction_labels="prediction",
            prediction_probas=score,
            pos_label=int(positive) if integer_classes else positive,
        )
        columns = [TARGET, "prediction", *([score] if score else [])]
        return {"classification": [task]}, columns, classification
    if model.task is Task.MULTICLASS_CLASSIFICATION:
        task = MulticlassClassification(target=TARGET, prediction_labels="prediction")
        return {"classification": [task]}, [TARGET, "prediction"], classification
    return None


def _labelled(frame: pd.DataFrame | None, model: ModelConfig, columns: list[str]):
    if frame is None or any(c not in frame for c in columns):
        return None
    frame = frame[frame[columns].notna().all(axis=1)]
    if frame.empty:
        return None
    return frame[columns] if model.task is Task.REGRESSION else _as_classes(frame, columns)


def _quality_page(model: ModelConfig, day: dt.date, data: DayData) -> str | None:
    """The task's quality preset on the day's labelled rows, or None when it cannot be drawn."""
    from evidently import DataDefinition, Dataset, Report

    setup = _quality_setup(model)
    if setup is None or data.labelled_rows == 0:
        return None
    columns = setup[1]
    current = _labelled(data.labelled, model, columns)
    if current is None:
        return None
    reference = _labelled(data.reference, model, columns)
    positive = model.binary_classes[1] if model.task is Task.BINARY_CLASSIFICATION else None
    if _integer_classes(model, [current, reference], positive):
        current, reference = _as_integers(current), _as_integers(reference)
        setup = _quality_setup(model, integer_classes=True)
    task, _, preset = setup
    definition = DataDefinition(**task)
    report = Report([preset], metadata={"model_id": model.model_id, "date": day.isoformat()})
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        None if reference is None else Dataset.from_pandas(reference, data_definition=definition),
    )
    return snapshot.get_html_str(as_iframe=False)


def draw_drift(model: ModelConfig, day: dt.date, sides: DaySides | DayData) -> Dashboard:
    """The drift dashboard, drawn from the day's sides alone: it can be drawn while the
    labelled rows are still being read, and beside the quality dashboard."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from perf_pipeline.reports.standalone import Dashboard

    return Dashboard.of(_drift_page(model, day, sides))


def draw_quality(model: ModelConfig, day: dt.date, data: DayData) -> Dashboard | None:
    """The quality dashboard of the day's labelled rows; None when it cannot be drawn."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from perf_pipeline.reports.standalone import Dashboard

    page = _quality_page(model, day, data)
    return None if page is None else Dashboard.of(page)


def assemble_report(
    model: ModelConfig,
    day: dt.date,
    data: DayData,
    drift: Dashboard,
    quality: Dashboard | None,
    target: Path,
    inputs_digest: str = "",
) -> Path:
    """The drawn dashboards below the header, as one standalone HTML file at `target` (marked
    with `inputs_digest`, the digest of what they were drawn from)."""
    from perf_pipeline.reports.header import header_html
    from perf_pipeline.reports.standalone import standalone_page

    sections = [("Data drift", drift)]
    quality_title = QUALITY_TITLES.get(model.task) if quality is not None else None
    if quality is not None:
        sections.append((f"{quality_title} (labelled rows)", quality))
    html = standalone_page(
        f"{model.model_id} {day.isoformat()}: Evidently report",
        header_html(model, day, data, quality_title),
        sections,
        inputs_digest,
    )
    return write_html(target, html)


def write_report(
    model: ModelConfig, day: dt.date, data: DayData, target: Path, inputs_digest: str = ""
) -> Path:
    """Drift and quality of the day, with a header, drawn in this process, as one standalone
    HTML file at `target`."""
    drift, quality = draw_drift(model, day, data), draw_quality(model, day, data)
    return assemble_report(model, day, data, drift, quality, target, inputs_digest)


def write_html(target: Path, html: str) -> Path:
    """Through a temporary file and a rename: a reader never sees half a page."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(target)
    tmp.write_text(html, encoding="utf-8")
    commit(tmp, target)
    return target
