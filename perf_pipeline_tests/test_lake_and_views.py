"""The Parquet lake, the views file over it, and the models file (DESIGN §2 and §3).

Partitions must be replaced atomically and never duplicated; the views file must stay cheap to
keep (rebuilt only when the set of tables changes) and must never lock out a reader.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from perf_pipeline.config import ModelsFileError, Task, load_models
from perf_pipeline.lake import connect, day_files, write_frame_partitions, write_partitions
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline.views import PUBLIC_TABLES, refresh_views

DAY1 = dt.date(2024, 3, 1)
DAY2 = dt.date(2024, 3, 2)
DAY3 = dt.date(2024, 3, 3)


def _relation(con: duckdb.DuckDBPyConnection, name: str, rows: list[tuple[dt.date, int]]) -> str:
    """A temp table `name(date, x)` holding `rows`."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (date DATE, x INTEGER)")
    if rows:
        con.executemany(f"INSERT INTO {name} VALUES (?, ?)", rows)
    return name


def _read(path: Path) -> list[tuple[Any, ...]]:
    """Rows of one Parquet file, in file order."""
    query = "SELECT * FROM read_parquet($p, hive_partitioning = false)"
    return duckdb.connect().execute(query, {"p": str(path)}).fetchall()


def _all_files(root: Path) -> list[str]:
    """Every file under `root`, hidden ones included, relative and sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _write_table(paths: DataPaths, table: str, model_id: str = "m", day: dt.date = DAY1) -> None:
    """One small partition of `table`, enough for it to count as having data."""
    con = connect()
    write_partitions(con, paths, table, model_id, _relation(con, "t", [(day, 1)]), [day])


# --- partitions ----------------------------------------------------------------------------


def test_write_partitions_writes_one_file_per_day_even_when_empty(tmp_path: Path) -> None:
    """A day with no rows still gets a file: that empty file is what erases an older run."""
    paths, con = DataPaths(tmp_path), connect()
    relation = _relation(con, "rows", [(DAY1, 1), (DAY1, 2), (DAY3, 3)])

    counts = write_partitions(con, paths, "drift", "m", relation, [DAY1, DAY2, DAY3])

    assert counts == {DAY1: 2, DAY2: 0, DAY3: 1}
    assert _all_files(paths.warehouse) == [
        "drift/model=m/date=2024-03-01/data.parquet",
        "drift/model=m/date=2024-03-02/data.parquet",
        "drift/model=m/date=2024-03-03/data.parquet",
    ]
    base = paths.table_dir("drift") / "model=m"
    assert _read(base / "date=2024-03-01" / "data.parquet") == [(DAY1, 1), (DAY1, 2)]
    assert _read(base / "date=2024-03-02" / "data.parquet") == []
    assert _read(base / "date=2024-03-03" / "data.parquet") == [(DAY3, 3)]


def test_write_partitions_replaces_only_the_days_written(tmp_path: Path) -> None:
    """A re-run replaces its own days, never appends, and leaves other days alone."""
    paths, con = DataPaths(tmp_path), connect()
    write_partitions(
        con, paths, "drift", "m", _relation(con, "a", [(DAY1, 1), (DAY2, 2)]), [DAY1, DAY2]
    )

    counts = write_partitions(con, paths, "drift", "m", _relation(con, "b", [(DAY1, 9)]), [DAY1])

    assert counts == {DAY1: 1}
    base = paths.table_dir("drift") / "model=m"
    assert _read(base / "date=2024-03-01" / "data.parquet") == [(DAY1, 9)]
    assert _read(base / "date=2024-03-02" / "data.parquet") == [(DAY2, 2)]
    assert len(_all_files(paths.warehouse)) == 2


def test_files_of_different_writers_share_a_partition(tmp_path: Path) -> None:
    """Quarantine holds one file per writer: rewriting one must not touch the other."""
    paths, con = DataPaths(tmp_path), connect()
    relation = _relation(con, "rows", [(DAY1, 1)])
    write_partitions(con, paths, "quarantine", "m", relation, [DAY1], "predictions.parquet")
    write_partitions(con, paths, "quarantine", "m", relation, [DAY1], "labels.parquet")
    write_partitions(
        con, paths, "quarantine", "m", _relation(con, "none", []), [DAY1], "labels.parquet"
    )

    folder = paths.partition_dir("quarantine", "m", DAY1)
    assert _read(folder / "predictions.parquet") == [(DAY1, 1)]
    assert _read(folder / "labels.parquet") == []
    assert day_files(paths, "quarantine", "m", [DAY1, DAY2]) == [
        str(folder / "labels.parquet"),
        str(folder / "predictions.parquet"),
    ]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """A write that dies half way must leave the previous partition whole and nothing else."""
    paths, con = DataPaths(tmp_path), connect()
    write_partitions(con, paths, "drift", "m", _relation(con, "good", [(DAY1, 1)]), [DAY1])
    con.execute(
        "CREATE TEMP VIEW broken AS "
        "SELECT DATE '2024-03-01' AS date, CAST(error('disk on fire') AS INTEGER) AS x"
    )

    with pytest.raises(duckdb.Error, match="disk on fire"):
        write_partitions(con, paths, "drift", "m", "broken", [DAY1])

    assert _all_files(paths.warehouse) == ["drift/model=m/date=2024-03-01/data.parquet"]
    assert _read(paths.partition_dir("drift", "m", DAY1) / "data.parquet") == [(DAY1, 1)]


def test_write_frame_partitions_casts_to_the_declared_schema(tmp_path: Path) -> None:
    """Every day's file has the declared types, even when pandas saw only nulls or no rows."""
    paths, con = DataPaths(tmp_path), connect()
    schema = {"model_id": "VARCHAR", "date": "DATE", "n": "BIGINT", "note": "VARCHAR"}
    frame = pd.DataFrame({"date": [DAY1], "model_id": ["m"], "n": [3.0], "note": [None]})

    counts = write_frame_partitions(con, paths, "ingest_log", "m", frame, schema, [DAY1, DAY2])

    assert counts == {DAY1: 1, DAY2: 0}
    for day in (DAY1, DAY2):
        path = paths.partition_dir("ingest_log", "m", day) / "data.parquet"
        described = duckdb.connect().execute(
            "DESCRIBE SELECT * FROM read_parquet($p, hive_partitioning = false)", {"p": str(path)}
        )
        assert [(name, kind) for name, kind, *_ in described.fetchall()] == list(schema.items())
    first = paths.partition_dir("ingest_log", "m", DAY1) / "data.parquet"
    assert _read(first) == [("m", DAY1, 3, None)]


def test_day_files_lists_only_existing_partitions(tmp_path: Path) -> None:
    """Missing days are absent rather than an error, so callers can ask for any range."""
    paths = DataPaths(tmp_path)
    _write_table(paths, "drift", day=DAY1)
    _write_table(paths, "drift", day=DAY3)
    _write_table(paths, "drift", model_id="other", day=DAY2)

    files = day_files(paths, "drift", "m", [DAY1, DAY2, DAY3])

    base = paths.table_dir("drift") / "model=m"
    assert files == [
        str(base / "date=2024-03-01" / "data.parquet"),
        str(base / "date=2024-03-03" / "data.parquet"),
    ]
    assert day_files(paths, "drift", "nobody", [DAY1]) == []


# --- views ---------------------------------------------------------------------------------


def _views(paths: DataPaths) -> set[str]:
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        return {
            name
            for (name,) in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }


def test_refresh_views_rebuilds_only_when_the_set_of_tables_changes(tmp_path: Path) -> None:
    """Rebuilding on every run would fight readers for the file; new days need no rebuild."""
    paths = DataPaths(tmp_path)
    _write_table(paths, "predictions", day=DAY1)

    assert refresh_views(paths) is True
    assert _views(paths) == {"predictions"}
    before = paths.views_db.stat()

    assert refresh_views(paths) is False
    _write_table(paths, "predictions", day=DAY2)
    assert refresh_views(paths) is False
    after = paths.views_db.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM predictions").fetchall() == [(2,)]

    _write_table(paths, "quarantine", day=DAY1)
    _write_table(paths, "not_public", day=DAY1)
    assert refresh_views(paths) is True
    assert _views(paths) == {"predictions", "quarantine"}
    assert refresh_views(paths) is False
    files = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert files == ["warehouse.duckdb", "warehouse.duckdb.tables"]


def test_optional_feature_tables_get_a_view_once_they_have_data(tmp_path: Path) -> None:
    """The review queue's and the release gate's tables are queryable in the warehouse as soon
    as a model uses the feature, and absent (not empty, not failing) before."""
    paths = DataPaths(tmp_path)
    _write_table(paths, "predictions", day=DAY1)
    refresh_views(paths)
    assert _views(paths) == {"predictions"}
    _write_table(paths, "review_accuracy", day=DAY1)
    _write_table(paths, "gate_decisions", day=DAY2)
    assert refresh_views(paths) is True
    assert _views(paths) == {"predictions", "review_accuracy", "gate_decisions"}
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM gate_decisions").fetchall() == [(1,)]


def test_views_cover_every_public_table_with_data(tmp_path: Path) -> None:
    """Each public table becomes a view over all its models and days."""
    paths = DataPaths(tmp_path)
    for table in PUBLIC_TABLES:
        if table != "labels":
            _write_table(paths, table, model_id="a")
            _write_table(paths, table, model_id="b", day=DAY2)

    refresh_views(paths)

    assert _views(paths) == set(PUBLIC_TABLES) - {"labels"}
    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        assert con.execute("SELECT date, x FROM alerts ORDER BY date").fetchall() == [
            (DAY1, 1),
            (DAY2, 1),
        ]


def _write_labels(paths: DataPaths, arrival: dt.date, rows: list[tuple[Any, ...]]) -> None:
    """Stored labels of one arrival day, in the shape the labels ingest writes."""
    con = connect()
    con.execute(
        "CREATE TEMP TABLE l (model_id VARCHAR, prediction_id VARCHAR, label VARCHAR, "
        "label_timestamp TIMESTAMPTZ, prediction_date DATE)"
    )
    con.executemany("INSERT INTO l VALUES (?, ?, ?, ?, ?)", rows)
    day = f"DATE '{arrival.isoformat()}'"
    con.execute(
        f"CREATE TEMP TABLE stored AS SELECT model_id, {day} AS date, prediction_id, label, "
        f"label_timestamp, {day} AS arrival_date, prediction_date, 'f.csv' AS source_file FROM l"
    )
    for model_id in sorted({r[0] for r in rows}):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE one AS SELECT * FROM stored WHERE model_id = ?",
            [model_id],
        )
        write_partitions(con, paths, "labels", model_id, "one", [arrival])


def test_labels_view_keeps_the_latest_label_per_prediction(tmp_path: Path) -> None:
    """Labels are stored per arrival day; the public table has one, the latest, per prediction."""
    paths = DataPaths(tmp_path)
    utc = dt.UTC
    _write_labels(
        paths,
        DAY2,
        [
            ("m", "p1", "0", dt.datetime(2024, 3, 2, 9, tzinfo=utc), DAY1),
            ("m", "p2", "1", None, DAY1),
            ("other", "p1", "0", dt.datetime(2024, 3, 2, 9, tzinfo=utc), DAY1),
        ],
    )
    _write_labels(paths, DAY3, [("m", "p1", "1", dt.datetime(2024, 3, 3, 9, tzinfo=utc), DAY1)])

    refresh_views(paths)

    with duckdb.connect(str(paths.views_db), read_only=True) as con:
        rows = con.execute(
            "SELECT model_id, prediction_id, label, arrival_date, prediction_date FROM labels "
            "ORDER BY ALL"
        ).fetchall()
    assert rows == [
        ("m", "p1", "1", DAY3, DAY1),
        ("m", "p2", "1", DAY2, DAY1),
        ("other", "p1", "0", DAY2, DAY1),
    ]


def test_reader_opened_before_a_refresh_keeps_working(tmp_path: Path) -> None:
    """A user's open connection must neither block the rebuild nor break because of it."""
    paths = DataPaths(tmp_path)
    _write_table(paths, "predictions")
    refresh_views(paths)
    reader = duckdb.connect(str(paths.views_db), read_only=True)
    try:
        assert reader.execute("SELECT count(*) FROM predictions").fetchall() == [(1,)]
        _write_table(paths, "alerts")

        assert refresh_views(paths) is True

        assert reader.execute("SELECT count(*) FROM predictions").fetchall() == [(1,)]
    finally:
        reader.close()
    assert _views(paths) == {"predictions", "alerts"}


READER_SCRIPT = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("SELECT count(*) FROM predictions").fetchall()[0][0], flush=True)
sys.stdin.readline()
print(con.execute("SELECT count(*) FROM predictions").fetchall()[0][0], flush=True)
"""


def test_reader_in_another_process_does_not_block_a_rebuild(tmp_path: Path) -> None:
    """The usual case: a user's notebook holds the views file open while a run rebuilds it."""
    paths = DataPaths(tmp_path)
    _write_table(paths, "predictions")
    refresh_views(paths)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER_SCRIPT, str(paths.views_db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().strip() == "1"
        _write_table(paths, "alerts")

        assert refresh_views(paths) is True
        assert refresh_views(paths) is False

        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "1"
        assert reader.wait(timeout=10) == 0
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert _views(paths) == {"predictions", "alerts"}


def test_refresh_is_a_no_op_while_a_reader_in_this_process_is_open(tmp_path: Path) -> None:
    """An open reader must not turn every later refresh into a rebuild."""
    paths = DataPaths(tmp_path)
    _write_table(paths, "predictions")
    refresh_views(paths)
    reader = duckdb.connect(str(paths.views_db), read_only=True)
    try:
        _write_table(paths, "alerts")
        assert refresh_views(paths) is True
        assert refresh_views(paths) is False
    finally:
        reader.close()


# --- models file ---------------------------------------------------------------------------

VALID_MODEL = """\
    task: binary_classification
    positive_class: 1
    features:
      numerical: [amount]
      categorical: [channel]
    segments: [channel]
    start_date: 2024-03-01
"""


def _models_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_models_keeps_the_file_order(tmp_path: Path) -> None:
    """The file is the registry: ids, tasks and dates come through as declared."""
    alpha = "  alpha:\n    task: regression\n    start_date: 2024-01-01\n"
    text = f"models:\n  zeta:\n{VALID_MODEL}{alpha}"
    models = load_models(_models_file(tmp_path, text))

    assert list(models) == ["zeta", "alpha"]
    assert models["zeta"].task is Task.BINARY_CLASSIFICATION
    assert models["zeta"].input_columns == ["amount", "channel"]
    assert models["alpha"].start_date == dt.date(2024, 1, 1)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (VALID_MODEL.replace("binary_classification", "clustering"), "task"),
        (VALID_MODEL + "    colour: blue\n", "colour"),
        (VALID_MODEL.replace("    start_date: 2024-03-01\n", ""), "start_date"),
        (VALID_MODEL.replace("[amount]", "[channel]"), "both numerical and categorical"),
    ],
    ids=["unknown_task", "extra_key", "missing_start_date", "feature_in_both_lists"],
)
def test_bad_model_entry_names_the_file_the_model_and_the_field(
    tmp_path: Path, body: str, problem: str
) -> None:
    """A typo must point at the file, the model and the field, not surface later as a KeyError."""
    path = _models_file(tmp_path, f"models:\n  good:\n{VALID_MODEL}  car_loan:\n{body}")

    with pytest.raises(ModelsFileError) as info:
        load_models(path)

    message = str(info.value)
    assert message.startswith(f"{path}: model 'car_loan': ")
    assert problem in message


def _ranking_model(k: str | None) -> str:
    """A ranking model entry with `k: <k>` (None: no `k` line at all)."""
    k_line = "" if k is None else f"    k: {k}\n"
    return f"    task: ranking\n{k_line}    start_date: 2024-03-01\n"


@pytest.mark.parametrize(
    ("k", "cutoffs"),
    [("10", (10,)), ("[10]", (10,)), ("[20, 5, 10]", (5, 10, 20))],
    ids=["one_int", "one_element_list", "unsorted_list"],
)
def test_ranking_cutoffs_are_one_int_or_a_list(
    tmp_path: Path, k: str, cutoffs: tuple[int, ...]
) -> None:
    """`k: 10` keeps working as it always has; a list asks for every cutoff, in order."""
    path = _models_file(tmp_path, f"models:\n  feed:\n{_ranking_model(k)}")

    assert load_models(path)["feed"].k == cutoffs


@pytest.mark.parametrize(
    ("k", "problem"),
    [
        (None, "ranking needs 'k'"),
        ("0", "'k' cutoffs must be positive integers, not [0]"),
        ("[5, -1]", "'k' cutoffs must be positive integers, not [-1]"),
        ("[]", "'k' needs at least one cutoff"),
        ("[5, 10, 5]", "'k' lists cutoffs more than once: [5]"),
        ("'10'", "'k' cutoffs must be positive integers, not ['10']"),
        ("[5, 2.5]", "'k' cutoffs must be positive integers, not [2.5]"),
        ("true", "'k' cutoffs must be positive integers, not [True]"),
    ],
    ids=["missing", "zero", "negative", "empty", "duplicate", "text", "fraction", "boolean"],
)
def test_bad_ranking_cutoffs_name_the_file_the_model_and_the_field(
    tmp_path: Path, k: str | None, problem: str
) -> None:
    """A bad cutoff fails when the file is read, not as a broken query at the first run."""
    good = _ranking_model("10")
    path = _models_file(tmp_path, f"models:\n  good:\n{good}  feed:\n{_ranking_model(k)}")

    with pytest.raises(ModelsFileError) as info:
        load_models(path)

    message = str(info.value)
    assert message.startswith(f"{path}: model 'feed': ")
    assert problem in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "models file not found"),
        ("models: [a, b]\n", "expected a top-level 'models:' mapping"),
        ("models:\n  a: {task: [\n", "not valid YAML"),
        ("models:\n  a: just-a-string\n", "model 'a'"),
    ],
    ids=["missing_file", "not_a_mapping", "broken_yaml", "entry_not_a_mapping"],
)
def test_unusable_models_file_names_the_file(
    tmp_path: Path, text: str | None, problem: str
) -> None:
    """Whatever is wrong with the file, the message starts with its path."""
    path = tmp_path / "models.yaml" if text is None else _models_file(tmp_path, text)

    with pytest.raises(ModelsFileError) as info:
        load_models(path)

    assert str(info.value).startswith(f"{path}: ")
    assert problem in str(info.value)


def test_asset_connections_spill_under_the_data_root(tmp_path: Path) -> None:
    """Data beyond the memory limit goes to `<root>/.duckdb_tmp`, not to the working directory
    and not past the limit."""
    storage = PipelineStorage(data_root=str(tmp_path), duckdb_memory_limit="64MB")
    con = storage.connect()
    spill = tmp_path / ".duckdb_tmp"
    assert con.execute("SELECT current_setting('temp_directory')").fetchall() == [(str(spill),)]
    con.execute("CREATE TEMP TABLE big AS SELECT range AS i, random() AS r FROM range(20000000)")
    files = [
        Path(row[0]) for row in con.execute("SELECT path FROM duckdb_temporary_files()").fetchall()
    ]
    assert files and all(f.parent == spill for f in files)
    assert con.execute("SELECT count(*) FROM big").fetchall() == [(20_000_000,)]
