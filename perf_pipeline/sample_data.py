"""A deterministic sample landing zone worth monitoring: two models, sixty days, real incidents.

`card_fraud` is an imbalanced binary classifier (about 5 % fraud) with a segment column
(`channel`) and a protected attribute (`age_band`); `store_demand` is a regression model. Labels
arrive 1 to 21 days after the prediction (most within a week), about 5 % never, about 1 % twice
(a correction: the later one wins); labels that would arrive after the last day are not there
yet, exactly as on the morning after the last day.

The incidents below are the contract the end-to-end test holds the pipeline to. Day numbers
count from the first day (day 0 = `SAMPLE_START`); the README lists the same table.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from perf_pipeline.object_store import is_remote, upload_folder
from perf_pipeline.paths import DataPaths

SAMPLE_START = dt.date(2026, 9, 1)
SAMPLE_DAYS = 60
SAMPLE_SEED = 20260901
ROWS_PER_DAY = 3000
REFERENCE_ROWS = 5000
# The shadow candidate (see `_shadow_rows`): card_fraud's `v4` scores every request of these days
# beside production's `v3`, its own rows ids `<production id>#v4` (the gate's pairing key).
SHADOW_VERSION = "v4"
SHADOW_DAYS = range(53, 60)
# The `fraud_decay` incident (see `_fraud_ring`): the days a card-testing ring is active and the
# share of each day's transactions it makes.
FRAUD_RING_DAYS = range(44, 53)
FRAUD_RING_SHARE = 0.6


def day(n: int) -> dt.date:
    return SAMPLE_START + dt.timedelta(days=n)


@dataclass(frozen=True)
class Incident:
    """One documented fault: which alert it must raise (if any) and on which days.

    `must_alert` are the days an alert of `alert_kind` has to be raised; `may_alert` widens the
    window where an alert is acceptable (a gradual drift crosses its threshold somewhere inside).
    `also_may` are other kinds the fault may raise inside its window (a fraud ring is also an
    input change, so `drift` may fire beside `performance`). `before_labels` is the kind that
    must fire on the `must_alert` days when the pipeline runs before the labels land
    (`estimated_performance`); once the days' labels are in and final they settle it, so a run
    with every label raises only the realized kind.
    """

    name: str
    model_id: str
    first_day: dt.date
    last_day: dt.date
    alert_kind: str | None
    must_alert: tuple[dt.date, ...]
    description: str
    quarantined: dict[str, int] | None = None
    also_may: tuple[str, ...] = ()
    before_labels: str | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every alert kind the incident may raise inside `may_alert` with its labels in."""
        return ((self.alert_kind,) if self.alert_kind else ()) + self.also_may

    @property
    def may_alert(self) -> tuple[dt.date, ...]:
        span = (self.last_day - self.first_day).days + 1
        return tuple(self.first_day + dt.timedelta(days=i) for i in range(span))


def _days(first: int, last: int) -> tuple[dt.date, ...]:
    return tuple(day(i) for i in range(first, last + 1))


INCIDENTS: tuple[Incident, ...] = (
    Incident(
        name="bad_rows",
        model_id="card_fraud",
        first_day=day(5),
        last_day=day(5),
        alert_kind=None,
        must_alert=(),
        description="6 scores outside [0, 1], 2 null prediction ids and 3 repeated ids: "
        "quarantined with their reasons, the rest of the day proceeds, no alert",
        quarantined={
            "score_out_of_range": 6,
            "null_prediction_id": 2,
            "duplicate_prediction_id": 3,
        },
    ),
    Incident(
        name="timestamps_outside_day",
        model_id="store_demand",
        first_day=day(8),
        last_day=day(8),
        alert_kind=None,
        must_alert=(),
        description="5 rows stamped on the previous day: quarantined, no alert",
        quarantined={"timestamp_outside_partition": 5},
    ),
    Incident(
        name="malformed_file",
        model_id="card_fraud",
        first_day=day(10),
        last_day=day(10),
        alert_kind="data_quality",
        must_alert=(day(10),),
        description="a second, truncated Parquet file beside the good one: the day fails at the "
        "gate with the file named",
    ),
    Incident(
        name="missing_day",
        model_id="store_demand",
        first_day=day(15),
        last_day=day(15),
        alert_kind="data_quality",
        must_alert=(day(15),),
        description="no prediction logs at all for the day (freshness)",
    ),
    Incident(
        name="gradual_drift",
        model_id="card_fraud",
        first_day=day(20),
        last_day=day(29),
        alert_kind="drift",
        must_alert=_days(24, 29),
        description="amount, distance_km and merchant_risk shift upward by 0.1 std more each "
        "day (a new merchant mix), moving the scores with them; back to normal on day 30",
    ),
    Incident(
        name="empty_day",
        model_id="store_demand",
        first_day=day(24),
        last_day=day(24),
        alert_kind="data_quality",
        must_alert=(day(24),),
        description="a CSV file with a header and no rows (volume)",
    ),
    Incident(
        name="demand_decay",
        model_id="store_demand",
        first_day=day(33),
        last_day=day(40),
        alert_kind="performance",
        must_alert=_days(33, 40),
        description="a price change the model has not seen: real demand falls 20 units below "
        "the forecast, so mae and rmse rise well past their thresholds",
    ),
    Incident(
        name="upstream_break",
        model_id="card_fraud",
        first_day=day(40),
        last_day=day(40),
        alert_kind="data_quality",
        must_alert=(day(40),),
        description="merchant_risk arrives null in every row: blocked at the gate",
    ),
    Incident(
        name="fraud_decay",
        model_id="card_fraud",
        first_day=day(44),
        last_day=day(52),
        alert_kind="performance",
        must_alert=_days(44, 52),
        description="a card-testing ring: about 60 % of each day's transactions come from it "
        "(small repeated amounts at high-risk merchants from prepaid cards), scored where the "
        "model is unsure, and its fraud follows what the features partly miss (taken-over older "
        "accounts, the card batch tested): roc_auc falls from about 0.88 to about 0.62, the "
        "estimate to about 0.77 before any label",
        also_may=("drift",),
        before_labels="estimated_performance",
    ),
)

MODELS_YAML = f"""\
# Models monitored by perf_pipeline. Adding a model is an entry here plus files under
# landing/predictions/model=<id>/date=<YYYY-MM-DD>/ (and labels/, reference/).
models:
  card_fraud:
    task: binary_classification
    positive_class: 1
    decision_threshold: 0.3
    features:
      numerical: [amount, account_age_days, merchant_risk, distance_km]
      categorical: [channel, card_type]
    segments: [channel]
    protected_attributes: [age_band]
    label_delay_days: 21
    start_date: {SAMPLE_START.isoformat()}
    reference: {{source: file}}
    min_labelled_rows: 300
    thresholds:
      roc_auc: {{min: 0.78, max_drop: 0.08}}
      drift_share: {{max: 0.5}}
    shadow_versions: [v4]                  # logged for the gate, not in the daily tables
    gate:                                  # perf-pipeline gate --model card_fraud --candidate v4
      metrics:
        roc_auc: {{max_worse: 0.005, confidence: 0.95}}
      max_segment_worse: 0.02
      fairness_gaps_not_wider: true
      max_score_drift: {{method: wasserstein, threshold: 0.5}}
      min_labelled_rows: 500
  store_demand:
    task: regression
    features:
      numerical: [temperature, price, store_size]
      categorical: [region, promo]
    segments: [region]
    label_delay_days: 14
    start_date: {SAMPLE_START.isoformat()}
    reference: {{source: file}}
    min_labelled_rows: 300
    thresholds:
      mae: {{max: 10.0, max_drop: 3.0}}
      rmse: {{max: 12.5}}
      drift_share: {{max: 0.5}}
"""


# ---------------------------------------------------------------------------- card_fraud


def _fraud_rows(
    rng: np.random.Generator, n: int, shift: float, ring_day: int | None = None
) -> pd.DataFrame:
    """n transactions scored by card_fraud's model, with their true labels.

    On a day of `FRAUD_RING_DAYS` (`ring_day`) a share of them is the card-testing ring's
    (`_fraud_ring`), drawn from the ring's own generator after `rng` drew the usual rows, so
    `rng` makes the same draws whatever the day and the rest of the sample stays as it is.
    """
    amount = rng.lognormal(3.5 + 0.9 * shift, 0.9, n)
    account_age = rng.gamma(2.0, 180.0, n)
    merchant_risk = np.clip(rng.beta(2, 5, n) + shift * 0.16, 0, 1)
    distance = rng.lognormal(2.0 + shift * 0.9, 0.9, n)
    channel = rng.choice(["web", "app", "pos"], n, p=[0.45, 0.35, 0.20])
    card_type = rng.choice(["debit", "credit", "prepaid"], n, p=[0.55, 0.38, 0.07])
    age_band = rng.choice(["18-25", "26-40", "41-60", "60+"], n, p=[0.18, 0.40, 0.30, 0.12])
    seen = _model_logit(amount, account_age, merchant_risk, distance, channel, card_type)
    # The model sees `seen` with estimation noise; the world adds what no feature captures.
    hidden = rng.normal(0, 0.3, n)
    true_logit = seen + hidden
    label = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    score = 1 / (1 + np.exp(-(seen + rng.normal(0, 0.35, n))))
    rows = pd.DataFrame(
        {
            "amount": amount.round(2),
            "account_age_days": account_age.round(0),
            "merchant_risk": merchant_risk.round(4),
            "distance_km": distance.round(2),
            "channel": channel,
            "card_type": card_type,
            "age_band": age_band,
            "score": score.round(6),
            "label": label,
        }
    )
    return rows if ring_day is None else _fraud_ring(rows, ring_day)


def _model_logit(
    amount: np.ndarray,
    account_age: np.ndarray,
    merchant_risk: np.ndarray,
    distance: np.ndarray,
    channel: np.ndarray,
    card_type: np.ndarray,
) -> np.ndarray:
    """What card_fraud's model makes of a transaction (its logit before estimation noise)."""
    linear = (
        0.75 * (np.log(amount) - 3.5) / 0.9
        + 3.2 * (merchant_risk - 0.29)
        - 0.5 * (account_age - 360) / 255
        + 0.45 * (np.log(distance) - 2.0) / 0.9
    )
    return (
        -4.8
        + 1.8 * linear
        + np.where(channel == "web", 0.4, 0.0)
        + np.where(card_type == "prepaid", 0.6, 0.0)
    )


def _fraud_ring(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """Day n of `fraud_decay`: a card-testing ring takes over `FRAUD_RING_SHARE` of the rows.

    Its transactions look alike (a few small repeated amounts, high-risk merchants, prepaid
    cards on the web, one narrow band of distances), so the unchanged model scores them near its
    decision threshold, where it is unsure: a covariate shift that confidence-based estimation
    sees (the estimated roc_auc falls). Which of them are fraud the features only partly say:
    the ring works through taken-over, established accounts, which the model reads as safer
    (older accounts score lower), and through the card batch it tests, which no feature holds.
    So the realized roc_auc falls further than the estimate. Its own generator: the sample's
    other draws are unchanged.
    """
    rng = np.random.default_rng([SAMPLE_SEED, 44, n])
    member = np.flatnonzero(rng.random(len(rows)) < FRAUD_RING_SHARE)
    k = len(member)
    ring = pd.DataFrame(
        {
            "amount": rng.choice([9.99, 10.0, 12.5], k),
            "account_age_days": rng.gamma(25.0, 10.0, k).round(0),  # mean 250, sd 50
            "merchant_risk": np.clip(rng.normal(0.82, 0.02, k), 0, 1).round(4),
            "distance_km": rng.lognormal(3.2, 0.1, k).round(2),
            "channel": rng.choice(["web", "app"], k, p=[0.95, 0.05]),
            "card_type": rng.choice(["debit", "credit", "prepaid"], k, p=[0.05, 0.05, 0.9]),
        }
    )
    seen = _model_logit(
        ring["amount"].to_numpy(),
        ring["account_age_days"].to_numpy(),
        ring["merchant_risk"].to_numpy(),
        ring["distance_km"].to_numpy(),
        ring["channel"].to_numpy(),
        ring["card_type"].to_numpy(),
    )
    ring["score"] = (1 / (1 + np.exp(-(seen + rng.normal(0, 0.35, k))))).round(6)
    # Standard deviations above the ring's mean account age: the older, the likelier taken over.
    established = (ring["account_age_days"].to_numpy() - 250.0) / 50.0
    fraud_logit = -2.2 + 2.0 * established + rng.normal(0, 0.5, k)
    ring["label"] = (rng.random(k) < 1 / (1 + np.exp(-fraud_logit))).astype(int)
    out = rows.copy()
    for column in ring.columns:
        out.loc[member, column] = ring[column].to_numpy()
    return out


def _fraud_shift(n: int) -> float:
    """Standard deviations of the gradual drift on day n (see the `gradual_drift` incident)."""
    return (n - 19) * 0.1 if 20 <= n <= 29 else 0.0


def _shadow_rows(production: pd.DataFrame, label: np.ndarray, n: int) -> pd.DataFrame:
    """card_fraud's shadow candidate `v4` on day n: the same requests re-scored by a model with
    a new signal on fraud (simulated from the outcome: better overall) that is noisy on the
    `pos` channel (worse there), so the release gate must fail it for that segment. Its own
    generator: the sample's other draws are unchanged."""
    rng = np.random.default_rng([SAMPLE_SEED, 4, n])
    linear = (
        0.75 * (np.log(production["amount"]) - 3.5) / 0.9
        + 3.2 * (production["merchant_risk"] - 0.29)
        - 0.5 * (production["account_age_days"] - 360) / 255
        + 0.45 * (np.log(production["distance_km"]) - 2.0) / 0.9
    ).to_numpy()
    pos = (production["channel"] == "pos").to_numpy()
    seen = (
        -4.8
        + 1.8 * linear
        + np.where(production["channel"] == "web", 0.4, 0.0)
        + np.where(production["card_type"] == "prepaid", 0.6, 0.0)
    )
    signal = np.where(pos, 0.0, 0.9 * label)
    noise = rng.normal(0, 1.0, len(production)) * np.where(pos, 1.6, 0.05)
    shadow = production.copy()
    shadow["score"] = (1 / (1 + np.exp(-(seen + signal + noise)))).round(6)
    shadow["prediction"] = (shadow["score"] >= 0.3).astype(int)
    shadow["prediction_id"] = shadow["prediction_id"] + f"#{SHADOW_VERSION}"
    shadow["model_version"] = SHADOW_VERSION
    return shadow


# -------------------------------------------------------------------------- store_demand


def _demand_rows(rng: np.random.Generator, n: int, decay: bool) -> pd.DataFrame:
    temperature = rng.normal(18, 7, n)
    price = rng.uniform(2.0, 9.0, n)
    store_size = rng.choice([400.0, 800.0, 1500.0, 3000.0], n)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.3, 0.25, 0.25, 0.2])
    promo = rng.choice(["yes", "no"], n, p=[0.2, 0.8])
    expected = (
        60
        + 1.2 * temperature
        - 4.0 * price
        + 0.02 * store_size
        + np.where(promo == "yes", 15.0, 0.0)
        + np.where(region == "south", 5.0, 0.0)
    )
    prediction = expected + rng.normal(0, 2.0, n)
    actual = expected + rng.normal(0, 7.0, n) - (20.0 if decay else 0.0)
    return pd.DataFrame(
        {
            "temperature": temperature.round(1),
            "price": price.round(2),
            "store_size": store_size,
            "region": region,
            "promo": promo,
            "prediction": prediction.round(3),
            "label": actual.round(3),
        }
    )


# --------------------------------------------------------------------------- the writer


def _stamp(rng: np.random.Generator, frame: pd.DataFrame, model_id: str, on: dt.date) -> None:
    start = pd.Timestamp(on, tz="UTC")
    seconds = np.sort(rng.integers(0, 86_400, len(frame)))
    frame.insert(0, "timestamp", start + pd.to_timedelta(seconds, unit="s"))
    ids = [f"{model_id[:2]}-{on:%Y%m%d}-{i:06d}" for i in range(len(frame))]
    frame.insert(0, "prediction_id", ids)
    frame.insert(2, "model_version", "v3" if model_id == "card_fraud" else "2026.08")


def _label_arrivals(
    rng: np.random.Generator, frame: pd.DataFrame, on: dt.date, last: dt.date
) -> list[tuple[dt.date, pd.DataFrame]]:
    """Split a day's labels by the day they arrive; labels due after `last` are not there yet."""
    n = len(frame)
    delay = 1 + np.minimum(20, np.floor(rng.exponential(4.0, n))).astype(int)
    never = rng.random(n) < 0.05
    twice = (rng.random(n) < 0.01) & ~never
    arrivals: dict[dt.date, list[pd.DataFrame]] = {}
    labelled = frame.loc[~never, ["prediction_id", "label"]].assign(delay=delay[~never])
    for d, group in labelled.groupby("delay"):
        arrives = on + dt.timedelta(days=int(d))
        arrivals.setdefault(arrives, []).append(group[["prediction_id", "label"]])
    # A first, wrong label that a later correction overrides (the last one wins).
    wrong = frame.loc[twice, ["prediction_id", "label"]].copy()
    if len(wrong):
        if np.issubdtype(wrong["label"].dtype, np.integer):
            wrong["label"] = 1 - wrong["label"]
        else:
            wrong["label"] = wrong["label"] + 50.0
        first = delay[twice] - 1
        for d, group in wrong.assign(first=first).groupby("first"):
            if d >= 1:
                arrives = on + dt.timedelta(days=int(d))
                arrivals.setdefault(arrives, []).append(group[["prediction_id", "label"]])
    out = []
    for arrives, parts in arrivals.items():
        if arrives <= last:
            part = pd.concat(parts, ignore_index=True)
            stamp = pd.Timestamp(arrives, tz="UTC") + pd.Timedelta(hours=6)
            part["label_timestamp"] = stamp
            # Corrections carry a later timestamp than the wrong label of the same day.
            part.loc[part.duplicated("prediction_id", keep="first"), "label_timestamp"] = (
                stamp + pd.Timedelta(hours=1)
            )
            out.append((arrives, part))
    return out


def _inject_bad_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """card_fraud day 5: the rows the `bad_rows` incident documents."""
    frame = frame.copy()
    frame.loc[[10, 20, 30], "score"] = 1.5
    frame.loc[[40, 50, 60], "score"] = -0.1
    frame.loc[[70, 80], "prediction_id"] = None
    duplicates = frame.iloc[[100, 200, 300]].copy()
    return pd.concat([frame, duplicates], ignore_index=True)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    if "timestamp" in out:
        out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False)


def _write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in frame.to_dict(orient="records"):
            clean = {
                k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()
            }
            handle.write(json.dumps(clean) + "\n")


def write_sample(root: Path, days: int = SAMPLE_DAYS, seed: int = SAMPLE_SEED) -> DataPaths:
    """Write the models file and the landing zone under `root` (overwriting the sample's files).

    An `s3://` root gets the very files a local root gets: written to a local folder first, then
    uploaded one object each (appending to an object would mean rewriting it per delivery).
    """
    if is_remote(root):
        with tempfile.TemporaryDirectory(prefix="perf_pipeline_sample_") as local:
            write_sample(Path(local), days, seed)
            upload_folder(Path(local), root)
        return DataPaths(root)
    paths = DataPaths(root)
    root.mkdir(parents=True, exist_ok=True)
    paths.models_file.write_text(MODELS_YAML, encoding="utf-8")
    rng = np.random.default_rng(seed)
    last = day(days - 1)

    fraud_ref = _fraud_rows(rng, REFERENCE_ROWS, 0.0)
    _stamp(rng, fraud_ref, "card_fraud", SAMPLE_START - dt.timedelta(days=30))
    fraud_ref["prediction"] = (fraud_ref["score"] >= 0.3).astype(int)
    _write_parquet(fraud_ref, paths.landing_reference("card_fraud") / "validation.parquet")
    demand_ref = _demand_rows(rng, REFERENCE_ROWS, decay=False)
    _stamp(rng, demand_ref, "store_demand", SAMPLE_START - dt.timedelta(days=30))
    _write_parquet(demand_ref, paths.landing_reference("store_demand") / "validation.parquet")

    for n in range(days):
        on = day(n)
        rows = ROWS_PER_DAY + int(rng.integers(-200, 200))
        fraud = _fraud_rows(rng, rows, _fraud_shift(n), n if n in FRAUD_RING_DAYS else None)
        _stamp(rng, fraud, "card_fraud", on)
        fraud["prediction"] = (fraud["score"] >= 0.3).astype(int)
        if n == 40:
            fraud["merchant_risk"] = np.nan
        labels = _label_arrivals(rng, fraud, on, last)
        logged = fraud.drop(columns="label")
        if n == 5:
            logged = _inject_bad_rows(logged)
        folder = paths.landing_day("predictions", "card_fraud", on)
        _write_parquet(logged, folder / "part-0.parquet")
        if n in SHADOW_DAYS:
            shadow = _shadow_rows(logged, fraud["label"].to_numpy(), n)
            _write_parquet(shadow, folder / "shadow-v4.parquet")
        if n == 10:
            good = (folder / "part-0.parquet").read_bytes()
            (folder / "part-1.parquet").write_bytes(good[: len(good) // 3])
        for arrives, part in labels:
            _append_jsonl(part, paths.landing_day("labels", "card_fraud", arrives) / "labels.jsonl")

        demand = _demand_rows(rng, rows, decay=33 <= n <= 40)
        _stamp(rng, demand, "store_demand", on)
        labels = _label_arrivals(rng, demand, on, last)
        logged = demand.drop(columns="label")
        if n == 8:
            logged.loc[:4, "timestamp"] = logged.loc[:4, "timestamp"] - pd.Timedelta(days=1)
        folder = paths.landing_day("predictions", "store_demand", on)
        if n == 15:
            continue  # missing day: no folder at all (its labels never come either)
        if n == 24:
            logged = logged.iloc[0:0]
        _write_csv(logged, folder / "predictions.csv")
        for arrives, part in labels:
            if n != 24:
                _append_parquet(part, paths.landing_day("labels", "store_demand", arrives))
    return paths


def _append_jsonl(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    tmp = path.with_suffix(".part")
    _write_jsonl(frame, tmp)
    path.write_text(existing + tmp.read_text(encoding="utf-8"), encoding="utf-8")
    tmp.unlink()


def _append_parquet(frame: pd.DataFrame, folder: Path) -> None:
    """Labels of several prediction days arrive on one day: one file per delivery."""
    index = len(list(folder.glob("*.parquet"))) if folder.exists() else 0
    _write_parquet(frame, folder / f"delivery-{index:03d}.parquet")


def sample_exists(root: Path) -> bool:
    paths = DataPaths(root)
    return paths.models_file.exists() and (paths.landing / "predictions").exists()
