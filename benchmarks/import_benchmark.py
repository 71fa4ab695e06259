"""How long the code location takes to load, in fresh processes (median of several).

Two figures: importing `perf_pipeline.definitions` (what `import` costs anyone), and importing it
and building the definitions from a models file (what `dagster dev` / `dg` pay per load). Also
lists the heavy libraries the load pulled in, which must be none.

    .venv/bin/python benchmarks/import_benchmark.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HEAVY = ("pandas", "scipy", "great_expectations", "evidently", "sklearn", "pyarrow")

PROBE = """
import json, sys, time
began = time.perf_counter()
import perf_pipeline.definitions as d
imported = time.perf_counter()
{build}
built = time.perf_counter()
print(json.dumps({{"import": imported - began, "load": built - began,
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def _run(build: bool, env: dict[str, str]) -> dict:
    code = PROBE.format(build="d.build_definitions()" if build else "", heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    from perf_pipeline.sample_data import MODELS_YAML

    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "models.yaml").write_text(MODELS_YAML, encoding="utf-8")
        env = {**os.environ, "PERF_PIPELINE_HOME": root}
        imports = [_run(False, env) for _ in range(args.runs)]
        loads = [_run(True, env) for _ in range(args.runs)]
    import_median = statistics.median(r["import"] for r in imports)
    load_median = statistics.median(r["load"] for r in loads)
    print(f"runs: {args.runs} fresh processes each")
    print(f"import perf_pipeline.definitions: median {import_median:.3f} s")
    print(f"import + build_definitions():     median {load_median:.3f} s")
    print(f"heavy modules loaded: {sorted({m for r in loads for m in r['heavy']}) or 'none'}")


if __name__ == "__main__":
    main()
