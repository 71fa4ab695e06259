"""Asset metadata built from what a stage returns: what a reader of the UI needs at a glance."""

from __future__ import annotations

import dagster as dg

from perf_pipeline.assets.common import day_list


def accounting_metadata(results: dict) -> dict[str, object]:
    """Rows read, accepted and quarantined over the run, and a table of the notable days."""
    read = sum(r.load.rows_read for r in results.values())
    accepted = sum(r.accepted for r in results.values())
    quarantined = sum(r.quarantined for r in results.values())
    failed = {d for d, r in results.items() if r.load.error}
    notable = [
        f"| {d} | {r.load.rows_read} | {r.accepted} | {r.quarantined} | {_reasons(r)} |"
        for d, r in sorted(results.items())
        if r.quarantined or r.load.error or r.load.rows_read == 0
    ]
    table = (
        "| day | read | accepted | quarantined | reasons / error |\n|---|---|---|---|---|\n"
        + "\n".join(notable)
    )
    return {
        "rows_read": read,
        "rows_accepted": accepted,
        "rows_quarantined": quarantined,
        "balanced": read == accepted + quarantined,
        "days": len(results),
        "failed_days": day_list(failed),
        "notable_days": dg.MetadataValue.md(table if notable else "every day clean"),
    }


def _reasons(result) -> str:
    reasons = ", ".join(f"{k}: {v}" for k, v in (result.reasons or {}).items())
    return reasons or (result.load.error or "")


def day_accounting(context: dg.AssetExecutionContext, results: dict) -> dict[str, object]:
    """Each run day's own rows read, accepted and quarantined, on its partition
    (`observations.record_day_facts`)."""
    import datetime as dt

    from perf_pipeline.assets.observations import record_day_facts

    days = {dt.date.fromisoformat(k) for k in context.partition_keys}
    facts = {
        day: {
            "rows_read": r.load.rows_read,
            "rows_accepted": r.accepted,
            "rows_quarantined": r.quarantined,
            "quarantine_share": r.quarantined / r.load.rows_read if r.load.rows_read else 0.0,
        }
        for day, r in results.items()
        if day in days
    }
    return record_day_facts(context, facts)
