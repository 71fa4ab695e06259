"""The review queue: predictions a person is asked to label, and what their labels say.

- `budget`: how a day's `review.per_day` rows are split between the strata;
- `strata`: the SQL that ranks a day's rows for each stratum (confidence, regressed segments,
  drifted features, the seeded uniform draw);
- `sample`: picks the rows and writes `<data root>/review/<model>/<day>.csv` and `review_sample`;
- `returned`: reads filled-in files from `<data root>/review/returned/<model>/` into
  `review_labels` (`source = 'review'`), bad labels into `quarantine`;
- `accuracy`: the review-based metric on the uniform stratum, with its interval;
- `stage`: the whole step for a run's days, as the `review` asset calls it.

Nothing here knows Dagster.
"""
