"""``lifecycle monitor``: the checks of 12_monitoring on the prediction log as it is, for a scheduler."""

from __future__ import annotations

import argparse
import sys

from lifecycle import registry
from lifecycle.core.params import ParamsError, resolve
from lifecycle.core.settings import PHASES
from lifecycle.data import problem
from lifecycle.modeling import scoring
from lifecycle.monitoring import monitor
from lifecycle.monitoring import store as monitor_store
from lifecycle.monitoring.alerts import alert_table, verdict


def main(argv: list[str] | None = None) -> int:
    """``lifecycle monitor``: the checks of 12_monitoring on the prediction log as it is, for a scheduler.

    Exit 0 when every check is within its threshold, 1 on an alert, 2 when the input cannot be used.
    """
    parser = argparse.ArgumentParser(prog="lifecycle monitor", description=main.__doc__.splitlines()[0])
    parser.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="YAML",
        help="extra parameter file layered over params/ (repeatable)",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter, e.g. --set log_table=predictions",
    )
    args = parser.parse_args(argv)
    phase = "12_monitoring"
    try:
        params = PHASES[phase].model_validate(resolve([phase], args.files, args.sets)[phase])
        card = problem.read()
        scorer = scoring.load(params.serving.model, alias="champion")
        data = monitor_store.gather(params, card, scorer)
        fitted = monitor.fit(
            data.reference, data.reference_scores, params.drift, params.seed, params.min_rows, params.exclude_features
        )
        results = monitor.check(
            data.production,
            fitted,
            card=card,
            performance_drop=params.thresholds.performance_drop,
            reference_metric=data.accepted,
            period=params.window,
            min_rows=params.min_rows,
            batches=data.batches,
        )
        results = monitor.with_estimates(
            results, monitor.estimated(data, card, params)[0], card, data.accepted, params.thresholds.performance_drop
        )
    except (monitor.MonitorError, ParamsError, registry.RegistryError, FileNotFoundError, ValueError) as exc:
        print(f"lifecycle monitor: {exc}", file=sys.stderr)
        return 2
    summary = verdict(results)
    monitor_store.write(
        results, data.production, summary, params.window, false_alert_rate=params.drift.false_alert_rate
    )
    print(data.sentence)
    found = alert_table(results)
    if len(found):
        print(found.drop(columns="note").to_string(max_rows=40))
    print(summary)
    return 1 if len(found) else 0
