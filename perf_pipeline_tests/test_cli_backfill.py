"""`perf-pipeline backfill` tells a scheduler or CI job the truth through its exit code.

A backfill's Dagster runs succeed even when the gate blocked some of their days, so the command
reads the days' outcomes back and exits non-zero naming them; a range no model covers is not a
silent success either.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from landing_zone import write_binary_root

from perf_pipeline.cli import EXIT_FAILED_DAYS, EXIT_NOTHING_TO_RUN, main
from perf_pipeline.paths import DataPaths

START = dt.date(2026, 3, 1)
CLEAN, UNREADABLE = START, START + dt.timedelta(days=1)
MODEL = "cli_model"

MODELS_YAML = f"""
models:
  {MODEL}:
    task: binary_classification
    features:
      numerical: [amount]
    start_date: {START.isoformat()}
  later_model:
    task: regression
    features:
      numerical: [amount]
    start_date: 2030-01-01
"""


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataPaths:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    paths = write_binary_root(tmp_path / "root", MODELS_YAML, MODEL, [CLEAN, UNREADABLE])
    broken = paths.landing_day("predictions", MODEL, UNREADABLE) / "part-1.parquet"
    broken.write_bytes(b"PAR1 this is not a parquet file")
    return paths


def _backfill(paths: DataPaths, start: dt.date, end: dt.date, *models: str) -> int:
    extra = [a for m in models for a in ("--model", m)]
    argv = ["--home", str(paths.root), "backfill", "--start", str(start), "--end", str(end)]
    return main([*argv, *extra])


def test_a_blocked_day_makes_the_backfill_exit_non_zero_naming_it(
    data_root: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _backfill(data_root, CLEAN, UNREADABLE, MODEL)
    out = capsys.readouterr().out
    assert code == EXIT_FAILED_DAYS
    assert f"{MODEL} {UNREADABLE}:" in out
    assert "part-1.parquet" in out
    assert f"{MODEL} {CLEAN}:" not in out


def test_a_range_of_clean_days_exits_zero(
    data_root: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _backfill(data_root, CLEAN, CLEAN, MODEL) == 0
    assert "did not get through" not in capsys.readouterr().out


def test_a_model_starting_after_the_range_is_named_and_nothing_to_run_exits_2(
    data_root: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _backfill(data_root, CLEAN, CLEAN, "later_model")
    captured = capsys.readouterr()
    assert code == EXIT_NOTHING_TO_RUN
    assert "later_model: starts on 2030-01-01" in captured.out
    assert "No model has a day in this range" in captured.err


@pytest.mark.parametrize("command", [["backfill", "--start", "2026-03-01", "--end", "2026-03-01"]])
def test_a_broken_models_file_is_one_message_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "models.yaml").write_text(
        MODELS_YAML.replace(
            "    start_date: 2030-01-01", "    start_date: 2030-01-01\n    colour: x"
        ),
        encoding="utf-8",
    )
    assert main(["--home", str(root), *command]) == 2
    err = capsys.readouterr().err
    assert "models.later_model.colour: unknown key" in err
    assert "Traceback" not in err


def test_a_channel_that_refuses_its_alerts_makes_the_backfill_exit_1(
    data_root: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    """The alerts are recorded and the log has them; the refused channel is said, not a
    traceback, and the exit code tells the scheduler."""
    from perf_pipeline.alerts.channels import CHANNEL_KINDS, Channel, register_channel

    @register_channel
    class RefusingInbox(Channel):
        kind = "refusing_inbox"

        def send(self, alerts: list[dict]) -> None:
            raise ConnectionError("inbox is down")

    text = data_root.models_file.read_text(encoding="utf-8")
    data_root.models_file.write_text(text + "notifications:\n  - {kind: refusing_inbox}\n")
    try:
        code = _backfill(data_root, CLEAN, UNREADABLE, MODEL)
    finally:
        CHANNEL_KINDS.pop("refusing_inbox", None)
    captured = capsys.readouterr()
    assert code == EXIT_FAILED_DAYS
    assert "Notification failed" in captured.err and "inbox is down" in captured.err
    assert "Traceback" not in captured.err
    assert data_root.alerts_log.read_text().count('"kind": "data_quality"') >= 1
