"""Your own Dagster definitions: drop a Python file here and it is loaded automatically.

Assets, asset checks, jobs, schedules and sensors defined at module level in any file of this
folder join the code location (see README, "Adding an asset"). The models' own assets are not
here: they are generated from the models file (`perf_pipeline.components.MonitoredModel`).
"""
