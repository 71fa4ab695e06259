"""`perf-pipeline sql "<query>"`: query the public tables' views, whatever the data root.

The views in `warehouse.duckdb` read the lake's Parquet files; when the data root is on object
storage they read `s3://` paths, which DuckDB can open only through the registered S3 file
system (`perf_pipeline.object_store`). This command opens the views file read-only with that
file system registered, so one line answers a question on a laptop and on a bucket alike. The
same in Python:

    con = duckdb.connect(str(paths.views_db), read_only=True)
    perf_pipeline.object_store.register_on(con)
"""

from __future__ import annotations

import argparse
import csv
import sys

from perf_pipeline.paths import DataPaths

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    sql = sub.add_parser("sql", help="run a query on the public tables (the warehouse views)")
    sql.add_argument("query", help='for example "SELECT * FROM alerts LIMIT 10"')
    sql.add_argument("--csv", action="store_true", help="print CSV (header first), not a table")


def run(args: argparse.Namespace, paths: DataPaths) -> int:
    """Print the query's rows; exit 2 with the reason when there is no views file or DuckDB
    refuses the query."""
    import duckdb

    from perf_pipeline.object_store import register_on

    if not paths.views_db.exists():
        print(f"{paths.views_db}: no views file yet; run a backfill first", file=sys.stderr)
        return 2
    with register_on(duckdb.connect(paths.for_duckdb(paths.views_db), read_only=True)) as con:
        con.execute("SET TimeZone = 'UTC'")
        try:
            relation = con.sql(args.query)
        except duckdb.Error as error:
            print(f"query failed: {error}", file=sys.stderr)
            return 2
        if relation is None:
            return 0
        if args.csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(relation.columns)
            writer.writerows(relation.fetchall())
        else:
            relation.show(max_rows=200)
    return 0
