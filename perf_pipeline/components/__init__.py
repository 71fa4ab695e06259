"""Dagster components of perf_pipeline (listed by `dg list components`)."""

from perf_pipeline.components.monitored_model import MonitoredModel

__all__ = ["MonitoredModel"]
