"""The alert severity vocabulary: `warning` < `critical`.

One scale for every alert writer, so a channel's `min_severity` means the same for a drift, a
regression or a data-quality failure. Defaults, when a threshold names none (`severity:` beside
its bounds): realized performance `critical` (a model measured worse on its final labels),
estimated performance and drift `warning` (forecasts and symptoms that may not hurt), and a
data-quality failure that blocks its day `critical` (the day has no numbers at all).

Partitions written before this scale called blocking and realized alerts `error`; `rank` reads
that word as `critical`, so old rows filter the same way until a backfill rewrites them.
"""

from __future__ import annotations

WARNING = "warning"
CRITICAL = "critical"
SEVERITIES = (WARNING, CRITICAL)
# Read, never written: the word earlier versions used for what is now `critical`.
LEGACY_CRITICAL = "error"

_RANK = {WARNING: 0, CRITICAL: 1, LEGACY_CRITICAL: 1}


def rank(severity: str) -> int:
    """Position on the scale (0 = warning); an unknown word ranks as a warning."""
    return _RANK.get(severity, 0)


def at_least(severity: str, minimum: str) -> bool:
    """Whether an alert of `severity` passes a channel's `min_severity`."""
    return rank(severity) >= rank(minimum)
