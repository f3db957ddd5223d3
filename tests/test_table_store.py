"""The app's memory-mapped table: the same frame as the Parquet, opened from an Arrow file written once per build."""
import numpy as np
import pandas as pd

import matcher.table_store as table_store
from matcher.table_store import mapped_path, open_table, read_table


def stored(tmp_path):
    """A stored table as builds write it: float16 similarities with NaN, here out of query order."""
    table = pd.DataFrame({"query": np.array([2, 0, 1, 0], np.int32), "candidate": np.array([0, 1, 0, 2], np.int32),
                          "sim_a": np.array([0.5, 0.25, np.nan, 0.75], np.float16),
                          "sim_b": np.array([np.nan] * 4, np.float16)})
    path = tmp_path / "neighbours.parquet"
    table.to_parquet(path, index=False)
    return path


def test_the_first_open_writes_the_arrow_file_and_every_open_maps_the_same_table(tmp_path):
    path = stored(tmp_path)
    first = open_table(path, "ab" * 32)
    assert mapped_path(path, "ab" * 32).is_file()
    again = open_table(path, "ab" * 32)
    expected = read_table(path)
    for frame in (first, again):
        pd.testing.assert_frame_equal(frame, expected)
    assert again["query"].tolist() == [0, 0, 1, 2] and again["sim_a"].dtype == np.float32
    column = again["sim_a"].to_numpy()
    assert not column.flags.writeable and not column.flags.owndata  # a view of the mapped file, not a copy
    assert np.isnan(again["sim_b"].to_numpy()).all()


def test_another_build_of_the_folder_gets_its_own_file(tmp_path):
    path = stored(tmp_path)
    open_table(path, "ab" * 32)
    pd.DataFrame({"query": np.array([0], np.int32), "candidate": np.array([1], np.int32),
                  "sim_a": np.array([0.9], np.float16)}).to_parquet(path, index=False)
    rebuilt = open_table(path, "cd" * 32)
    assert rebuilt["sim_a"].tolist() == [np.float32(np.float16(0.9))] and len(rebuilt) == 1


def test_a_folder_that_cannot_be_written_gets_the_table_in_memory(tmp_path, monkeypatch):
    path = stored(tmp_path)

    def refuse(table, target):
        raise PermissionError(f"{target}: read-only file system")

    monkeypatch.setattr(table_store, "write_mapped", refuse)
    table = open_table(path, "ab" * 32)
    pd.testing.assert_frame_equal(table, read_table(path))
    assert not mapped_path(path, "ab" * 32).exists()
