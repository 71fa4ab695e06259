"""Whether a model's stored reference is current: what it was built from, as one hash.

The reference (the typed copy of the landing reference files, its metrics and the estimator
fitted on it) changes only when its input files, the model's settings or the code that builds it
change. Rebuilding it on every daily run re-reads and re-types the whole reference set (seconds
for a million rows) and rewrites files that every other stage reads, so the stage records the
hash of what it was built from (`inputs.sha256` beside the stored reference) and the daily run
rebuilds it only when that hash no longer matches, or when something it wrote is gone.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from perf_pipeline.config import ModelConfig
from perf_pipeline.ingest.listing import landing_files
from perf_pipeline.object_store import commit, staging_path
from perf_pipeline.paths import DataPaths

# Raise whenever the code that turns the landing reference into the stored one changes what it
# writes (the reference's typing, its metrics, the estimator fitted on it): every model's
# reference is rebuilt on its next run. It is also the asset's Dagster `code_version`.
REFERENCE_CODE_VERSION = "1"
MARKER_NAME = "inputs.sha256"
# What the stage writes; if any is missing the stored reference is not trusted.
_OUTPUT_TABLES = ("reference", "reference_performance")
_BLOCK = 1 << 20


def _marker(paths: DataPaths, model_id: str) -> Path:
    return paths.partition_dir("reference", model_id, None) / MARKER_NAME


def reference_inputs_hash(paths: DataPaths, model: ModelConfig) -> str:
    """sha256 over the code version, the model's settings and every landing reference file's
    name and bytes: equal hashes mean the stored reference would be rebuilt identically."""
    digest = hashlib.sha256()
    digest.update(f"code={REFERENCE_CODE_VERSION}\n".encode())
    digest.update(model.model_dump_json().encode())
    folder = paths.landing_reference(model.model_id)
    files = landing_files(folder, paths.landing) if folder.exists() else []
    for path in files:
        digest.update(f"\nfile={path.name}\n".encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
    return digest.hexdigest()


def stored_inputs_hash(paths: DataPaths, model_id: str) -> str | None:
    """The hash the stored reference was built from; None when any part of it is missing."""
    marker = _marker(paths, model_id)
    for table in _OUTPUT_TABLES:
        if not (paths.partition_dir(table, model_id, None) / "data.parquet").exists():
            return None
    try:
        return marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def record_inputs_hash(paths: DataPaths, model_id: str, inputs_hash: str) -> None:
    """Written last, after everything the stage wrote, and atomically: a run killed mid-way
    leaves the old hash (or none), so the next run rebuilds rather than trusts a half build."""
    marker = _marker(paths, model_id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(marker)
    try:
        tmp.write_text(inputs_hash, encoding="utf-8")
        commit(tmp, marker)
    finally:
        tmp.unlink(missing_ok=True)
