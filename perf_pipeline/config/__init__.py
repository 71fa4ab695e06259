"""The models file (`<data root>/models.yaml`): the one place a user declares what to monitor."""

from perf_pipeline.config.model import (
    MODEL_ID_PATTERN,
    DriftSettings,
    Features,
    MetricThreshold,
    ModelConfig,
    ModelsFileError,
    QualitySettings,
    Reference,
    Severity,
    Task,
    canonical_class_text,
    load_models,
)

__all__ = [
    "MODEL_ID_PATTERN",
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
    "load_models",
]
