"""`notifications:` entries of the shipped kinds: problems named by entry and key, and
`min_severity` through the real `deliver`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from channel_servers import MODELS, HttpRecorder, alert_row, data_root, http_server
from hypothesis import given
from hypothesis import strategies as st

from perf_pipeline.alerts.channel_filter import SEVERITIES, AlertFilter, severity_rank
from perf_pipeline.alerts.delivery import (
    channel_config_problems,
    configured_channels,
    deliver,
    pending_ids,
)

README = Path(__file__).parents[1] / "README.md"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{kind: webhook}", "notifications[1].url: missing; this channel needs it"),
        ("{kind: webhook, url: 'ftp://x'}", "notifications[1].url: expected an http:// or"),
        (
            "{kind: webhook, url: 'http://x', heders: {A: b}}",
            "notifications[1].heders: unknown option; did you mean 'headers'?",
        ),
        ("{kind: webhook, url: 'http://x', retries: -1}", "notifications[1].retries: expected a"),
        (
            "{kind: webhook, url: 'http://x', headers_env: {Authorization: 'my token'}}",
            "notifications[1].headers_env: expected names of environment variables",
        ),
        ("{kind: webhook, url: 'http://x', timeout_s: 0}", "notifications[1].timeout_s: expected"),
        ("{kind: slack, token_env: T}", "notifications[1].channel: missing"),
        ("{kind: slack, channel: '#a', token_env: 'a-b'}", "notifications[1].token_env: expected"),
        (
            "{kind: email, host: h, port: smtp, sender: a@b.c, to: [d@e.f]}",
            "notifications[1].port: expected a whole number from 1 to 65535, not 'smtp'",
        ),
        ("{kind: email, host: h, port: 70000, sender: a@b.c, to: [d@e.f]}", ".port: expected"),
        ("{kind: email, host: h, sender: a@b.c}", "notifications[1].to: missing"),
        ("{kind: email, host: h, sender: a@b.c, to: []}", "notifications[1].to: expected a"),
        ("{kind: email, host: h, sender: nobody, to: [d@e.f]}", ".sender: expected an e-mail"),
        (
            "{kind: email, host: h, sender: a@b.c, to: [d@e.f], user_env: U}",
            "notifications[1].password_env: give both user_env and password_env, or neither",
        ),
        (
            "{kind: email, host: h, sender: a@b.c, to: [d@e.f], starttls: 'yes'}",
            "notifications[1].starttls: expected true or false",
        ),
        (
            "{kind: webhook, url: 'http://x', min_severity: high}",
            "notifications[1].min_severity: expected one of warning, critical, not 'high'",
        ),
    ],
)
def test_a_bad_entry_names_its_key_and_the_problem(
    tmp_path: Path, entry: str, problem: str
) -> None:
    paths = data_root(tmp_path, f"  - {entry}\n")
    [found] = channel_config_problems(paths)
    assert found.startswith(f"{paths.models_file}: notifications[1].")
    assert problem in found


def test_the_readme_example_loads_with_every_shipped_kind(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Notification channels\n")
    section = text[start : text.index("\n## ", start + 1)]
    [example] = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    paths = data_root(tmp_path, "")
    paths.models_file.write_text(MODELS + example, encoding="utf-8")
    assert channel_config_problems(paths) == []
    kinds = [channel.kind for channel, _ in configured_channels(paths)]
    assert kinds == ["log", "webhook", "slack", "email"]


def test_min_severity_critical_keeps_warnings_from_that_channel_only(tmp_path: Path) -> None:
    warning = alert_row(metric="recall", severity="warning")
    critical = alert_row(metric="roc_auc", severity="critical")
    legacy = alert_row(metric="precision", severity="error")  # written before `critical`
    with http_server(HttpRecorder()) as pager, http_server(HttpRecorder()) as feed:
        paths = data_root(
            tmp_path,
            f"  - {{kind: webhook, name: pager, url: '{pager.url}', min_severity: critical}}\n"
            f"  - {{kind: webhook, name: feed, url: '{feed.url}'}}\n",
        )
        report = deliver(paths, [warning, critical, legacy])
        again = deliver(paths, [warning, critical, legacy])

    def metrics(server: HttpRecorder) -> list[str]:
        return sorted(r.json()["alert"]["metric_or_column"] for r in server.received)

    assert metrics(pager) == ["precision", "roc_auc"]
    assert metrics(feed) == ["precision", "recall", "roc_auc"]
    assert sorted(report.sent["pager"]) == sorted([critical["alert_id"], legacy["alert_id"]])
    assert again.sent == {} and again.failed == {}
    # The filtered warning is not owed to the pager: nothing stays pending.
    assert pending_ids(paths, [warning, critical, legacy]) == []


@given(
    alert_severity=st.sampled_from([*SEVERITIES, "error", "info", "", None]),
    minimum=st.sampled_from(SEVERITIES),
    models=st.none() | st.frozensets(st.sampled_from(["fraud", "demand"])),
    model=st.sampled_from(["fraud", "demand"]),
)
def test_the_filter_serves_an_alert_exactly_when_model_and_severity_qualify(
    alert_severity: str | None, minimum: str, models: frozenset[str] | None, model: str
) -> None:
    wanted = AlertFilter(models, minimum)
    alert = {"model_id": model, "severity": alert_severity}
    model_ok = models is None or model in models
    # Unknown or missing severities rank as critical: never held back for being unreadable.
    rank = {"warning": 0}.get(alert_severity or "", 1)
    assert wanted(alert) == (model_ok and rank >= SEVERITIES.index(minimum))
    assert severity_rank(alert_severity) == rank
    assert wanted(model) == model_ok  # a bare model id: the model only
    assert wanted({"model_id": model}) == model_ok  # no severity column: served
