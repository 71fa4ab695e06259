"""The production model's own rows among a model's logged predictions.

A shadow deployment logs a candidate version's predictions beside production's, in the same
model's prediction logs: the release gate compares the two on the requests both scored. What
measures the production model (performance, drift, label lag, a trailing reference) must read
production's rows alone, or its numbers describe a mixture of two models. The models file names
the shadow versions (`shadow_versions`); this module is the one place that rule is applied.
"""

from __future__ import annotations

from perf_pipeline.config import ModelConfig
from perf_pipeline.lake import read_files_sql
from perf_pipeline.sql import quote_literal


def production_rows_sql(files: list[str], model: ModelConfig) -> str:
    """A FROM-clause relation of the rows of the prediction `files` that production served.

    Rows of a version listed in `model.shadow_versions` are left out; rows without a
    `model_version` are production's (a log that never names versions has no shadow). Without
    shadow versions it is the plain read of the files, so nothing changes for such a model.
    """
    source = read_files_sql(files)
    if not model.shadow_versions:
        return source
    listed = ", ".join(quote_literal(version) for version in model.shadow_versions)
    return (
        f"(SELECT * FROM {source} "
        f"WHERE NOT coalesce(CAST(model_version AS VARCHAR) IN ({listed}), false))"
    )
