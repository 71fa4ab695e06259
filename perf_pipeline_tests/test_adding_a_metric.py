"""The README's promise: a metric is one `Metric` entry, and everything else follows.

The entry under test is the README's own snippet, executed from README.md, so the documentation
and this test cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from perf_pipeline.config import ModelConfig, Task
from perf_pipeline.metrics import registry
from perf_pipeline.metrics.performance import ALL, compute_performance, metric_direction
from perf_pipeline.metrics.registry import Metric

README = Path(__file__).parents[1] / "README.md"
SECTION = "## Adding a metric"


def _readme_entries() -> dict[str, tuple[Metric, ...]]:
    """Execute the Python snippet of the README's "Adding a metric" section.

    Returns the registry tuples it assigns (`_BINARY = (...)`) by name; the existing entries
    the snippet elides are only a comment, so each tuple holds just the new entries.
    """
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{SECTION}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end >= 0 else len(text)]
    snippets = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(snippets) == 1, f"{SECTION!r} should hold exactly one Python snippet"
    namespace: dict[str, object] = {"Metric": Metric, "Task": Task}
    exec(snippets[0], namespace)  # our own README: running it is the point of the test
    return {
        name: tuple(entry for entry in value if isinstance(entry, Metric))
        for name, value in namespace.items()
        if isinstance(value, tuple)
    }


def _frame() -> pd.DataFrame:
    """One day: `web` and `app` mixed, `kiosk` with only positive labels, a quarter unlabelled."""
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {
            "date": dt.date(2026, 1, 1),
            "prediction_id": [str(i) for i in range(n)],
            "score": rng.random(n),
            "channel": rng.choice(["web", "app", "kiosk"], n, p=[0.45, 0.45, 0.1]),
        }
    )
    frame["prediction"] = (frame["score"] >= 0.5).astype(int).astype(str)
    label = (rng.random(n) < frame["score"]).astype(int).astype(str)
    label[frame["channel"] == "kiosk"] = "1"  # no negatives: false_positive_rate undefined
    frame["label"] = label.where(rng.random(n) >= 0.25, None)
    return frame


def test_the_readme_snippet_is_one_registry_tuple() -> None:
    entries = _readme_entries()
    assert len(entries) == 1, entries
    ((name, metrics),) = entries.items()
    existing = getattr(registry, name, None)
    assert isinstance(existing, tuple), f"README names {name!r}, not a tuple of registry.py"
    assert len(metrics) == 1
    # The README puts the entry in the tuple of its own task.
    assert {m.task for m in existing} == {metrics[0].task}


def test_the_readme_example_metric_is_computed_per_segment_with_its_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ((_name, (entry,)),) = _readme_entries().items()
    assert entry.name == "false_positive_rate"
    task = entry.task
    monkeypatch.setitem(registry.METRICS, task, (*registry.METRICS[task], entry))
    frame = _frame()
    con = duckdb.connect()
    con.register("scored", frame)
    model = ModelConfig(
        model_id="m",
        task="binary_classification",
        start_date=dt.date(2026, 1, 1),
        segments=["channel"],
    )
    out = compute_performance(con, model, "scored")
    rows = out[(out["metric"] == "false_positive_rate") & ~out["is_estimated"]]
    assert set(rows["segment_value"]) == {ALL, "web", "app", "kiosk"}
    for row in rows.itertuples():
        part = frame if row.segment_value == ALL else frame[frame["channel"] == row.segment_value]
        labelled = part[part["label"].notna()]
        assert 0 < len(labelled) < len(part)
        assert row.n == len(labelled)
        assert row.label_coverage == pytest.approx(len(labelled) / len(part), rel=1e-12)
        tn, fp, _, _ = confusion_matrix(
            labelled["label"].astype(int), (labelled["score"] >= 0.5).astype(int), labels=[0, 1]
        ).ravel()
        if fp + tn == 0:  # no negatives: undefined, NULL with its n, never a fake 0
            assert row.segment_value == "kiosk"
            assert pd.isna(row.value) and pd.isna(row.ci_low) and pd.isna(row.ci_high)
            continue
        assert row.value == pytest.approx(fp / (fp + tn), rel=1e-12)
        low, high = proportion_confint(fp, fp + tn, alpha=0.05, method="wilson")
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert rows.loc[rows["segment_value"] == "kiosk", "value"].isna().all()
    assert metric_direction(task, "false_positive_rate") is False
