"""How long the code location takes to load, in fresh processes (median of several).

Two figures: importing `perf_pipeline.definitions` (what `import` costs anyone), and importing it
and building the definitions of a data root (what `dagster dev` / `dg` pay per load; the shipped
`data/` root unless `--data-root` says otherwise). Also lists the heavy libraries the load pulled
in, which must be none.

`--compare DIR` times another checkout of the project too (for example `git archive <commit>`
unpacked in DIR, imported through `PYTHONPATH`), alternating the two run by run, so a before /
after comparison shares the machine's state instead of depending on when each was taken.

    .venv/bin/python benchmarks/import_benchmark.py [--runs 15] [--compare /tmp/before]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "pyarrow", "numpy", "scipy", "great_expectations", "evidently", "sklearn")

PROBE = """
import json, sys, time
began = time.perf_counter()
import perf_pipeline.definitions as d
imported = time.perf_counter()
{build}
built = time.perf_counter()
print(json.dumps({{"import": imported - began, "load": built - began,
                  "origin": d.__file__,
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def _run(build: bool, env: dict[str, str], source: Path) -> dict:
    """One fresh interpreter, started in `source` (with `-c` the working directory comes first
    on `sys.path`, so that is the checkout it imports)."""
    code = PROBE.format(build="d.build_definitions()" if build else "", heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _environment(data_root: Path, source: Path) -> dict[str, str]:
    """The probe's environment: the data root, and the checkout to import first on
    `PYTHONPATH`, ahead of the editable install of this one."""
    return {**os.environ, "PERF_PIPELINE_HOME": str(data_root), "PYTHONPATH": str(source)}


def _summary(label: str, imports: list[dict], loads: list[dict]) -> None:
    origin = Path(loads[0]["origin"]).parent.parent
    heavy = sorted({m for r in loads for m in r["heavy"]}) or "none"
    imported = [r["import"] for r in imports]
    loaded = [r["load"] for r in loads]
    print(f"{label} ({origin}):")
    print(f"  import perf_pipeline.definitions: median {statistics.median(imported):.3f} s")
    print(
        f"  import + build_definitions():     median {statistics.median(loaded):.3f} s "
        f"(min {min(loaded):.3f}, max {max(loaded):.3f})"
    )
    print(f"  heavy modules loaded by the build: {heavy}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--data-root", type=Path, default=REPO / "data")
    parser.add_argument("--compare", type=Path, help="another checkout to time alternately")
    args = parser.parse_args()
    data_root = args.data_root.resolve()
    sources = {"this tree": REPO}
    if args.compare is not None:
        sources["compared"] = args.compare.resolve()
    envs = {label: _environment(data_root, source) for label, source in sources.items()}
    imports: dict[str, list[dict]] = {label: [] for label in sources}
    loads: dict[str, list[dict]] = {label: [] for label in sources}
    for _ in range(args.runs):
        for label, env in envs.items():
            imports[label].append(_run(False, env, sources[label]))
            loads[label].append(_run(True, env, sources[label]))
    print(f"data root: {data_root}; {args.runs} fresh processes per figure; nproc {os.cpu_count()}")
    for label in sources:
        _summary(label, imports[label], loads[label])


if __name__ == "__main__":
    main()
