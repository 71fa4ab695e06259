"""The README's promise: a drift method is one `DriftMethod` entry, and models.yaml can use it.

The entry under test is the README's own snippet ("Adding a drift method"), executed from
README.md, so the documentation and this test cannot drift apart. It is configured for a
numerical and a categorical column in a models file, the `drift` table is computed over a real
data root (and on the pandas path), and its statistic is checked against SciPy on bins built
here with NumPy.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import distance

from perf_pipeline.config import ModelConfig, load_models
from perf_pipeline.drift import registry
from perf_pipeline.drift.compute import DATASET_COLUMN, build_reference_profile, compute_drift
from perf_pipeline.drift.registry import DriftMethod
from perf_pipeline.lake import connect, write_frame_partitions, write_single
from perf_pipeline.paths import DataPaths
from perf_pipeline.tables import drift as drift_table

README = Path(__file__).parents[1] / "README.md"
SECTION = "## Adding a drift method"
DAY = dt.date(2026, 5, 1)
RTOL = 1e-12


def _readme_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    if f"\n{SECTION}\n" not in text:
        pytest.fail(f"README.md has no {SECTION!r} section: the recipe this test runs")
    start = text.index(f"\n{SECTION}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end >= 0 else len(text)]
    snippets = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(snippets) == 1, f"{SECTION!r} should hold exactly one Python snippet"
    return snippets[0]


def _readme_entries() -> dict[str, tuple[DriftMethod, ...]]:
    """The registry tuples the snippet assigns (`DRIFT_METHODS = (...)`), by name; the existing
    entries the snippet elides are only a comment, so each holds just the new entries."""
    namespace: dict[str, object] = {"DriftMethod": DriftMethod, "np": np}
    exec(_readme_snippet(), namespace)  # our own README: running it is the point of the test
    return {
        name: tuple(entry for entry in value if isinstance(entry, DriftMethod))
        for name, value in namespace.items()
        if isinstance(value, tuple)
    }


@pytest.fixture
def hellinger(monkeypatch: pytest.MonkeyPatch) -> DriftMethod:
    """The README's entry, added to the registry for the test's duration."""
    ((_name, (entry,)),) = _readme_entries().items()
    monkeypatch.setattr(registry, "DRIFT_METHODS", (*registry.DRIFT_METHODS, entry))
    return entry


def test_the_readme_snippet_is_one_new_registry_entry() -> None:
    entries = _readme_entries()
    assert list(entries) == ["DRIFT_METHODS"], "the snippet should extend registry.DRIFT_METHODS"
    (entry,) = entries["DRIFT_METHODS"]
    assert entry.name == "hellinger"
    assert entry.name not in registry.method_names()  # new, not a copy of a built-in


def _sides() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and one day in which `amount` shifts and `channel` barely moves."""
    rng = np.random.default_rng(5)

    def side(n: int, shift: float, shares: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "amount": np.round(rng.gamma(2.0, 30.0, n) + shift, 2),
                "tenure": rng.normal(100, 20, n),
                "channel": rng.choice(["web", "app", "kiosk", "phone"], n, p=shares),
                "prediction": rng.choice(["0", "1"], n, p=[0.9, 0.1]),
                "score": rng.beta(2, 8, n),
            }
        )

    return side(3000, 0.0, [0.5, 0.3, 0.15, 0.05]), side(900, 25.0, [0.48, 0.32, 0.2, 0.0])


def _models_file(tmp_path: Path) -> ModelConfig:
    path = tmp_path / "models.yaml"
    path.write_text(
        f"""models:
  cards:
    task: binary_classification
    features:
      numerical: [amount, tenure]
      categorical: [channel]
    start_date: {DAY.isoformat()}
    drift:
      share_threshold: 0.4
      methods: {{amount: hellinger, channel: hellinger}}
      thresholds: {{channel: 0.02}}
""",
        encoding="utf-8",
    )
    return load_models(path)["cards"]


def _drift_table(tmp_path: Path, model: ModelConfig, reference: pd.DataFrame, day: pd.DataFrame):
    """`tables.drift.compute_days` over a data root holding the reference and the day."""
    paths, con = DataPaths(tmp_path / "root"), connect()
    con.register("_reference", reference)
    write_single(con, paths, "reference", model.model_id, "SELECT * FROM _reference")
    rows = day.assign(model_id=model.model_id, date=DAY, prediction_id=[str(i) for i in day.index])
    schema = {c: "VARCHAR" for c in rows.columns} | {"date": "DATE"}
    schema |= dict.fromkeys(["amount", "tenure", "score"], "DOUBLE")
    write_frame_partitions(con, paths, "predictions", model.model_id, rows, schema, [DAY])
    return drift_table.compute_days(con, paths, model, [DAY]).set_index("column")


def _hellinger_reference(reference: pd.Series, current: pd.Series, numerical: bool) -> float:
    """Hellinger distance on Evidently's bins, built here: Sturges edges over both sides with
    NumPy for numbers, one bin per value over both sides for categories."""
    if numerical:
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        ref_counts = np.histogram(reference, edges)[0]
        cur_counts = np.histogram(current, edges)[0]
    else:
        values = sorted(set(reference) | set(current))
        ref_counts = reference.value_counts().reindex(values, fill_value=0).to_numpy()
        cur_counts = current.value_counts().reindex(values, fill_value=0).to_numpy()
    p, q = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    return float(distance.euclidean(np.sqrt(p), np.sqrt(q)) / np.sqrt(2))


def test_a_method_added_to_the_registry_is_usable_from_models_yaml(
    tmp_path: Path, hellinger: DriftMethod
) -> None:
    model = _models_file(tmp_path)  # the models file accepts the new name
    reference, day = _sides()
    table = _drift_table(tmp_path, model, reference, day)
    pandas_path = compute_drift(
        build_reference_profile(reference, model), day.assign(date=DAY), model, "file"
    ).set_index("column")

    for column, numerical in [("amount", True), ("channel", False)]:
        expected = _hellinger_reference(reference[column], day[column], numerical)
        threshold = model.drift.thresholds.get(column, hellinger.default_threshold)
        for rows in (table, pandas_path):
            row = rows.loc[column]
            assert row["method"] == "hellinger"
            assert row["statistic"] == pytest.approx(expected, rel=RTOL)
            assert pd.isna(row["p_value"])  # a distance: the threshold applies to it
            assert row["threshold"] == threshold
            assert bool(row["drifted"]) == (expected >= threshold)
            assert row["psi"] == pytest.approx(pandas_path.loc[column, "psi"], rel=1e-9)
    assert bool(table.loc["amount", "drifted"]) and bool(table.loc["channel", "drifted"])
    assert table.loc["tenure", "method"] == "wasserstein"  # the other columns keep defaults

    dataset = table.loc[DATASET_COLUMN]
    tested = table.drop(index=DATASET_COLUMN)["drifted"].dropna().astype(bool)
    assert dataset["statistic"] == pytest.approx(tested.mean())
    assert dataset["threshold"] == model.drift.share_threshold
    assert bool(dataset["drifted"]) == (tested.mean() >= model.drift.share_threshold)


def test_the_registry_names_what_models_yaml_may_use(hellinger: DriftMethod) -> None:
    names = registry.method_names()
    assert names[-1] == "hellinger"
    assert set(names) >= {"ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"}
    assert "hellinger" not in registry.p_value_method_names()
    assert registry.p_value_method_names() == {"ks", "chisquare", "z"}


def test_an_entry_that_breaks_its_own_contract_fails_loudly() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        DriftMethod("both", threshold_on="statistic", default_threshold=0.1, drifted_when=">=")
    p_value_method = DriftMethod(
        "half",
        threshold_on="p_value",
        default_threshold=0.05,
        drifted_when="<",
        on_bins=lambda ref, cur: 0.3,
    )
    with pytest.raises(TypeError, match="must return \\(statistic, p_value\\)"):
        p_value_method.pair(0.3)
