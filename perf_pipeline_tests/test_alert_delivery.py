"""Alerts reach every channel exactly once: overlapping notifiers, channels that are down.

The README's channel recipe is executed from README.md and served by a real HTTP server on
127.0.0.1 that records what it receives.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from perf_pipeline.alerts.channels import CHANNEL_KINDS
from perf_pipeline.alerts.delivery import (
    channel_config_problems,
    configured_channels,
    deliver,
    ledger_path,
    pending_ids,
)
from perf_pipeline.alerts.notify import load_alerts, notify_alerts
from perf_pipeline.alerts.records import Alert, write_alerts
from perf_pipeline.lake import connect
from perf_pipeline.paths import DataPaths
from perf_pipeline.resources import PipelineStorage
from perf_pipeline_tests.channel_servers import DAY, MODELS, HttpRecorder, free_port, http_server

README = Path(__file__).parents[1] / "README.md"
SECTION = "## Adding a notification channel"


def _alerts(paths: DataPaths) -> list[dict]:
    """Three alerts in the lake: two for `fraud`, one for `demand`."""
    raised = {
        "fraud": [
            Alert("fraud", DAY, "performance", "roc_auc", 0.6, 0.9, 0.8, "error", "roc_auc fell"),
            Alert("fraud", DAY, "drift", "__dataset__", 0.7, None, 0.5, "warning", "drifted"),
        ],
        "demand": [Alert("demand", DAY, "performance", "mae", 30, 10, 15, "error", "mae rose")],
    }
    for model_id, alerts in raised.items():
        write_alerts(connect(), paths, model_id, [DAY], alerts, "regressions")
    ids = [a.alert_id for alerts in raised.values() for a in alerts]
    return load_alerts(paths, ids)


def _root(tmp_path: Path, notifications: str = "") -> DataPaths:
    paths = DataPaths(tmp_path)
    paths.models_file.write_text(MODELS + notifications, encoding="utf-8")
    return paths


def _log_ids(paths: DataPaths) -> list[str]:
    return [json.loads(line)["alert_id"] for line in paths.alerts_log.read_text().splitlines()]


# A channel that takes its time, so two notifiers started together overlap inside `send`.
SLOW_NOTIFIER = """
import json, sys, time
from pathlib import Path
from perf_pipeline.alerts.channels import Channel, register_channel
from perf_pipeline.alerts.delivery import deliver
from perf_pipeline.alerts.notify import load_alerts
from perf_pipeline.paths import DataPaths

@register_channel
class SlowFile(Channel):
    kind = "slow_file"
    def send(self, alerts):
        time.sleep(0.3)
        with open(self.options["path"], "a") as handle:
            for alert in alerts:
                handle.write(alert["alert_id"] + "\\n")

paths = DataPaths(Path(sys.argv[1]))
alerts = load_alerts(paths, json.loads(sys.argv[2]))
go = Path(sys.argv[3])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
deliver(paths, alerts)
"""


def test_overlapping_notifiers_deliver_each_alert_once_per_channel(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.txt"
    paths = _root(tmp_path, f"notifications:\n  - {{kind: slow_file, path: '{inbox}'}}\n")
    alerts = _alerts(paths)
    ids = json.dumps([a["alert_id"] for a in alerts])
    for trial in range(2):
        go = tmp_path / f"go-{trial}"
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", SLOW_NOTIFIER, str(tmp_path), ids, str(go)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        # Start all three together, once each has imported everything and read its alerts.
        assert [r.stdout.readline().strip() for r in runs] == ["ready"] * 3  # type: ignore[union-attr]
        go.touch()
        assert [r.wait(timeout=60) for r in runs] == [0, 0, 0], f"trial {trial}"
    assert sorted(inbox.read_text().split()) == sorted(a["alert_id"] for a in alerts)
    assert sorted(_log_ids(paths)) == sorted(a["alert_id"] for a in alerts)


@pytest.fixture
def recorder() -> Iterator[HttpRecorder]:
    with http_server(HttpRecorder()) as server:
        yield server


def _received_ids(recorder: HttpRecorder) -> list[str]:
    """The alert ids of every batch the channel's endpoint received."""
    return [a["alert_id"] for request in recorder.received for a in request.json()["alerts"]]


@pytest.fixture
def readme_channel() -> Iterator[None]:
    """Register the README's channel class, exactly as the README writes it."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{SECTION}\n")
    end = text.find("\n## ", start + 1)
    snippets = re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)
    assert len(snippets) == 1, f"{SECTION!r} should hold exactly one Python snippet"
    yaml_snippets = re.findall(r"```yaml\n(.*?)```", text[start:end], flags=re.DOTALL)
    assert "kind: team_inbox" in yaml_snippets[0]
    exec(snippets[0], {"__name__": "readme_channel"})  # our own README: running it is the test
    yield
    CHANNEL_KINDS.pop("team_inbox", None)


def test_readme_channel_receives_new_alerts_once_for_its_models(
    tmp_path: Path, recorder: HttpRecorder, readme_channel: None
) -> None:
    url = f"{recorder.url}/alerts"
    paths = _root(
        tmp_path, f"notifications:\n  - {{kind: team_inbox, url: '{url}', models: [fraud]}}\n"
    )
    alerts = _alerts(paths)

    first = deliver(paths, alerts)
    again = deliver(paths, alerts)

    fraud = sorted(a["alert_id"] for a in alerts if a["model_id"] == "fraud")
    assert sorted(_received_ids(recorder)) == fraud
    assert recorder.received[0].json()["alerts"][0]["date"] == DAY.isoformat()
    assert sorted(first.sent["team_inbox"]) == fraud
    assert again.sent == {} and again.failed == {}
    assert pending_ids(paths, alerts) == []


def test_a_channel_that_is_down_keeps_its_alerts_pending_until_it_is_up(
    tmp_path: Path, recorder: HttpRecorder, readme_channel: None
) -> None:
    down_port = free_port()  # nothing listens there
    entry = "notifications:\n  - {{kind: team_inbox, name: inbox, url: 'http://127.0.0.1:{}/a'}}\n"
    paths = _root(tmp_path, entry.format(down_port))
    alerts = _alerts(paths)

    down = deliver(paths, alerts)
    assert "inbox" in down.failed and "Connection refused" in down.failed["inbox"]
    assert sorted(down.sent["log"]) == sorted(a["alert_id"] for a in alerts)
    assert pending_ids(paths, alerts) == sorted(a["alert_id"] for a in alerts)

    paths.models_file.write_text(MODELS + entry.format(recorder.port), encoding="utf-8")
    up = deliver(paths, alerts)
    deliver(paths, alerts)

    assert sorted(_received_ids(recorder)) == sorted(a["alert_id"] for a in alerts)
    assert "log" not in up.sent  # the log had them already
    ledger = [json.loads(line) for line in ledger_path(paths).read_text().splitlines()]
    assert {(r["channel"], r["status"]) for r in ledger} == {
        ("log", "delivered"),
        ("inbox", "failed"),
        ("inbox", "delivered"),
    }
    assert _log_ids(paths).count(alerts[0]["alert_id"]) == 1


def test_notify_job_fails_naming_the_channel_and_still_writes_the_log(tmp_path: Path) -> None:
    entry = "notifications:\n  - {kind: broken_channel}\n"
    paths = _root(tmp_path, entry)
    alerts = _alerts(paths)

    from perf_pipeline.alerts.channels import Channel, register_channel

    @register_channel
    class BrokenChannel(Channel):
        kind = "broken_channel"

        def send(self, alerts: list[dict]) -> None:
            raise ConnectionError("inbox refused the batch")

    try:
        result = notify_alerts.execute_in_process(
            run_config={
                "ops": {"send_alerts": {"config": {"alert_ids": [a["alert_id"] for a in alerts]}}}
            },
            resources={"storage": PipelineStorage(data_root=str(tmp_path))},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
    finally:
        CHANNEL_KINDS.pop("broken_channel", None)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "broken_channel: ConnectionError: inbox refused the batch" in str(
        failure.step_failure_data.error
    )
    assert sorted(_log_ids(paths)) == sorted(a["alert_id"] for a in alerts)


def test_unknown_channel_kind_names_the_entry_and_the_valid_kinds(tmp_path: Path) -> None:
    paths = _root(tmp_path, "notifications:\n  - {kind: carrier_pigeon}\n")
    [problem] = channel_config_problems(paths)
    assert problem.startswith(f"{paths.models_file}: notifications[1].kind: ")
    assert "carrier_pigeon" in problem and "'log'" in problem


def test_a_broken_entry_never_silences_the_log_and_keeps_its_alerts_pending(
    tmp_path: Path,
) -> None:
    """The models file may be edited after the code location loaded: the log still delivers."""
    paths = _root(tmp_path, "notifications:\n  - {kind: carrier_pigeon}\n")
    alerts = _alerts(paths)
    report = deliver(paths, alerts)
    assert sorted(report.sent["log"]) == sorted(a["alert_id"] for a in alerts)
    assert "carrier_pigeon" in report.failed["misconfigured_1"]
    assert pending_ids(paths, alerts) == sorted(a["alert_id"] for a in alerts)


def test_two_channels_of_one_kind_need_their_own_names(
    tmp_path: Path, readme_channel: None
) -> None:
    """Delivery is recorded per channel name: a name taken from the entry's position would
    move when entries are reordered, and one channel would inherit the other's ledger."""
    entries = "notifications:\n  - {kind: team_inbox, url: 'http://a/'}\n"
    paths = _root(tmp_path, entries + "  - {kind: team_inbox, url: 'http://b/'}\n")
    [problem] = channel_config_problems(paths)
    assert "channel names repeat (team_inbox)" in problem and "'name'" in problem
    named = entries + "  - {kind: team_inbox, name: backup, url: 'http://b/'}\n"
    paths.models_file.write_text(MODELS + named, encoding="utf-8")
    assert channel_config_problems(paths) == []
    assert [c.name for c, _ in configured_channels(paths)] == ["log", "team_inbox", "backup"]


def test_channel_options_are_checked_by_the_channel(tmp_path: Path, readme_channel: None) -> None:
    paths = _root(tmp_path, 'notifications:\n  - {kind: team_inbox, url: "ftp://nowhere"}\n')
    [problem] = channel_config_problems(paths)
    assert "notifications[1]: 'url' must be an http" in problem


def test_loading_the_definitions_fails_on_a_bad_channel_entry(tmp_path: Path) -> None:
    from perf_pipeline.config import ModelsFileError
    from perf_pipeline.definitions import build_definitions

    paths = _root(tmp_path, "notifications:\n  - {kind: carrier_pigeon}\n")
    with pytest.raises(ModelsFileError, match=r"notifications\[1\]\.kind: unknown channel kind"):
        build_definitions(paths.root)


def _sensor_tick(paths: DataPaths) -> dg.RunRequest | dg.SkipReason:
    from perf_pipeline.definitions import build_definitions
    from perf_pipeline.sensors import alerts_sensor

    defs = build_definitions(paths.root)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            repository_def=defs.get_repository_def(),
            resources={"storage": PipelineStorage(data_root=str(paths.root))},
        )
        return alerts_sensor(context)


def _age_the_ledger(paths: DataPaths, minutes: int) -> None:
    """Move every attempt `minutes` into the past, as if the sensor ticked later."""
    lines = [json.loads(line) for line in ledger_path(paths).read_text().splitlines()]
    for line in lines:
        at = dt.datetime.fromisoformat(line["at"]) - dt.timedelta(minutes=minutes)
        line["at"] = at.isoformat()
    ledger_path(paths).write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_alerts_sensor_retries_a_refused_batch_after_a_wait(
    tmp_path: Path, recorder: HttpRecorder, readme_channel: None
) -> None:
    entry = "notifications:\n  - {{kind: team_inbox, url: 'http://127.0.0.1:{}/a'}}\n"
    paths = _root(tmp_path, entry.format(free_port()))
    alerts = _alerts(paths)
    assert "team_inbox" in deliver(paths, alerts).failed

    assert isinstance(_sensor_tick(paths), dg.SkipReason)  # the failure is too recent
    _age_the_ledger(paths, minutes=6)
    request = _sensor_tick(paths)
    assert isinstance(request, dg.RunRequest)
    asked = request.run_config["ops"]["send_alerts"]["config"]["alert_ids"]
    assert sorted(asked) == sorted(a["alert_id"] for a in alerts)

    paths.models_file.write_text(MODELS + entry.format(recorder.port))
    deliver(paths, load_alerts(paths, asked))  # what the requested run does
    assert sorted(_received_ids(recorder)) == sorted(asked)
    _age_the_ledger(paths, minutes=6)
    assert isinstance(_sensor_tick(paths), dg.SkipReason)


def test_validate_names_an_unknown_channel_kind_and_accepts_a_registered_one(
    tmp_path: Path, readme_channel: None
) -> None:
    import io

    from perf_pipeline.validate import validate_command

    paths = _root(tmp_path, "notifications:\n  - {kind: pigeon}\n")
    out = io.StringIO()
    assert validate_command(paths, out) == 2
    assert f"{paths.models_file}: notifications[1].kind: unknown channel kind 'pigeon'" in (
        out.getvalue()
    )

    paths.models_file.write_text(
        MODELS + "notifications:\n  - {kind: team_inbox, url: 'http://127.0.0.1:1/a'}\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    assert validate_command(paths, out) == 0, out.getvalue()
    assert out.getvalue().startswith("OK: 2 models (fraud, demand)")
