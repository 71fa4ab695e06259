"""`perf-pipeline add-model ID --task T`: a new model entry with every setting written out.

The entry is appended to the models file as commented YAML, so a user sees every field, its
default and what it means in the file itself, then edits the features. The result must load:
it is checked before the file is written, and nothing is written when it does not.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from perf_pipeline.config import MODEL_ID_PATTERN, ModelsFileError, Task, read_models_file
from perf_pipeline.config.loading import format_problem
from perf_pipeline.config.yaml_source import read_yaml
from perf_pipeline.drift.registry import method_names
from perf_pipeline.paths import DataPaths

HEADER = (
    "# Models monitored by perf_pipeline. Adding a model is an entry here plus files under\n"
    "# landing/predictions/model=<id>/date=<YYYY-MM-DD>/ (and labels/, reference/).\n"
    "models:\n"
)
_EMPTY_MODELS = re.compile(r"^models:[ \t]*(\{\s*\}|null|~)?[ \t]*$", re.MULTILINE)
_MODELS_KEY = re.compile(r"^models:[ \t]*(#.*)?$")

_TASK_LINES = {
    Task.BINARY_CLASSIFICATION: """\
positive_class: 1                    # the label value that counts as positive
classes: [0, 1]                      # [negative, positive]; needed when they are not 0/1
decision_threshold: 0.5              # predicted positive when score >= this
predicted_class: logged              # logged: the logged prediction (threshold where absent)
                                     # | threshold: always score >= decision_threshold
""",
    Task.MULTICLASS_CLASSIFICATION: """\
classes: [class_a, class_b, class_c] # every class; the logs carry score_<class> columns
""",
    Task.REGRESSION: "",
    Task.RANKING: """\
k: [10]                              # ranking cutoffs: precision/recall/ndcg/hit_rate at each
""",
}

_THRESHOLDS = {
    Task.BINARY_CLASSIFICATION: "roc_auc: {min: 0.7, max_drop: 0.05}",
    Task.MULTICLASS_CLASSIFICATION: "accuracy: {min: 0.7, max_drop: 0.05}",
    Task.REGRESSION: "r2: {min: 0.0, max_drop: 0.1}",
    Task.RANKING: "mrr: {min: 0.1, max_drop: 0.05}",
}

_COMMON = """\
features:
  numerical: []                      # numeric input columns of the logs
  categorical: []                    # categorical input columns
segments: []                         # performance is also reported per value of these
protected_attributes: []             # fairness metrics across their groups (logged columns,
                                     # not necessarily features)
label_delay_days: 14                 # how long labels usually take to arrive
labels:                              # when a day's realized metrics are final
  final_coverage: 0.95               # this share of the day labelled (or the delay passed)
  alert_on_provisional: false        # true: realized alerts before the day is final
start_date: <start>               # first daily partition
reference: {source: file}            # landing/reference/model=<model_id>/*
                                     # or {source: trailing, days: 28}
min_labelled_rows: 100               # fewer labels than this on a day: reported, never alerted
estimation:                          # the estimate against the final realized value
  window_days: 14                    # judged over this many of the latest final days
  max_miss_rate_p: 0.01              # warn when misses of the 95 % interval are this unlikely
  alert: false                       # true: an estimator_quality alert, not only a log warning
thresholds:                          # metric: {min, max, max_drop}, and optionally
  <threshold>
                                     # band: {sigma: 3, baseline: reference | trailing,
                                     #        days: 28, same_weekday: false},
                                     # require_ci: true, persist_days: 2,
                                     # severity: warning | critical
  drift_share: {max: 0.5}            # the dataset drifts (and alerts) when share >= max
drift:                               # (drift_share.max above is drift.share_threshold)
  methods: {}                        # column: <drift_methods>
  thresholds: {}                     # column: threshold of its method
  multiple_testing: null             # or benjamini_hochberg
  min_psi: null                      # a column drifts for alerting only with PSI >= this
lifecycle:
  resolve_after_days: 2              # an open alert resolves after this many clean days
review:                              # the daily review queue (README, "Review queue")
  per_day: 50                        # rows to review per day; 0 turns the queue off
  least_confident: 0.4               # shares of per_day (they add up to 1)
  regressed_segments: 0.4
  uniform: 0.2                       # the unbiased sample review_accuracy is computed on
  seed: 0
gate:                                # release gate (README, "Release gate"); no metrics: no gate
  metrics: {}                        # metric: {max_worse: 0.005, confidence: 0.95}
  max_segment_worse: null            # a segment shown worse by more than this fails
  fairness_gaps_not_wider: false
  max_score_drift: null              # or {method: wasserstein, threshold: 0.5}
  min_labelled_rows: 500             # fewer labelled rows: exit 2
shadow_versions: []                  # versions logged in shadow (the gate): kept out of tables
owners: []                           # e.g. [team:fraud, alice@example.com]
tags: {}                             # e.g. {tier: gold}
quality:
  null_rate_tolerance: 0.05          # null rate may exceed the reference's by this much
  range_mostly: 0.95                 # share of values inside the reference range
  category_mostly: 0.95              # share of values among the reference categories
  quarantine_share_max: 0.01
  volume_tolerance: 0.5              # rows within 50 % of the trailing median
  volume_window_days: 7
  duplicate_window_days: 7           # ids repeated within this many days are duplicates
  severity: {}                       # expectation name: error | warning | off
  expectations: []                   # your own Great Expectations expectations, e.g.
  # - {expectation: ExpectColumnValuesToBeBetween, column: x, min_value: 0, severity: error}
"""


def model_template(model_id: str, task: Task | str, start: dt.date | None = None) -> str:
    """The commented YAML entry of a new model, indented to sit under `models:`."""
    task = Task(task)
    body = f"task: {task.value}\n" + _TASK_LINES[task]
    body += (
        _COMMON.replace("<start>", (start or dt.datetime.now(dt.UTC).date()).isoformat())
        .replace("<model_id>", model_id)
        .replace("<threshold>", _THRESHOLDS[task])
        .replace("<drift_methods>", "|".join(method_names()))
    )
    lines = [f"  {model_id}:"] + [f"    {line}" if line else "" for line in body.splitlines()]
    return "\n".join(lines) + "\n"


def add_model(paths: DataPaths, model_id: str, task: Task | str) -> str:
    """Append a new model to the models file (created if absent); the message to print.

    Refuses an invalid or existing id and a models file that does not load as it is.
    """
    path = paths.models_file
    if not MODEL_ID_PATTERN.match(model_id):
        raise ModelsFileError(
            f"{path}: model id {model_id!r} must be letters, digits, '_' or '-' (it names folders)"
        )
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if path.exists():
        _raise_if_invalid(path, path)
        if model_id in (read_yaml(text)[0] or {}).get("models", {}):
            raise ModelsFileError(f"{path}: model {model_id!r} already exists")
    candidate = path.with_name(f".{path.name}.new")
    candidate.parent.mkdir(parents=True, exist_ok=True)
    candidate.write_text(_append(text, model_template(model_id, task)), encoding="utf-8")
    try:
        _raise_if_invalid(candidate, path)
    except ModelsFileError:
        candidate.unlink(missing_ok=True)
        raise
    candidate.replace(path)
    return (
        f"Added model {model_id!r} ({Task(task).value}) to {path}.\n"
        f"Next: list its features there, then land files under "
        f"{paths.landing / 'predictions' / f'model={model_id}'}/date=YYYY-MM-DD/."
    )


def _append(text: str, entry: str) -> str:
    """The file with `entry` at the end of its `models:` mapping (an empty one is opened).

    Other top-level keys may follow `models:` (`notifications:` is one), so the end of the
    mapping is found by lines, and every other line is kept exactly as the user wrote it.
    """
    text = _EMPTY_MODELS.sub("models:", text, count=1)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    at = _end_of_models_block(lines)
    return "".join([*lines[:at], entry, *lines[at:]])


def _end_of_models_block(lines: list[str]) -> int:
    """Index of the line after the last indented line of the top-level `models:` block.

    The block ends at the next line that starts in the first column and is not a comment (the
    next top-level key, or a document marker). Comments in the first column after its last
    entry stay where they are: they usually introduce what follows. No `models:` line (a file
    the loader would refuse anyway): the end of the file.
    """
    start = next((i for i, line in enumerate(lines) if _MODELS_KEY.match(line)), None)
    if start is None:
        return len(lines)
    end = start + 1
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if line.strip() and not line[0].isspace() and not line.startswith("#"):
            break
        if line.strip() and line[0].isspace():
            end = index + 1
    return end


def _raise_if_invalid(checked: Path, shown: Path) -> None:
    """Raise the loader's message (naming `shown`) when the file at `checked` does not load."""
    _, problems = read_models_file(checked)
    if problems:
        raise ModelsFileError("\n".join(format_problem(shown, p) for p in problems))
