"""The file formats a table is read from: one registry, so a new format is one reader and one entry.

A ``TableFormat`` names the format (what ``source.kind`` says), the endings of its file names,
and how to read a file of it: whole (``read``), some rows at a time (``chunks``: the batch job)
and as Dask partitions (``partitions``: ``--engine dask``). Only ``read`` is required; without
the others a file is read whole and cut into chunks, or made one partition. A format is added
with one entry::

    def read_jsonl(path):
        return pd.read_json(path, lines=True)

    table_formats.FORMATS["jsonl"] = TableFormat("jsonl", (".jsonl",), read_jsonl, title="JSON lines")

and ``source.kind``, ``lifecycle init --data``, ``lifecycle predict --input``, the label feed and
the experiment log all take it: each finds a file's format here (``format_of``).

pandas, pyarrow and Dask are imported where a file is read, never when this module is:
``settings`` checks ``source.kind`` against the registry, and the parameter checks stay light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.parquet as pq


@dataclass(frozen=True)
class TableFormat:
    """A file format: its name, its file names' endings (lower case, e.g. ``.csv.gz``) and its readers."""

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[Path], pd.DataFrame]  # the whole table
    title: str = ""  # the format in messages; default: the name in capitals
    chunks: Callable[[Path, int], Iterator[pd.DataFrame]] | None = None  # (path, rows per chunk)
    partitions: Callable[[str, str], Any] | None = None  # (path or glob, bytes per partition) -> Dask DataFrame

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.name.upper())

    def read_chunks(self, path: Path, rows: int) -> Iterator[pd.DataFrame]:
        """The table ``rows`` rows at a time: a file that cannot be opened fails here, a bad chunk when reached."""
        if self.chunks is not None:
            return self.chunks(path, rows)
        table = self.read(path)
        return (table.iloc[start : start + rows] for start in range(0, len(table), rows))

    def read_partitions(self, path: str, blocksize: str) -> Any:
        """The table as a Dask DataFrame of partitions of about ``blocksize`` (default: one per file)."""
        if self.partitions is not None:
            return self.partitions(path, blocksize)
        import dask.dataframe as dd  # Dask is an optional extra, needed by --engine dask only

        return dd.from_map(self.read, [Path(path)])


def format_of(path: str | Path) -> TableFormat | None:
    """The format whose ending ends the file's name (the longest that does), or None."""
    name = Path(path).name.lower()
    found = [(len(end), each) for each in FORMATS.values() for end in each.suffixes if name.endswith(end)]
    return max(found, key=lambda pair: pair[0])[1] if found else None


def stem(path: str | Path) -> str:
    """The file's name without its format's ending (``new.csv.gz`` -> ``new``)."""
    name, found = Path(path).name, format_of(path)
    ends = [end for end in (found.suffixes if found else ()) if name.lower().endswith(end)]
    return name[: -len(max(ends, key=len))] if ends else name


def either(words: Iterable[str]) -> str:
    """``a, b or c``."""
    words = list(words)
    return " or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


def titles() -> str:
    """The formats as messages name them: ``CSV or Parquet``."""
    return either(each.title for each in FORMATS.values())


def endings(leave_out: Iterable[str] = ()) -> str:
    """Each format's first ending: ``.csv or .parquet`` (without the formats named in ``leave_out``)."""
    return either(each.suffixes[0] for each in FORMATS.values() if each.name not in set(leave_out))


# --- the built-in formats: pandas and pyarrow are imported when a file is read (see above) -------


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path)  # compression (.gz, .bz2, .xz, .zip, .zst) follows the ending


def _csv_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    import pandas as pd

    return iter(pd.read_csv(path, chunksize=rows))


def _csv_partitions(path: str, blocksize: str) -> Any:
    import dask.dataframe as dd  # Dask is an optional extra, needed by --engine dask only

    return dd.read_csv(path, blocksize=blocksize)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(path)


def _parquet_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    return _row_groups(pq.ParquetFile(path), rows)  # opened now: a file that is not Parquet fails at once


def _row_groups(file: pq.ParquetFile, rows: int) -> Iterator[pd.DataFrame]:
    """Chunks of ``rows`` rows, read one row group at a time: one ``iter_batches`` over the
    whole file holds on to memory as it goes (pyarrow 26), one per row group does not."""
    import pyarrow as pa

    pending, held = [], 0
    for group in range(file.num_row_groups):
        for part in file.iter_batches(rows, row_groups=[group]):
            pending, held = [*pending, part], held + part.num_rows
            if held >= rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, rows).to_pandas()
                pending, held = table.slice(rows).to_batches(), held - rows
    if held:
        yield pa.Table.from_batches(pending).to_pandas()


def _parquet_partitions(path: str, blocksize: str) -> Any:
    import dask.dataframe as dd  # Dask is an optional extra, needed by --engine dask only

    return dd.read_parquet(path, blocksize=blocksize)  # a large file is split by row groups


CSV = TableFormat(
    "csv",
    (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".csv.zst"),
    _read_csv,
    title="CSV",
    chunks=_csv_chunks,
    partitions=_csv_partitions,
)
PARQUET = TableFormat(
    "parquet",
    (".parquet", ".pq"),
    _read_parquet,
    title="Parquet",
    chunks=_parquet_chunks,
    partitions=_parquet_partitions,
)
FORMATS: dict[str, TableFormat] = {CSV.name: CSV, PARQUET.name: PARQUET}
