"""The models file (`<data root>/models.yaml`): the one place a user declares what to monitor.

`model` holds the shape of an entry, `rules` what ties its settings to the code they drive,
`loading` reads the file and reports every problem of it in one message.
"""

from perf_pipeline.config.loading import (
    ModelsFileError,
    format_problem,
    key_path,
    load_models,
    load_models_with_warnings,
    read_models_file,
)
from perf_pipeline.config.model import (
    MODEL_ID_PATTERN,
    CustomExpectation,
    DriftSettings,
    Features,
    MetricThreshold,
    ModelConfig,
    QualitySettings,
    Reference,
    Severity,
    Task,
    canonical_class_text,
)

__all__ = [
    "MODEL_ID_PATTERN",
    "CustomExpectation",
    "DriftSettings",
    "Features",
    "MetricThreshold",
    "ModelConfig",
    "ModelsFileError",
    "QualitySettings",
    "Reference",
    "Severity",
    "Task",
    "canonical_class_text",
    "format_problem",
    "key_path",
    "load_models",
    "load_models_with_warnings",
    "read_models_file",
]
