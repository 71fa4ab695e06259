"""Each pipeline stage as one plain function over a connection, the data root, a model and days.

These functions know nothing of Dagster: the assets in `perf_pipeline.assets` call them and turn
what they return into metadata and check results, so a stage can be run and tested on its own.
"""
