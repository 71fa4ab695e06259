"""One Evidently HTML report per model and day, for people who want to look, not query.

Evidently is imported inside the functions (it is slow to import, and its usage telemetry is
turned off before it loads). Each report would embed Evidently's 3.5 MB script; the reports of a
data root share one copy of it instead, so a year of daily reports stays small.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pandas as pd

from perf_pipeline.config import ModelConfig, Task

MAX_ROWS = 20_000
SHARED_SCRIPT = "_evidently/index.js"


def _columns(model: ModelConfig, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    numerical = [*model.features.numerical, *[c for c in model.score_columns if c in frame]]
    categorical = list(model.features.categorical)
    if model.task is Task.REGRESSION:
        numerical.append("prediction")
    else:
        categorical.append("prediction")
    return numerical, categorical


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sample(MAX_ROWS, random_state=0) if len(frame) > MAX_ROWS else frame


def _evidently_script() -> Path:
    import evidently

    return Path(evidently.__file__).parent / "nbextension" / "static" / "index.js"


def _share_script(html: str, reports_root: Path, report_path: Path) -> str:
    script = _evidently_script()
    if not script.exists():
        return html
    code = script.read_text(encoding="utf-8")
    if code not in html:
        return html
    shared = reports_root / SHARED_SCRIPT
    if not shared.exists() or shared.stat().st_size != script.stat().st_size:
        shared.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(script, shared)
    relative = os.path.relpath(shared, report_path.parent)
    return html.replace(f"<script>{code}</script>", f'<script src="{relative}"></script>', 1)


def write_report(
    model: ModelConfig,
    day: dt.date,
    current: pd.DataFrame,
    reference: pd.DataFrame,
    reports_root: Path,
    target: Path,
) -> Path:
    """Data drift of `current` against `reference`, as a standalone HTML file at `target`."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

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
        Dataset.from_pandas(_sample(current[columns]), data_definition=definition),
        Dataset.from_pandas(_sample(reference[columns]), data_definition=definition),
    )
    html = _share_script(snapshot.get_html_str(as_iframe=False), reports_root, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target
