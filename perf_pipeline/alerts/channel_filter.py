"""Which alerts a channel wants: its models (`models:`) and its lowest severity (`min_severity:`).

Severities are ordered `warning` < `critical`. Alerts written before severities had these names
say `error` for what is now `critical`. A severity this module does not know (or an alert that
does not say) counts as critical: an alert nobody can rank is sent rather than silently held back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WARNING = "warning"
CRITICAL = "critical"
SEVERITIES = (WARNING, CRITICAL)  # lowest first
_RANK = {WARNING: 0, CRITICAL: 1, "error": 1}


def severity_rank(severity: object) -> int:
    """Position of `severity` in `SEVERITIES`; unknown or missing ranks as critical."""
    return _RANK.get(str(severity).lower(), _RANK[CRITICAL]) if severity else _RANK[CRITICAL]


@dataclass(frozen=True)
class AlertFilter:
    """The predicate `build_channel` returns beside a channel.

    Called with an alert (a row of the `alerts` table) it checks the model and the severity.
    Called with a bare model id (callers that hold no more than the id) it checks the model
    only; an alert dict without `severity` is likewise served, so nothing is ever dropped for
    want of a column.
    """

    models: frozenset[str] | None = None
    min_severity: str = WARNING

    def serves_model(self, model_id: object) -> bool:
        return self.models is None or model_id in self.models

    def __call__(self, alert: Mapping[str, Any] | str) -> bool:
        if isinstance(alert, str):
            return self.serves_model(alert)
        if not self.serves_model(alert.get("model_id")):
            return False
        if "severity" not in alert:
            return True
        return severity_rank(alert["severity"]) >= _RANK[self.min_severity]
