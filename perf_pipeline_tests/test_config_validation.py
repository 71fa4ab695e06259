"""The config test matrix: each way a models file can be wrong is one named error.

Every case writes a real models file with one good model and one broken one, loads it, and holds
the message to its contract: it starts with the file and the model, names the key path and, where
there is a closed set, the valid choices. One file with many problems gets them all in one message.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from perf_pipeline.config import (
    ModelConfig,
    ModelsFileError,
    Task,
    key_path,
    load_models,
    load_models_with_warnings,
)
from perf_pipeline.paths import DataPaths
from perf_pipeline.scaffold import add_model

GOOD = """\
  good:
    task: regression
    features: {numerical: [x]}
    start_date: 2026-01-01
"""

BINARY = """\
    task: binary_classification
    features:
      numerical: [amount]
      categorical: [channel]
    segments: [channel]
    start_date: 2026-01-01
"""


def _write(tmp_path: Path, models: str, top: str = "") -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(f"models:\n{GOOD}{models}{top}", encoding="utf-8")
    return path


def _entry(model_id: str, body: str, extra: str = "") -> str:
    return f"  {model_id}:\n{body}" + textwrap.indent(textwrap.dedent(extra), "    ")


def _problems(path: Path) -> list[str]:
    with pytest.raises(ModelsFileError) as info:
        load_models(path)
    return str(info.value).splitlines()


def _line_for(lines: list[str], key: str) -> str:
    matches = [line for line in lines if f": {key}: " in line]
    assert len(matches) == 1, (key, lines)
    return matches[0]


# (case id, model body, extra YAML under the model, key path, fragments the line must hold)
MATRIX = [
    (
        "misspelled_metric",
        BINARY,
        "thresholds: {roc_aucc: {min: 0.7}}",
        "models.card.thresholds.roc_aucc",
        ["unknown metric for binary_classification", "did you mean 'roc_auc'", "valid: "],
    ),
    (
        "metric_of_another_task",
        BINARY,
        "thresholds: {mae: {max: 3}}",
        "models.card.thresholds.mae",
        ["unknown metric for binary_classification", "roc_auc", "drift_share"],
    ),
    (
        "ranking_metric_at_an_unconfigured_cutoff",
        "    task: ranking\n    k: [5, 10]\n    start_date: 2026-01-01\n",
        "thresholds: {ndcg_at_20: {min: 0.1}}",
        "models.card.thresholds.ndcg_at_20",
        ["ndcg_at_5", "ndcg_at_10"],
    ),
    (
        "fairness_metric_without_protected_attributes",
        BINARY,
        "thresholds: {demographic_parity_difference: {max: 0.1}}",
        "models.card.thresholds.demographic_parity_difference",
        ["unknown metric"],
    ),
    (
        "min_above_max",
        BINARY,
        "thresholds: {roc_auc: {min: 0.9, max: 0.8}}",
        "models.card.thresholds.roc_auc",
        ["min 0.9 is above max 0.8"],
    ),
    (
        "unknown_model_key",
        BINARY,
        "colour: blue",
        "models.card.colour",
        ["unknown key", "valid: task, positive_class"],
    ),
    (
        "unknown_nested_key",
        BINARY,
        "thresholds: {roc_auc: {mn: 0.7}}",
        "models.card.thresholds.roc_auc.mn",
        ["unknown key", "valid: min, max, max_drop"],
    ),
    (
        "unknown_quality_key",
        BINARY,
        "quality: {null_rate_tol: 0.1}",
        "models.card.quality.null_rate_tol",
        ["unknown key", "null_rate_tolerance"],
    ),
    (
        "boolean_key",
        BINARY,
        "drift: {methods: {yes: ks}}",
        "models.card.drift.methods.yes",
        ["as a boolean", "quote it"],
    ),
    (
        "number_key",
        BINARY,
        "drift: {thresholds: {1: 0.1}}",
        "models.card.drift.thresholds.1",
        ["as a number", "quote it"],
    ),
    (
        "boolean_positive_class",
        BINARY,
        "positive_class: yes",
        "models.card.positive_class",
        ["as a boolean", "quote it"],
    ),
    (
        "unknown_severity_key",
        BINARY,
        "quality: {severity: {amount_nul_rate: warning}}",
        "models.card.quality.severity.amount_nul_rate",
        ["no such expectation", "did you mean 'amount_null_rate'", "channel_null_rate"],
    ),
    (
        "structural_severity",
        BINARY,
        "quality: {severity: {files_readable: 'off'}}",
        "models.card.quality.severity.files_readable",
        ["cannot be changed"],
    ),
    (
        "unknown_drift_method",
        BINARY,
        "drift: {methods: {amount: kss}}",
        "models.card.drift.methods.amount",
        ["unknown drift method 'kss'", "valid: ", "wasserstein"],
    ),
    (
        "numerical_method_on_a_category",
        BINARY,
        "drift: {methods: {channel: ks}}",
        "models.card.drift.methods.channel",
        ["needs a numerical column"],
    ),
    (
        "drift_method_for_a_column_not_drifted",
        BINARY,
        "drift: {methods: {age: psi}}",
        "models.card.drift.methods.age",
        ["not a drifted column", "amount, channel, prediction, score"],
    ),
    (
        "drift_threshold_for_a_column_not_drifted",
        BINARY,
        "drift: {thresholds: {age: 0.2}}",
        "models.card.drift.thresholds.age",
        ["not a drifted column"],
    ),
    (
        "feature_named_like_a_pipeline_column",
        BINARY.replace("[amount]", "[amount, label]"),
        "",
        "models.card.features.numerical[1]",
        ["'label' is a column of the pipeline itself", "prediction_id"],
    ),
    (
        "segment_named_like_a_score_column",
        BINARY.replace("segments: [channel]", "segments: [score_high]"),
        "",
        "models.card.segments[0]",
        ["score_<class>"],
    ),
    (
        "protected_attribute_with_internal_prefix",
        BINARY,
        "protected_attributes: [__group]",
        "models.card.protected_attributes[0]",
        ["reserved for internal columns"],
    ),
    (
        "feature_named_like_a_column_in_another_case",
        BINARY.replace("[amount]", "[Timestamp]"),
        "",
        "models.card.features.numerical[0]",
        ["column of the pipeline itself"],
    ),
    (
        "named_positive_class_without_classes",
        BINARY,
        "positive_class: fraud",
        "models.card.positive_class",
        ["not 0 or 1", "add classes: [<negative>, fraud]"],
    ),
    (
        "binary_with_three_classes",
        BINARY,
        "positive_class: fraud\nclasses: [ok, fraud, other]",
        "models.card.classes",
        ["exactly 2 classes"],
    ),
    (
        "positive_class_not_among_classes",
        BINARY,
        "positive_class: fraud\nclasses: [ok, legit]",
        "models.card.positive_class",
        ["is not one of classes"],
    ),
    (
        "two_drift_share_settings",
        BINARY,
        "thresholds: {drift_share: {max: 0.3}}\ndrift: {share_threshold: 0.6}",
        "models.card.thresholds.drift_share.max",
        ["differs from drift.share_threshold 0.6", "one setting"],
    ),
    (
        "drift_share_out_of_range",
        BINARY,
        "thresholds: {drift_share: {max: 1.5}}",
        "models.card.thresholds.drift_share.max",
        ["not a share in (0, 1]"],
    ),
    (
        "path_escaping_model_id",
        BINARY,
        "",
        "models.card",
        ["must be letters, digits"],
    ),
    (
        "custom_expectation_shape",
        BINARY,
        "quality: {expectations: [{expectation: expect_between, column: amount}]}",
        "models.card.quality.expectations[0].expectation",
        ["should match pattern"],
    ),
    (
        "custom_expectation_on_a_column_not_logged",
        BINARY,
        "quality: {expectations: [{expectation: ExpectColumnValuesToNotBeNull, column: amt}]}",
        "models.card.quality.expectations[0].column",
        ["'amt' is not a logged column", "did you mean 'amount'"],
    ),
    (
        "custom_expectation_named_like_a_generated_one",
        BINARY,
        "quality: {expectations: [{expectation: ExpectColumnValuesToNotBeNull, column: amount,"
        " name: amount_null_rate}]}",
        "models.card.quality.expectations[0].name",
        ["already names another expectation"],
    ),
]


@pytest.mark.parametrize(
    ("body", "extra", "path", "fragments"),
    [case[1:] for case in MATRIX],
    ids=[case[0] for case in MATRIX],
)
def test_each_problem_is_named_with_its_key_path(
    tmp_path: Path, body: str, extra: str, path: str, fragments: list[str]
) -> None:
    model_id = "../card" if path == "models.card" else "card"
    file = _write(tmp_path, _entry(model_id if model_id == "card" else "'../card'", body, extra))
    lines = _problems(file)
    key = path if model_id == "card" else 'models["../card"]'
    line = _line_for(lines, key)
    assert line.startswith(f"{file}: model {model_id!r}: {key}: ")
    for fragment in fragments:
        assert fragment in line, (fragment, line)


def test_a_duplicate_model_id_is_named_with_both_lines(tmp_path: Path) -> None:
    card = _entry("card", BINARY)
    file = _write(tmp_path, card + card)
    line = _line_for(_problems(file), "models.card")
    assert "defined twice (lines 6 and 13)" in line


def test_a_duplicate_key_inside_a_model_is_named(tmp_path: Path) -> None:
    file = _write(
        tmp_path, _entry("card", BINARY, "decision_threshold: 0.3\ndecision_threshold: 0.7")
    )
    assert "defined twice" in _line_for(_problems(file), "models.card.decision_threshold")


def test_an_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    file = _write(tmp_path, "", top="modles:\n  x: {}\n")
    assert _problems(file) == [
        f"{file}: modles: unknown top-level key; valid: models, notifications"
    ]


def test_every_problem_of_the_file_in_one_message(tmp_path: Path) -> None:
    """Problems of several models, of fields and of rules, all at once, in file order."""
    broken = _entry(
        "card",
        BINARY,
        """\
        colour: blue
        thresholds: {roc_aucc: {min: 0.7}, accuracy: {min: 0.9, max: 0.1}}
        drift: {methods: {amount: kss}}
        """,
    )
    other = _entry("demand", "    task: regression\n    start_date: 2026-01-01\n", "k: x\n")
    lines = _problems(_write(tmp_path, broken + other))
    keys = [line.split(": ")[2] for line in lines]
    assert keys == [
        "models.card.colour",
        "models.card.thresholds.roc_aucc",
        "models.card.thresholds.accuracy",
        "models.card.drift.methods.amount",
        "models.demand.k",
    ]


def test_drift_share_max_is_the_share_threshold(tmp_path: Path) -> None:
    """One setting: `thresholds.drift_share.max` sets `drift.share_threshold`, which the drift
    table's `drifted` (share >= threshold) and the drift alert both follow."""
    file = _write(tmp_path, _entry("card", BINARY, "thresholds: {drift_share: {max: 0.3}}"))
    assert load_models(file)["card"].drift.share_threshold == 0.3
    same = _write(
        tmp_path,
        _entry(
            "card", BINARY, "thresholds: {drift_share: {max: 0.3}}\ndrift: {share_threshold: 0.3}"
        ),
    )
    assert load_models(same)["card"].drift.share_threshold == 0.3


def test_segments_and_protected_attributes_need_not_be_features(tmp_path: Path) -> None:
    file = _write(tmp_path, _entry("card", BINARY, "protected_attributes: [age_band]"))
    model = load_models(file)["card"]
    assert model.protected_attributes == ["age_band"]
    assert "age_band" in model.input_columns and "age_band" not in model.features.all


def test_binary_classes_and_a_named_positive_class_load(tmp_path: Path) -> None:
    extra = "positive_class: fraud\nclasses: [legit, fraud]"
    model = load_models(_write(tmp_path, _entry("card", BINARY, extra)))["card"]
    assert model.binary_classes == ("legit", "fraud")


def test_model_ids_with_dashes_load(tmp_path: Path) -> None:
    assert "card-v2" in load_models(_write(tmp_path, _entry("card-v2", BINARY)))


def test_a_start_date_in_the_future_is_a_warning(tmp_path: Path) -> None:
    future = BINARY.replace("2026-01-01", "2099-01-01")
    file = _write(tmp_path, _entry("card", future))
    models, warnings = load_models_with_warnings(file, today=dt.date(2026, 6, 1))
    assert "card" in models
    assert warnings == [
        f"{file}: model 'card': models.card.start_date: 2099-01-01 is in the future: the model "
        "has no daily partition (and its schedule does nothing) until then"
    ]


def test_models_built_in_code_keep_the_basic_checks() -> None:
    with pytest.raises(ValueError, match="ranking needs 'k'"):
        ModelConfig(model_id="feed", task="ranking", start_date=dt.date(2026, 1, 1))


def test_key_paths_read_back_unambiguously() -> None:
    assert key_path(("models", "card_fraud", "thresholds", "roc_aucc")) == (
        "models.card_fraud.thresholds.roc_aucc"
    )
    assert key_path(("models", "m-1", "features", "numerical", 0)) == (
        "models.m-1.features.numerical[0]"
    )
    assert key_path(("models", "m", "drift", "methods", "é.t")) == 'models.m.drift.methods["é.t"]'


# The settings that only mean something for some tasks; every other one is in every entry.
TASK_FIELDS = {
    Task.BINARY_CLASSIFICATION: {
        "positive_class",
        "classes",
        "decision_threshold",
        "predicted_class",
    },
    Task.MULTICLASS_CLASSIFICATION: {"classes"},
    Task.REGRESSION: set(),
    Task.RANKING: {"k"},
}


@pytest.mark.parametrize("task", [t.value for t in Task])
def test_add_model_appends_an_entry_that_loads(tmp_path: Path, task: str) -> None:
    paths = DataPaths(tmp_path)
    file = _write(tmp_path, "")
    before = file.read_text(encoding="utf-8")
    message = add_model(paths, "new-model", task)
    assert f"Added model 'new-model' ({task})" in message
    text = file.read_text(encoding="utf-8")
    assert text.startswith(before)  # the existing entries and comments are kept as they were
    models = load_models(file)
    assert list(models) == ["good", "new-model"] and models["new-model"].task.value == task
    entry = text[len(before) :]
    own = TASK_FIELDS[Task(task)]
    for field in set(ModelConfig.model_fields) - {"model_id"} - set().union(*TASK_FIELDS.values()):
        assert f"\n    {field}:" in entry, field
    for field in own:
        assert f"\n    {field}:" in entry, field


def test_add_model_creates_the_file_and_refuses_an_existing_id(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path / "fresh")
    add_model(paths, "churn", "binary_classification")
    assert list(load_models(paths.models_file)) == ["churn"]
    before = paths.models_file.read_text(encoding="utf-8")
    with pytest.raises(ModelsFileError, match="model 'churn' already exists"):
        add_model(paths, "churn", "regression")
    with pytest.raises(ModelsFileError, match="must be letters, digits"):
        add_model(paths, "../escape", "regression")
    assert paths.models_file.read_text(encoding="utf-8") == before


def test_add_model_refuses_a_file_that_does_not_load(tmp_path: Path) -> None:
    file = _write(tmp_path, _entry("card", BINARY, "colour: blue"))
    before = file.read_text(encoding="utf-8")
    with pytest.raises(ModelsFileError, match=r"models\.card\.colour: unknown key"):
        add_model(DataPaths(tmp_path), "churn", "regression")
    assert file.read_text(encoding="utf-8") == before


def test_notifications_must_be_a_list_of_kinds(tmp_path: Path) -> None:
    file = _write(tmp_path, "", top="notifications:\n  - {kind: log}\n  - 3\n  - {url: x}\n")
    assert _problems(file) == [
        f"{file}: notifications[1]: expected a mapping with a text 'kind'",
        f"{file}: notifications[2]: expected a mapping with a text 'kind'",
    ]
