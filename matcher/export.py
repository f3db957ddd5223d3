"""A catalogue's groups for export: the model's matches with the moderators' decisions on top.

Two formats: a groups table (each listing's group and whether a moderator confirmed its place in it)
and the competition's submission format. Every text cell that a spreadsheet would run as a formula
is neutralised, since posting ids and reviewer names come from sellers and users.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from matcher.grouping import GroupingConfig, Groups, group_matches, group_table

FORMATS = ("groups", "submission")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_groups(table: pd.DataFrame, rule, posting_ids, decisions: pd.DataFrame,
                  config: GroupingConfig | None = None, confirmed_only: bool = False) -> Groups:
    """The groups to export: the rule's matches and `decisions` (a `ReviewStore.for_grouping` frame) together,
    or, with `confirmed_only`, the moderators' confirmed pairs alone (every other listing on its own)."""
    if confirmed_only:
        none = np.empty(0, np.int64)
        return group_matches(len(posting_ids), none, none, none.astype(float), posting_ids, decisions, config)
    return group_table(table, rule, posting_ids, decisions, config)


def groups_frame(groups: Groups, posting_ids, decisions: pd.DataFrame) -> pd.DataFrame:
    """posting_id, group_id, status, reviewer, decided_at: one row per listing, in catalogue order.

    status is 'confirmed' when a confirmed decision ties the listing to another member of its group (reviewer
    and decided_at then name the latest such decision), 'model' when only the model put it in its group, and
    'single' when it is alone.
    """
    ids = np.asarray(posting_ids).astype(str)
    sizes = np.bincount(groups.labels)[groups.labels]
    frame = pd.DataFrame({"posting_id": ids, "group_id": groups.ids, "status": np.where(sizes > 1, "model", "single"),
                          "reviewer": "", "decided_at": ""})
    ties = _confirmed_ties(groups, ids, decisions)
    frame.loc[ties.index, ["status", "reviewer", "decided_at"]] = ties[["status", "reviewer", "decided_at"]]
    return frame


def submission_frame(groups: Groups, posting_ids) -> pd.DataFrame:
    """The competition's format: posting_id, and the space-separated posting ids of its group, itself first."""
    ids = np.asarray(posting_ids).astype(str)
    return pd.DataFrame({"posting_id": ids, "matches": [" ".join(ids[s]) for s in groups.match_sets()]})


def export_frame(fmt: str, groups: Groups, posting_ids, decisions: pd.DataFrame) -> pd.DataFrame:
    """The export in format `fmt` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {FORMATS}, got {fmt!r}")
    return groups_frame(groups, posting_ids, decisions) if fmt == "groups" else submission_frame(groups, posting_ids)


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy in which every text cell a spreadsheet would run as a formula starts with an apostrophe.

    Column by column, not cell by cell: a million-listing export has five million cells.
    """
    out = frame.copy()
    for column in out.columns:
        cells = out[column]
        if cells.dtype.kind in "biufcmM":  # numbers and times are never formulas
            continue
        formula = _formulas(cells)
        if formula.any():
            cells = cells.astype(object)
            cells[formula] = ["'" + cell for cell in cells[formula]]
            out[column] = cells
    return out


def _formulas(cells: pd.Series) -> np.ndarray:
    """Which cells are text a spreadsheet would run as a formula."""
    try:
        return cells.str.startswith(FORMULA_STARTS).fillna(False).astype(bool).to_numpy()
    except (AttributeError, TypeError):  # text mixed with other values: tested one by one
        return np.array([isinstance(cell, str) and cell.startswith(FORMULA_STARTS) for cell in cells], bool)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """An export as UTF-8 CSV, formulas neutralised: what a download or a file holds."""
    return neutralise(frame).to_csv(index=False).encode("utf-8")


def write_csv(frame: pd.DataFrame, path) -> Path:
    """Write an export to `path` as UTF-8 CSV, formulas neutralised."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_bytes(frame))
    return path


def _confirmed_ties(groups: Groups, ids: np.ndarray, decisions: pd.DataFrame) -> pd.DataFrame:
    """For each listing a confirmed decision ties to a member of its group: the latest such decision's
    reviewer and time, indexed by the listing's position."""
    confirmed = decisions[decisions["decision"] == "confirmed"]
    index = pd.Index(ids)
    a = index.get_indexer(confirmed["posting_id_a"].astype(str))
    b = index.get_indexer(confirmed["posting_id_b"].astype(str))
    tied = (a >= 0) & (b >= 0)
    tied[tied] = groups.labels[a[tied]] == groups.labels[b[tied]]
    rows = confirmed[tied]
    ends = pd.DataFrame({"position": np.r_[a[tied], b[tied]],
                         "reviewer": pd.concat([rows["reviewers"]] * 2, ignore_index=True),
                         "decided_at": pd.concat([pd.to_datetime(rows["decided_at"], utc=True)] * 2, ignore_index=True)})
    latest = ends.sort_values("decided_at", kind="stable").drop_duplicates("position", keep="last")
    return pd.DataFrame({"status": "confirmed", "reviewer": latest["reviewer"].to_numpy(),
                         "decided_at": latest["decided_at"].map(lambda t: t.isoformat(timespec="seconds")).to_numpy()},
                        index=latest["position"].to_numpy())
