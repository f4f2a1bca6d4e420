"""Phase 04 at scale: the event aggregates of ``event_aggregates`` from partitioned Parquet.

Three engines compute the same columns from events on disk (a ``.parquet`` file or a
folder of them): ``pandas`` (reads every column it needs into memory, then
``aggregate_events``), ``duckdb`` (one SQL aggregation streaming over the files, on this
machine) and ``dask`` (each partition reduced to partial aggregates on the cluster's
workers, combined by a Dask groupby). Each takes two passes: the value counts that decide
which event types and values get columns of their own, then the partial aggregates of
``event_aggregates.partials`` (counts and sums add up, recencies take min / max), which
``event_aggregates.finish`` turns into ratios and shares. Counts, recencies, ratios and
shares are identical across engines; float sums agree to rounding (engines add in another
order). ``choose`` picks the engine for a ``compute`` setting, by the figures of
``benchmarks/aggregate.py`` (README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from lifecycle.core import compute
from lifecycle.core.files import record_read
from lifecycle.data.events import (
    Plan,
    ages,
    aggregate_events,
    check_columns,
    finish,
    naive_times,
    partials,
    refuse_clashes,
    sanitise,
    vocabulary,
)

ENGINES = ("pandas", "duckdb", "dask")


# On one machine pandas was the fastest (2x DuckDB at 10M events) but its memory grows with the
# events (~130 MiB per million); DuckDB streams in a few hundred MiB. Past this many events,
# DuckDB (README, benchmarks/aggregate.py).
PANDAS_MAX_EVENTS = 20_000_000


def choose(compute: Any, events: int) -> str:
    """The engine for a ``compute`` setting and a number of events, by the benchmark's figures:
    Dask when a cluster is configured; on one machine pandas while the events fit in memory
    comfortably, DuckDB beyond."""
    if compute.engine == "dask":
        return "dask"
    return "pandas" if events <= PANDAS_MAX_EVENTS else "duckdb"


def count_events(path: str | Path) -> int:
    """The number of rows of a Parquet file or folder, from the files' footers (nothing else is read)."""
    path = Path(path)
    parts = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    return sum(pq.ParquetFile(f).metadata.num_rows for f in parts)


def aggregate_parquet(
    path: str | Path,
    ids: pd.Index,
    *,
    engine: str,
    id_column: str,
    time_column: str,
    type_column: str,
    cutoff: pd.Timestamp,
    windows: list[int],
    breakdowns: list[str] = (),
    sums: list[str] = (),
    max_values: int = 20,
    client: Any = None,
) -> pd.DataFrame:
    """``aggregate_events`` over the events in ``path`` (a Parquet file or a folder of them).

    Parameters
    ----------
    engine : ``pandas``, ``duckdb`` or ``dask`` (``dask`` runs on ``client``, or Dask's default scheduler).
    The rest as in ``event_aggregates.aggregate_events``.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is not allowed; choose one of {', '.join(ENGINES)}")
    path = Path(path)
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise FileNotFoundError(f"no Parquet events at '{path}'")
    for part in files:  # the engines read them themselves: note them as this phase's inputs
        record_read(part)
    check_columns(
        pq.read_schema(files[0]).empty_table().to_pandas(), id_column, time_column, type_column, breakdowns, sums
    )
    needed = list(dict.fromkeys([id_column, time_column, type_column, *breakdowns, *sums]))
    options = dict(
        id_column=id_column,
        time_column=time_column,
        type_column=type_column,
        cutoff=pd.Timestamp(cutoff),
        windows=sorted(set(windows)),
        breakdowns=list(breakdowns),
        sums=list(sums),
        max_values=max_values,
    )
    ids = pd.Index(ids)
    if engine == "pandas":
        import pyarrow.dataset as ds

        events = ds.dataset([str(f) for f in files], format="parquet").to_table(columns=needed).to_pandas()
        return aggregate_events(events, ids, **options)
    unique = ids.unique()
    run = _duckdb if engine == "duckdb" else _dask
    result = run(files, needed, unique, client=client, **options)
    return result if ids.equals(unique) else result.reindex(ids)


def aggregate_with(compute_settings: Any, path: str | Path, ids: pd.Index, **options) -> pd.DataFrame:
    """``aggregate_parquet`` with the engine ``choose`` picks, on the cluster ``compute_settings`` names."""
    engine = choose(compute_settings, count_events(path))
    with compute.session(compute_settings) as client:
        return aggregate_parquet(path, ids, engine=engine, client=client, **options)


def _plan(counts: dict[str, pd.Series], options: dict) -> tuple[Plan, dict[str, pd.Series]]:
    """The plan and, per coded column, each raw value's code, from the kept events' value counts."""
    codes, names = {}, {}
    for column, seen in counts.items():
        seen = seen[seen > 0]
        lookup, names[column] = vocabulary(seen.index, seen.to_numpy(), options["max_values"])
        codes[column] = pd.Series(lookup, index=seen.index)
    plan = Plan(
        options["windows"], names[options["type_column"]], {c: names[c] for c in options["breakdowns"]}, options["sums"]
    )
    refuse_clashes(plan)
    return plan, codes


def _quoted(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _duckdb(files: list[Path], needed: list[str], unique: pd.Index, *, client: Any, **options) -> pd.DataFrame:
    import duckdb

    coded = [options["type_column"], *options["breakdowns"]]
    q = {name: _quoted(name) for name in needed}
    cutoff = f"TIMESTAMP '{options['cutoff'].isoformat(sep=' ')}'"  # a Timestamp: no quoting to escape
    roles = (options["id_column"], options["time_column"])
    listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    con = duckdb.connect()
    try:
        con.register("ids", pd.DataFrame({"id": unique, "position": np.arange(len(unique))}))
        # Kept events: before the cutoff and of a listed id; age in days as in ages().
        con.execute(f"""CREATE TEMP VIEW kept AS SELECT ids.position,
                            epoch_us({cutoff} - e.{q[options["time_column"]]}) / 86400000000.0 AS age,
                            {", ".join(f"e.{q[c]}" for c in needed if c not in roles)}
                        FROM read_parquet([{listed}]) AS e JOIN ids ON e.{q[options["id_column"]]} = ids.id
                        WHERE e.{q[options["time_column"]]} < {cutoff}""")
        counts = {
            c: con.execute(f"SELECT {q[c]} AS raw, count(*) AS n FROM kept WHERE {q[c]} IS NOT NULL GROUP BY 1")
            .df()
            .set_index("raw")["n"]
            for c in coded
        }
        plan, codes = _plan(counts, options)
        joins, code_of = [], {}
        for number, column in enumerate(coded):
            con.register(f"codes{number}", pd.DataFrame({"raw": codes[column].index, "code": codes[column].to_numpy()}))
            joins.append(f"LEFT JOIN codes{number} AS c{number} ON kept.{q[column]} = c{number}.raw")
            code_of[column] = f"c{number}.code"
        parts = _duckdb_aggregates(plan, code_of, options, q)
        frame = con.execute(
            f"SELECT kept.position, {', '.join(parts)} FROM kept {' '.join(joins)} GROUP BY kept.position"
        ).df()
    finally:
        con.close()
    return finish(frame.set_index("position").sort_index(), plan, unique)


def _duckdb_aggregates(plan: Plan, code_of: dict[str, str], options: dict, q: dict[str, str]) -> list[str]:
    """The SELECT list of partial aggregates, named as ``plan.partial()``."""
    exprs: dict[str, str] = {}
    type_code = code_of[options["type_column"]]
    for w in plan.windows:
        exprs[f"events_{w}d"] = f"count(*) FILTER (WHERE age <= {w})"
    for w in plan.windows:
        for j, name in enumerate(plan.types):
            exprs[f"{name}_{w}d"] = f"count(*) FILTER (WHERE age <= {w} AND {type_code} = {j})"
    for column, names in plan.breakdowns.items():
        for w in plan.windows:
            for j, name in enumerate(names):
                condition = f"age <= {w} AND {code_of[column]} = {j}"
                exprs[f"{sanitise(column)}_{name}_{w}d"] = f"count(*) FILTER (WHERE {condition})"
    for column in plan.sums:
        value = f"CASE WHEN isnan(kept.{q[column]}) THEN 0 ELSE kept.{q[column]} END"
        for w in plan.windows:
            exprs[f"{sanitise(column)}_sum_{w}d"] = f"coalesce(sum({value}) FILTER (WHERE age <= {w}), 0)"
    exprs["days_since_last_event"] = "min(age)"
    exprs["days_since_first_event"] = "max(age)"
    for j, name in enumerate(plan.types):
        exprs[f"days_since_last_{name}"] = f"min(age) FILTER (WHERE {type_code} = {j})"
    return [f"{expr} AS {_quoted(name)}" for name, expr in exprs.items()]


def _dask(files: list[Path], needed: list[str], unique: pd.Index, *, client: Any, **options) -> pd.DataFrame:
    import dask
    import dask.dataframe as dd

    coded = [options["type_column"], *options["breakdowns"]]
    events = dd.read_parquet([str(f) for f in files], columns=needed)
    # The ids go to the workers once, not into every task.
    ids = dask.delayed(client.scatter(unique, broadcast=True) if client is not None else unique)
    meta = pd.DataFrame(
        {"column": pd.Series(dtype=object), "raw": pd.Series(dtype=object), "n": pd.Series(dtype="int64")}
    )
    seen = events.map_partitions(_partition_counts, ids, coded, options, meta=meta)
    seen = _computed(seen, client, "counting event values on the cluster")
    counts = seen.groupby(["column", "raw"], sort=False)["n"].sum()
    plan, codes = _plan(
        {
            c: counts.xs(c, level="column") if c in counts.index.get_level_values(0) else pd.Series(dtype="int64")
            for c in coded
        },
        options,
    )
    how = plan.partial()
    meta = pd.DataFrame(
        {
            "position": pd.Series(dtype="int64"),
            **{
                name: pd.Series(dtype="int64" if how[name] == "sum" and "_sum_" not in name else "float64")
                for name in how
            },
        }
    )
    parts = events.map_partitions(_partition_partials, ids, plan, codes, options, meta=meta)
    combined = parts.groupby("position").agg(how)
    return finish(_computed(combined, client, "aggregating events on the cluster").sort_index(), plan, unique)


def _computed(collection: Any, client: Any, what: str) -> pd.DataFrame:
    return compute.result(client.compute(collection), what) if client is not None else collection.compute()


def _kept(part: pd.DataFrame, unique: pd.Index, options: dict) -> tuple[pd.DataFrame, np.ndarray]:
    when = naive_times(part[options["time_column"]])
    position = unique.get_indexer(part[options["id_column"]])
    keep = (when < options["cutoff"]).to_numpy() & (position >= 0)
    return part.loc[keep], position[keep]


def _partition_counts(part: pd.DataFrame, unique: pd.Index, coded: list[str], options: dict) -> pd.DataFrame:
    """One partition's value counts of the coded columns among its kept events (long form)."""
    kept, _ = _kept(part, unique, options)
    frames = []
    for column in coded:
        counts = kept[column].value_counts(dropna=True)
        counts = counts[counts > 0]
        frames.append(pd.DataFrame({"column": column, "raw": counts.index.astype(object), "n": counts.to_numpy()}))
    return pd.concat(frames, ignore_index=True).astype({"column": object, "raw": object, "n": "int64"})


def _partition_partials(
    part: pd.DataFrame, unique: pd.Index, plan: Plan, codes: dict[str, pd.Series], options: dict
) -> pd.DataFrame:
    """One partition's partial aggregates, one row per id it has events of."""
    kept, position = _kept(part, unique, options)
    present, local = np.unique(position, return_inverse=True)

    def coded(column: str) -> np.ndarray:
        lookup = codes[column]
        found = pd.Index(lookup.index).get_indexer(kept[column].astype(object))
        return np.where(found >= 0, lookup.to_numpy()[found], -1)

    columns = partials(
        plan,
        local,
        ages(naive_times(kept[options["time_column"]]), options["cutoff"]),
        coded(options["type_column"]),
        {c: coded(c) for c in plan.breakdowns},
        {c: kept[c].to_numpy(dtype="float64", na_value=np.nan) for c in plan.sums},
        len(present),
    )
    return pd.DataFrame({"position": present.astype("int64"), **{name: columns[name] for name in plan.partial()}})
