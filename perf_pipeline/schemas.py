"""Column types of the public tables written from Python frames (DESIGN §3).

Written down once so that every day's file of a table has the same schema, whatever pandas
inferred for that day (an all-null column would otherwise come out as a different type).
"""

from __future__ import annotations

PERFORMANCE = {
    "model_id": "VARCHAR",
    "date": "DATE",
    "segment_column": "VARCHAR",
    "segment_value": "VARCHAR",
    "metric": "VARCHAR",
    "value": "DOUBLE",
    "n": "BIGINT",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
    "label_coverage": "DOUBLE",
    "is_estimated": "BOOLEAN",
    # Binary classifiers: where a metric's predicted classes came from (logged/threshold/mixed).
    "predicted_from": "VARCHAR",
}

DRIFT = {
    "model_id": "VARCHAR",
    "date": "DATE",
    "column": "VARCHAR",
    "method": "VARCHAR",
    "statistic": "DOUBLE",
    "p_value": "DOUBLE",
    "threshold": "DOUBLE",
    "drifted": "BOOLEAN",
    "reference_kind": "VARCHAR",
    "psi": "DOUBLE",
}

DATA_QUALITY = {
    "model_id": "VARCHAR",
    "date": "DATE",
    "expectation": "VARCHAR",
    "column": "VARCHAR",
    "success": "BOOLEAN",
    "observed_value": "VARCHAR",
    "unexpected_count": "BIGINT",
    "severity": "VARCHAR",
    "sample_values": "VARCHAR",
}

ALERTS = {
    "alert_id": "VARCHAR",
    "model_id": "VARCHAR",
    "date": "DATE",
    "kind": "VARCHAR",
    "metric_or_column": "VARCHAR",
    "value": "DOUBLE",
    "baseline": "DOUBLE",
    "threshold": "DOUBLE",
    "severity": "VARCHAR",
    "status": "VARCHAR",
    "first_seen_at": "TIMESTAMPTZ",
    "message": "VARCHAR",
    # Performance alerts: the day's leads as JSON (`perf_pipeline.alerts.root_cause`); NULL else.
    "root_cause": "VARCHAR",
    # The lifecycle (`perf_pipeline.alerts.lifecycle`): NULL in the lake files, filled by the
    # `alerts` view from the alert's incident (its id, the latest breach's time, when it ended).
    "incident_id": "VARCHAR",
    "last_seen_at": "TIMESTAMPTZ",
    "resolved_at": "TIMESTAMPTZ",
}

INGEST_LOG = {
    "model_id": "VARCHAR",
    "date": "DATE",
    "source": "VARCHAR",
    "files": "BIGINT",
    "rows_read": "BIGINT",
    "accepted": "BIGINT",
    "quarantined": "BIGINT",
    "error": "VARCHAR",
    "extra_columns": "VARCHAR",
    # JSON list of {"path", "why"}: landing paths not read (links, misnamed or nested folders).
    "skipped": "VARCHAR",
}

# `labels.source` (and `review_labels.source`): where a label came from. Labels read from the
# landing zone are `log`; a person's label from a returned review file is `review`, kept in
# `review_labels` so a selected sample never enters the realized metrics (README "Review queue").
LABEL_SOURCE_LOG = "log"
LABEL_SOURCE_REVIEW = "review"

# The rows the review queue asked a person to label, per model and day (`perf_pipeline.review`).
REVIEW_SAMPLE = {
    "model_id": "VARCHAR",
    "date": "DATE",
    "prediction_id": "VARCHAR",
    "reason": "VARCHAR",
    "stratum": "VARCHAR",
    "rank": "BIGINT",
}

# Labels from returned review files: the labels' columns, `source = 'review'`, and the stratum
# the prediction was sampled in (NULL for a row the queue did not ask for).
REVIEW_LABELS = {
    "model_id": "VARCHAR",
    "date": "DATE",
    "prediction_id": "VARCHAR",
    "label": "VARCHAR",  # DOUBLE for regression models, as in `labels`
    "label_timestamp": "TIMESTAMPTZ",
    "arrival_date": "DATE",
    "prediction_date": "DATE",
    "source_file": "VARCHAR",
    "source": "VARCHAR",
    "stratum": "VARCHAR",
}

# The review-based metric on the uniform stratum only: accuracy (classifiers) or mae
# (regression), with its 95 % interval (`interval`: wilson or t).
REVIEW_ACCURACY = {
    "model_id": "VARCHAR",
    "date": "DATE",
    "metric": "VARCHAR",
    "value": "DOUBLE",
    "n": "BIGINT",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
    "interval": "VARCHAR",
    "uniform_sampled": "BIGINT",
}

# One row per incident: consecutive breaches of one (model, kind, metric_or_column), notified
# once, resolved after `lifecycle.resolve_after_days` clean judged days (`alerts.lifecycle`).
INCIDENTS = {
    "incident_id": "VARCHAR",
    "model_id": "VARCHAR",
    "kind": "VARCHAR",
    "metric_or_column": "VARCHAR",
    "severity": "VARCHAR",
    "status": "VARCHAR",
    "first_date": "DATE",
    "last_date": "DATE",
    "breach_days": "BIGINT",
    "first_seen_at": "TIMESTAMPTZ",
    "last_seen_at": "TIMESTAMPTZ",
    "resolved_on": "DATE",
    "resolved_at": "TIMESTAMPTZ",
    "resolved_by": "VARCHAR",
    "snoozed_until": "DATE",
    "note": "VARCHAR",
    "message": "VARCHAR",
}

# What people decided about an incident (`perf-pipeline alerts ack|snooze|resolve`): one row per
# incident, the latest decision (`alerts.state`).
ALERT_STATE = {
    "incident_id": "VARCHAR",
    "model_id": "VARCHAR",
    "kind": "VARCHAR",
    "metric_or_column": "VARCHAR",
    "status": "VARCHAR",
    "snoozed_until": "DATE",
    "resolved_through": "DATE",
    "note": "VARCHAR",
    "updated_at": "TIMESTAMPTZ",
}
