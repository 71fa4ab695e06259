"""The report's quality section gives Evidently integer classes as numbers, text classes as
text, and draws the same page either way."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from perf_pipeline.config import ModelConfig
from perf_pipeline.reports import evidently_report
from perf_pipeline.reports.day_data import DayData

DAY = dt.date(2026, 3, 2)
ROWS = 600
# Evidently names every widget and script variable with a fresh random id.
_RANDOM_IDS = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")


def _model(task: str, **settings: object) -> ModelConfig:
    return ModelConfig(
        model_id="m",
        task=task,
        start_date=DAY,
        features={"numerical": ["amount"]},
        **settings,
    )


def _rows(rng: np.random.Generator, classes: list, labelled: bool) -> pd.DataFrame:
    label = rng.choice(classes, ROWS)
    agrees = rng.random(ROWS) < 0.8
    frame = pd.DataFrame(
        {
            "amount": rng.normal(50, 10, ROWS),
            "prediction": np.where(agrees, label, rng.choice(classes, ROWS)),
            "score": rng.random(ROWS),
        }
    )
    if labelled:
        frame["label"] = label
    return frame


def _day(classes: list) -> DayData:
    rng = np.random.default_rng(5)
    labelled = _rows(rng, classes, labelled=True)
    reference = _rows(rng, classes, labelled=True)
    return DayData(
        current=labelled.drop(columns="label"),
        labelled=labelled,
        reference=reference,
        rows=ROWS,
        labelled_rows=ROWS,
        reference_rows=ROWS,
        estimates=[],
    )


def _page(model: ModelConfig, data: DayData) -> str:
    html = evidently_report._quality_page(model, DAY, data)
    assert html is not None
    return _RANDOM_IDS.sub("ID", html)


@pytest.mark.parametrize(
    ("task", "classes", "settings"),
    [
        ("binary_classification", [0.0, 1.0], {}),  # as a float column stores them
        ("binary_classification", ["0", "1"], {}),
        ("multiclass_classification", [1, 2, 3], {"classes": [1, 2, 3]}),
    ],
)
def test_integer_classes_go_as_numbers_and_draw_the_same_page(
    task: str, classes: list, settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = _model(task, **settings), _day(classes)
    columns = ["label", "prediction"]
    as_text = [
        evidently_report._as_classes(frame, columns) for frame in (data.labelled, data.reference)
    ]
    positive = model.binary_classes[1] if task == "binary_classification" else None
    assert evidently_report._integer_classes(model, as_text, positive)
    numbers = _page(model, data)
    monkeypatch.setattr(evidently_report, "_integer_classes", lambda *args: False)
    assert numbers == _page(model, data)


def test_text_classes_stay_text() -> None:
    model = _model("binary_classification", classes=["legit", "fraud"], positive_class="fraud")
    data = _day(["legit", "fraud"])
    as_text = [
        evidently_report._as_classes(frame, ["label", "prediction"])
        for frame in (data.labelled, data.reference)
    ]
    assert not evidently_report._integer_classes(model, as_text, "fraud")
    assert "fraud" in _page(model, data)


def test_classes_whose_order_numbers_would_change_stay_text() -> None:
    """As text `12` sorts before `3`: numbers would reorder the confusion matrix."""
    model = _model("multiclass_classification", classes=[3, 7, 12])
    data = _day([3, 7, 12])
    as_text = [
        evidently_report._as_classes(frame, ["label", "prediction"])
        for frame in (data.labelled, data.reference)
    ]
    assert not evidently_report._integer_classes(model, as_text, None)
    assert '"x": ["12", "3", "7"]' in _page(model, data)
