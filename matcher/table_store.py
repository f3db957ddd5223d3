"""The neighbour table as the app reads it: float32 Arrow columns memory-mapped from disk, converted once per build.

A build keeps its table as compressed float16 Parquet, small to keep and to
ship. Filtering wants float32 columns read at memory speed, and the table of a
million listings (about 140 million rows) is 5 GB of them: reading that into
every server process would take a minute each time and the memory again per
process. So the first open writes the table once, uncompressed, as an Arrow IPC
file beside the Parquet, named by the Parquet's checksum (a rebuild brings its
own, and the old one goes with the old build folder). Each column is one chunk
without nulls, so it maps straight onto a read-only NumPy array: later opens
take milliseconds, and every process shares the same pages of the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from matcher.atomic import atomic_file


TABLE_FILE = "neighbours.parquet"


def open_table(parquet: Path, digest: str) -> pd.DataFrame:
    """The table of `parquet` (checksum `digest`), sorted by query, its similarities float32, memory-mapped.

    A build folder that cannot be written to (a read-only server copy) gets
    the table read into memory instead: the same frame, without the sharing.
    """
    mapped = ensure_mapped(parquet, digest)
    if mapped is None:
        return read_table(parquet)
    with pa.memory_map(str(mapped)) as source:  # the arrays keep the mapping alive after the file closes
        return pa.ipc.open_file(source).read_all().to_pandas(split_blocks=True, zero_copy_only=True)


def ensure_mapped(parquet: Path, digest: str) -> Path | None:
    """The table's Arrow file, written first where missing (the build does it, so the app need not); None
    where the folder cannot be written to."""
    mapped = mapped_path(parquet, digest)
    if not mapped.is_file():
        try:
            write_mapped(read_table(parquet), mapped)
        except OSError:
            return None
    return mapped


def mapped_path(parquet: Path, digest: str) -> Path:
    return parquet.with_name(f"{parquet.stem}.{digest[:16]}.arrow")


def read_table(parquet: Path) -> pd.DataFrame:
    """The stored table in memory, float32 similarities (no per-rule conversions), sorted by query."""
    table = pd.read_parquet(parquet)
    for column in table.columns:
        if column.startswith("sim_"):
            table[column] = table[column].astype(np.float32)
    query = table["query"].to_numpy()
    if len(query) and (np.diff(query) < 0).any():
        table = table.sort_values("query", kind="stable").reset_index(drop=True)
    return table


def write_mapped(table: pd.DataFrame, path: Path) -> None:
    """`table` as one Arrow record batch, NaN kept as values (not nulls), written whole or not at all."""
    arrow = pa.table({name: pa.array(table[name].to_numpy()) for name in table.columns})
    with atomic_file(path) as out, pa.ipc.new_file(out, arrow.schema) as writer:
        writer.write_table(arrow)
