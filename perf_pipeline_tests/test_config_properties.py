"""Properties of loading generated models files: a file either loads, or raises `ModelsFileError`
naming the offending key path; never another exception, whatever the names, keys or types.

Column names are drawn with dashes, spaces, dots, quotes and non-ASCII letters; each file carries
at most one known fault (so the property can say which key path the message must name), and a
second property throws arbitrary YAML at the loader. Profiles: see `conftest.py`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from perf_pipeline.config import ModelConfig, ModelsFileError, key_path, load_models
from perf_pipeline.config.choices import reserved_column_reason, threshold_names

TASKS = ("binary_classification", "regression")
VALID_THRESHOLDS = {
    "binary_classification": ["roc_auc", "accuracy", "f1", "brier", "drift_share"],
    "regression": ["mae", "rmse", "r2", "mape", "drift_share"],
}
SETTINGS_KEYS = {
    (): set(ModelConfig.model_fields),
    ("features",): {"numerical", "categorical"},
    ("reference",): {"source", "days"},
    ("drift",): {"share_threshold", "methods", "thresholds", "multiple_testing"},
    ("quality",): {"null_rate_tolerance", "severity", "expectations", "range_mostly"},
}
# (key path inside the model, a value of the wrong type there)
WRONG_TYPES = [
    (("decision_threshold",), [0.5]),
    (("min_labelled_rows",), "many"),
    (("label_delay_days",), {"days": 3}),
    (("segments",), {"a": 1}),
    (("features", "numerical"), "amount"),
    (("reference", "source"), "s3"),
    (("drift", "share_threshold"), 2.0),
    (("quality", "null_rate_tolerance"), "lots"),
    (("start_date",), "someday"),
    (("task",), "clustering"),
]

model_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,11}", fullmatch=True)
column_names = st.text(
    alphabet=st.sampled_from("abcxyzé日_- .\"'0123456789"), min_size=1, max_size=10
).filter(lambda name: name.strip() == name and reserved_column_reason(name) is None)
key_text = st.text(alphabet=st.sampled_from("abcdefgmnoxyz_é-"), min_size=1, max_size=12)


@st.composite
def valid_models(draw: st.DrawFn) -> tuple[str, dict]:
    task = draw(st.sampled_from(TASKS))
    columns = draw(st.lists(column_names, min_size=1, max_size=6, unique_by=str.lower))
    split = draw(st.integers(0, len(columns)))
    numerical, categorical = columns[:split], columns[split:]
    metric = draw(st.sampled_from(VALID_THRESHOLDS[task]))
    low = draw(st.floats(0.01, 0.5))
    body: dict = {
        "task": task,
        "features": {"numerical": numerical, "categorical": categorical},
        "segments": categorical[:1],
        "start_date": dt.date(2026, 1, 1),
        "thresholds": {metric: {"max": low} if metric == "drift_share" else {"min": low}},
        "drift": {"thresholds": {c: 0.2 for c in numerical[:1]}},
    }
    return draw(model_ids), body


@st.composite
def one_fault(draw: st.DrawFn, model_id: str, body: dict) -> tuple[dict, tuple | None]:
    """The body with at most one fault, and the key path (inside the model) it must be named at."""
    kind = draw(st.sampled_from(["none", "threshold", "extra_key", "wrong_type", "reserved"]))
    if kind == "threshold":
        name = draw(key_text)
        assume(name not in threshold_names(ModelConfig(model_id=model_id, **body)))
        body["thresholds"][name] = {"min": 0.1}
        return body, ("thresholds", name)
    if kind == "extra_key":
        where = draw(st.sampled_from(sorted(SETTINGS_KEYS)))
        name = draw(key_text)
        assume(name not in SETTINGS_KEYS[where])
        target = body
        for part in where:
            target = target.setdefault(part, {})
        target[name] = draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))
        return body, (*where, name)
    if kind == "wrong_type":
        where, value = draw(st.sampled_from(WRONG_TYPES))
        target = body
        for part in where[:-1]:
            target = target.setdefault(part, {})
        target[where[-1]] = value
        return body, where
    if kind == "reserved":
        name = draw(st.sampled_from(["label", "Score", "score_x", "__x", "prediction_id"]))
        body["features"]["numerical"] = [*body["features"]["numerical"], name]
        index = len(body["features"]["numerical"]) - 1
        return body, ("features", "numerical", index)
    return body, None


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


@given(data=st.data())
def test_a_file_loads_or_names_its_fault(tmp_path_factory, data: st.DataObject) -> None:
    model_id, body = data.draw(valid_models())
    body, fault = data.draw(one_fault(model_id, body))
    path = _write(tmp_path_factory.mktemp("models"), {"models": {model_id: body}})
    if fault is None:
        model = load_models(path)[model_id]
        assert model.features.numerical == body["features"]["numerical"]
        assert model.features.categorical == body["features"]["categorical"]
        return
    try:
        load_models(path)
    except ModelsFileError as exc:
        expected = key_path(("models", model_id, *fault))
        assert f": {expected}: " in str(exc), (expected, str(exc))
        assert all(line.startswith(f"{path}: ") for line in str(exc).splitlines())
    else:
        raise AssertionError(f"{fault} loaded")


yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from("abé -_.\"'1:{}[]#&*!"), max_size=8),
    st.dates(),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.one_of(key_text, st.sampled_from(list(ModelConfig.model_fields))), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@given(document=st.dictionaries(st.one_of(st.just("models"), key_text), yaml_values, max_size=3))
def test_arbitrary_yaml_never_raises_another_exception(tmp_path_factory, document: dict) -> None:
    path = _write(tmp_path_factory.mktemp("junk"), document)
    try:
        load_models(path)
    except ModelsFileError as exc:
        assert all(line.startswith(f"{path}: ") for line in str(exc).splitlines())


@given(text=st.text(alphabet=st.sampled_from("models:{}[]- \n\t'\"yes1é&*!|>%"), max_size=60))
def test_arbitrary_text_never_raises_another_exception(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("text") / "models.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_models(path)
    except ModelsFileError as exc:
        assert str(exc).startswith(f"{path}: ")
