"""Performance estimation for days whose labels have not landed.

Classifiers: confidence-based performance estimation (CBPE), in `calibration` (the isotonic
calibration fitted on the reference, kept only where it helps), `sampling_error` (the intervals)
and `cbpe` (fitted once per reference, stored beside it, re-fitted when it changes); the
estimates themselves are registry entries (`estimate_sql` in `perf_pipeline.metrics.registry`).
Regression: direct loss estimation, in `dle`.

Submodules are imported where they are used, never from here.
"""
