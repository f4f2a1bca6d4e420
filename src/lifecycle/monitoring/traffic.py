"""The simulated product after launch: cohorts of production users, featured exactly as in
training, for the experiment (11), monitoring (12) and retraining (13) phases.

A cohort is a production period of the simulator (``simulate.period_dates``), optionally
moved later by whole days, with its own drift and its own random stream; its users get ids
that never collide with another cohort's. ``weeks`` lays cohorts a week apart, the drift
switched on from a given week: the production timeline monitoring watches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecycle.core.settings import ProjectParams, Simulation
from lifecycle.data import prepare, splits
from lifecycle.data.features import build_features
from lifecycle.data.sources import Dataset
from lifecycle.modeling import scoring
from lifecycle.monitoring.replay import replay, replay_held_out
from lifecycle.simulation.simulate import Drift, period_dates, simulate_product

COHORT_IDS = 10_000_000  # ids of cohort k start at production ids + k * COHORT_IDS
ACTIVITY = "events_90d"  # correlation drift re-pairs recency with activity ...
RECENCY = "days_since_last_"  # ... the columns with this prefix


def drift_of(simulation: Simulation, concept_change: float = 0.0):
    """The ``simulation.production`` drift as a ``simulate.Drift``, with a concept change added."""
    knobs = simulation.production
    return Drift(knobs.channel_shift, knobs.activity_change, knobs.new_category, concept_change)


def cohort(
    params: ProjectParams,
    n_users: int,
    drift=None,
    cohort_number: int = 0,
    shift_days: int = 0,
    treated: pd.Series | None = None,
    treatment_effect: float = 0.0,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """One cohort of production users: model inputs, id and label, and its prediction date.

    Parameters
    ----------
    params : the project parameters (simulation knobs, label rule, seed).
    n_users : users in the cohort.
    drift : a ``simulate.Drift``; None for none.
    cohort_number : picks the random stream and the id range; cohorts with other numbers are other people.
    shift_days : the cohort's period starts this many days after the simulator's production period.
    treated, treatment_effect : who gets the retention offer (a boolean Series by user_id), and its
        absolute effect on their churn probability; see ``simulate.simulate_product``.
    """
    if params.source.kind != "simulated":
        raise ValueError(
            f"simulated production needs source.kind 'simulated' (it is '{params.source.kind}'); "
            "with your own data, set log_path in params/11_experimentation.yaml and simulate: false "
            "in params/12_monitoring.yaml"
        )
    sim, rule = params.simulation, params.labels
    shift = pd.Timedelta(days=shift_days)
    start, cutoff = pd.Timestamp(sim.start) + shift, pd.Timestamp(rule.cutoff) + shift
    _, prediction_date = period_dates(start, cutoff, rule.window_days, "production")
    offset = cohort_number * COHORT_IDS
    if treated is not None:
        treated = pd.Series(treated.to_numpy(bool), index=treated.index - offset)
    product = simulate_product(
        n_users=n_users,
        start=start,
        cutoff=cutoff,
        label_window_days=rule.window_days,
        seed=params.seed + 7919 * cohort_number,
        period="production",
        drift=drift or Drift(),
        treatment_effect=treatment_effect,
        treated=treated,
    )
    users = product.users.assign(user_id=product.users["user_id"] + offset)
    events = product.events.assign(user_id=product.events["user_id"] + offset)
    if params.id_column != "user_id":
        users, events = (t.rename(columns={"user_id": params.id_column}) for t in (users, events))
    return _featured(Dataset(users, events), prediction_date), prediction_date


def _featured(dataset: Dataset, prediction_date: pd.Timestamp) -> pd.DataFrame:
    """A cohort's tables prepared and featured exactly as in training (02's rules, 04's settings), as of
    its prediction date."""
    settings = splits.read_settings()
    settings = settings.model_copy(
        update={"labels": settings.labels.model_copy(update={"cutoff": prediction_date.date()})}
    )
    rules = prepare.read_rules()
    prepared = prepare.prepare(
        dataset,
        settings,
        {k: tuple(v) for k, v in rules["valid_ranges"].items()},
        rules["numeric_text_share"],
    )
    return build_features(prepared.table, prepared.events, settings)


def re_pair(frame: pd.DataFrame, by: str, moved: list[str], share: float, seed: int) -> pd.DataFrame:
    """Correlation drift with every column's own distribution unchanged: in a random ``share`` of the
    rows, the ``moved`` columns are handed on so that the row ranked r-th by ``by`` gets those of the
    row ranked r-th from the other end (ties in random order). What went together now goes apart."""
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(np.flatnonzero(rng.random(len(frame)) < share))
    order = chosen[np.argsort(frame[by].to_numpy()[chosen], kind="stable")]
    out = frame.copy()
    columns = [out.columns.get_loc(c) for c in moved]
    out.iloc[order, columns] = frame.iloc[order[::-1], columns].to_numpy()
    return out


def _on(week: int, from_week: int | None) -> bool:
    return from_week is not None and week >= from_week


def weeks(
    params: ProjectParams,
    *,
    n_weeks: int,
    users_per_week: int,
    drift_from_week: int | None,
    drift=None,
    first_cohort: int = 1,
    concept_change: float = 0.0,
    concept_from_week: int | None = None,
    correlation_change: float = 0.0,
    correlation_from_week: int | None = None,
) -> pd.DataFrame:
    """``n_weeks`` weekly cohorts (one cohort scored per week). Each kind of drift from its week on
    (1-based; None: never): ``drift`` (a ``simulate.Drift``: who the users are), ``concept_change``
    (what their behaviour means), ``correlation_change`` (the share of users whose recency columns are
    ``re_pair``-ed against their activity). Columns: the cohort's features, id and label, ``week``
    (1, 2, ...) and ``predicted_at`` (its prediction date)."""
    from dataclasses import replace

    frames = []
    for week in range(1, n_weeks + 1):
        knobs = (drift or Drift()) if _on(week, drift_from_week) else Drift()
        knobs = replace(knobs, concept_change=concept_change if _on(week, concept_from_week) else 0.0)
        frame, when = cohort(
            params, users_per_week, knobs, cohort_number=first_cohort + week - 1, shift_days=7 * (week - 1)
        )
        if _on(week, correlation_from_week) and correlation_change > 0:
            frame = re_pair(
                frame,
                ACTIVITY,
                [c for c in frame.columns if c.startswith(RECENCY)],
                correlation_change,
                params.seed + week,
            )
        frames.append(frame.assign(week=week, predicted_at=when))
    return pd.concat(frames, ignore_index=True)


def simulate_monitoring(params, scorer) -> str:
    """12's simulated production, when ``simulate`` is on: ``weeks`` weekly cohorts, drifted from
    ``drift_from_week``, logged and labelled (see ``replay``); on your own table, its held-out rows
    (``replay_held_out``). Otherwise the log is read as it is."""
    if not params.simulate:
        return f"Reading the prediction log table '{params.log_table}' and the label feed as they are."
    if params.source.kind != "simulated":
        return replay_held_out(params, scorer)
    frame = weeks(
        params,
        n_weeks=params.weeks,
        users_per_week=params.users_per_week,
        drift_from_week=params.drift_from_week,
        drift=drift_of(params.simulation),
        concept_change=params.concept_change,
        concept_from_week=params.concept_from_week,
        correlation_change=params.correlation_change,
        correlation_from_week=params.correlation_from_week,
    )
    said = replay(
        frame,
        scorer,
        url=params.store.url,
        table=params.log_table,
        id_column=params.id_column,
        target=params.target,
        window_days=params.labels.window_days,
        labels_path=params.labels_path,
    )
    schedule = [
        (name, week)
        for name, week, on in (
            ("covariate drift", params.drift_from_week, True),
            ("concept drift", params.concept_from_week, params.concept_change > 0),
            ("correlation drift", params.correlation_from_week, params.correlation_change > 0),
        )
        if on and week is not None and week <= params.weeks
    ]
    weeks_said = "; ".join(f"{name} from week {week}" for name, week in schedule)
    return f"{said} {weeks_said[:1].upper()}{weeks_said[1:]}." if schedule else f"{said} No drift switched on."


AB_COHORT = 100  # the A/B test's users are a cohort of their own


def ab_test(params: ProjectParams, scorer, n_users: int, treatment_share: float = 0.5) -> tuple[pd.DataFrame, float]:
    """A simulated A/B test of the retention offer: the experiment log and the true effect.

    Users are assigned at random (seeded) to ``control`` (no offers) or ``treatment`` (the model's
    positives get an offer, which lowers their churn probability by ``simulation.treatment_effect``).
    The true effect on the treatment arm's churn rate is ``-treatment_effect`` times the share of the
    arm that got an offer (exact while the effect is at most the simulator's floor of churn, 0.05).
    """
    import numpy as np

    features, _ = cohort(params, n_users, cohort_number=AB_COHORT)
    offer = (scoring.score(scorer, features)["prediction"] == scorer.positive_class).to_numpy()
    rng = np.random.default_rng([params.seed, AB_COHORT])
    in_treatment = rng.random(len(features)) < treatment_share
    ids = features[params.id_column]
    treated = pd.Series(in_treatment & offer, index=pd.Index(ids.to_numpy()))
    outcome, _ = cohort(
        params, n_users, cohort_number=AB_COHORT, treated=treated, treatment_effect=params.simulation.treatment_effect
    )
    churned = outcome.set_index(params.id_column)[params.target].reindex(ids).to_numpy()
    log = pd.DataFrame(
        {
            params.id_column: ids.to_numpy(),
            "arm": np.where(in_treatment, "treatment", "control"),
            "offer": offer & in_treatment,
            params.target: churned,
        }
    )
    return log, -params.simulation.treatment_effect * float(offer[in_treatment].mean())
