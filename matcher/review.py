"""Moderators' decisions on pairs of listings, kept as an append-only log in any SQL database.

Nothing is ever updated or deleted: a decision, a skip, an undo (a row retracting the reviewer's
latest action) and a conflict's resolution are each one appended row. Two app sessions deciding the
same pair at once are therefore both kept, and the whole history stays auditable. A pair's state is
computed from the log: each reviewer's latest live decision counts, skips do not, and reviewers who
disagree make a conflict until someone records a resolution, which supersedes every earlier decision.

Decisions name listings by posting id, so they outlive rebuilds, and carry each listing's fingerprint
at decision time, so a decision on a listing that has changed (or gone) since is flagged stale.
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import (CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, MetaData, Table, Text,
                        and_, create_engine, event, exists, insert, or_, select)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

from matcher.matching import UnionRule
from matcher.settings import load_settings

DECISIONS = ("confirmed", "rejected")  # what moderators can find a pair to be
RESOLVED = {f"resolved-{d}": d for d in DECISIONS}  # a decision that settles a conflict
SKIPPED, RETRACTED = "skipped", "retracted"
RECORDABLE = (*DECISIONS, SKIPPED, *RESOLVED)  # `retracted` rows are written by undo() only
CONFLICT = "conflict"
PAIR = ["posting_id_a", "posting_id_b"]
SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another's lock before failing

metadata = MetaData()
decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("catalogue", Text, nullable=False),
    Column("posting_id_a", Text, nullable=False),  # posting_id_a < posting_id_b, as Python compares strings
    Column("posting_id_b", Text, nullable=False),
    Column("decision", Text, nullable=False),
    Column("reviewer", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),  # UTC
    Column("fingerprint_a", Text),
    Column("fingerprint_b", Text),
    Column("note", Text),
    # The row a `retracted` row undoes; unique, so two sessions can never undo the same row twice.
    Column("retracts", Integer, ForeignKey("decisions.id"), unique=True),
    Index("decisions_by_pair", "catalogue", "posting_id_a", "posting_id_b"),
    Index("decisions_by_reviewer", "catalogue", "reviewer"),
)
decisions.append_constraint(CheckConstraint(decisions.c.decision.in_([*RECORDABLE, RETRACTED]),
                                            name="decision_known"))
decisions.append_constraint(CheckConstraint(
    or_(and_(decisions.c.decision == RETRACTED, decisions.c.retracts.is_not(None)),
        and_(decisions.c.decision != RETRACTED, decisions.c.retracts.is_(None))),
    name="retraction_names_its_row"))
profiles = Table(
    "profiles", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("catalogue", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("rule", Text),  # UnionRule.to_dict() as JSON; NULL marks the profile deleted
    Column("author", Text, nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
    Index("profiles_by_name", "catalogue", "name"),
)


class ReviewError(RuntimeError):
    """A review database or saved profile that cannot be used; the message says what to do."""


def catalogue_name(artifacts_folder) -> str:
    """The name a build's decisions are filed under: artifacts/<name>/model gives <name>, else the folder's name.

    One function, so the app and `python -m matcher export` read and write the same catalogue.
    """
    folder = Path(os.path.abspath(artifacts_folder))
    return folder.parent.name if folder.name == "model" else folder.name


def fingerprint(title, image, phash) -> str:
    """12 hex digits of the sha1 of what a moderator saw of a listing: its title, photo path and pHash."""
    parts = ["" if value is None or pd.isna(value) else str(value) for value in (title, image, phash)]
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:12]


def catalogue_fingerprints(listings: pd.DataFrame) -> dict[str, str]:
    """Every listing's current fingerprint by posting id (`image_phash` is optional)."""
    phashes = listings["image_phash"] if "image_phash" in listings else [None] * len(listings)
    return {str(posting_id): fingerprint(title, image, phash) for posting_id, title, image, phash
            in zip(listings["posting_id"], listings["title"], listings["image"], phashes)}


class ReviewStore:
    """The review log of every catalogue, in the database at an SQLAlchemy URL (default: the app settings')."""

    def __init__(self, url: str | None = None):
        self.url = url or load_settings().database_url
        self.engine = _engine(self.url)
        try:
            _create_tables(self.engine)
        except DBAPIError as error:
            raise ReviewError(f"cannot open the review database {_shown(self.url)}: {error.orig}") from None

    def close(self) -> None:
        """Close the store's pooled connections (it opens new ones if used again)."""
        self.engine.dispose()

    # --- writing -------------------------------------------------------------------------

    def record(self, catalogue: str, a: str, b: str, decision: str, reviewer: str, fingerprints=None,
               note: str | None = None) -> int:
        """Append one decision (or skip, or resolution) on the pair (a, b), in its own transaction; its row id.

        `fingerprints` are (fingerprint of a, fingerprint of b) as the reviewer saw them, or None.
        """
        row = _decision_row(catalogue, a, b, decision, reviewer, fingerprints, note)
        with self._writing() as conn:
            return conn.execute(insert(decisions).values(**row)).inserted_primary_key[0]

    def resolve(self, catalogue: str, a: str, b: str, decision: str, reviewer: str, fingerprints=None,
                note: str | None = None) -> int:
        """Settle the pair as `confirmed` or `rejected`, superseding every earlier decision on it."""
        if decision not in DECISIONS:
            raise ValueError(f"a resolution is one of {DECISIONS}, got {decision!r}")
        return self.record(catalogue, a, b, f"resolved-{decision}", reviewer, fingerprints, note)

    def undo(self, catalogue: str, reviewer: str) -> dict | None:
        """Retract the reviewer's latest live action on the catalogue by appending a `retracted` row.

        Returns the undone row, or None when there is nothing left to undo. Undoing again goes further back.
        """
        reviewer = _required("reviewer", reviewer)
        while True:
            try:
                with self._writing() as conn:
                    row = conn.execute(_latest_live_action(catalogue, reviewer)).mappings().first()
                    if row is None:
                        return None
                    conn.execute(insert(decisions).values(
                        catalogue=catalogue, posting_id_a=row["posting_id_a"], posting_id_b=row["posting_id_b"],
                        decision=RETRACTED, reviewer=reviewer, decided_at=_now(), retracts=row["id"]))
                    return {**row, "decided_at": _utc(row["decided_at"])}
            except IntegrityError:  # another session undid that same row first: undo the one before it
                continue

    def save_profile(self, catalogue: str, name: str, rule: dict, author: str) -> int:
        """Save thresholds (a `UnionRule.to_dict()`) under a name; saving the name again replaces it."""
        try:
            rule = UnionRule.from_dict(rule).to_dict()
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"profile {name!r} is not a rule as UnionRule.to_dict() writes it: {error!r}") from None
        return self._append_profile(catalogue, name, json.dumps(rule), author)

    def delete_profile(self, catalogue: str, name: str, author: str) -> int:
        """Delete a saved profile by appending a tombstone (its history stays in the table)."""
        if name not in self.profiles(catalogue)["name"].tolist():
            raise ValueError(f"catalogue {catalogue!r} has no saved profile {name!r}")
        return self._append_profile(catalogue, name, None, author)

    # --- reading -------------------------------------------------------------------------

    def log(self, catalogue: str) -> pd.DataFrame:
        """Every row recorded for the catalogue, oldest first, retractions included."""
        query = select(decisions).where(decisions.c.catalogue == catalogue).order_by(decisions.c.id)
        frame = self._read(query, decisions)
        frame["decided_at"] = pd.to_datetime(frame["decided_at"], utc=True)
        frame["retracts"] = frame["retracts"].astype("Int64")
        return frame

    def pairs(self, catalogue: str, fingerprints: dict[str, str] | None = None) -> pd.DataFrame:
        """One row per decided pair, latest first: its decision ('confirmed', 'rejected' or 'conflict') and why.

        `reviewers` names the reviewers whose decisions count, `votes` maps each to theirs, `decided_at` is the
        latest, `resolved` says a resolution is in force. With `fingerprints` (posting id -> fingerprint of the
        catalogue as it is now), `stale` marks pairs with a counted decision made on a listing that has changed
        since, or a listing that is gone; without them nothing is stale.
        """
        return _pair_states(self.log(catalogue), fingerprints)

    def for_grouping(self, catalogue: str, fingerprints: dict[str, str] | None = None) -> pd.DataFrame:
        """The pairs that steer grouping: confirmed or rejected, neither in conflict nor stale.

        Columns posting_id_a, posting_id_b, decision are what `matcher.grouping.group_matches` reads;
        reviewers and decided_at say who decided and when.
        """
        frame = self.pairs(catalogue, fingerprints)
        keep = frame["decision"].isin(DECISIONS) & ~frame["stale"]
        return frame.loc[keep, [*PAIR, "decision", "reviewers", "decided_at"]].reset_index(drop=True)

    def reviewed(self, catalogue: str, reviewer: str) -> set[tuple[str, str]]:
        """The pairs (a < b) the reviewer has a live decision or skip on: what their queue can leave out."""
        own = _own_latest(self.log(catalogue), _required("reviewer", reviewer))
        return set(zip(own["posting_id_a"], own["posting_id_b"]))

    def progress(self, catalogue: str, reviewer: str | None = None) -> dict[str, int]:
        """How far review has come: pairs decided, confirmed, rejected, in conflict, and skipped.

        For the whole catalogue, confirmed + rejected + conflict = decided, and skipped counts pairs only
        skipped. For one reviewer, confirmed / rejected / skipped count their own latest action on each pair,
        decided = confirmed + rejected, and conflict counts the conflicts their vote is part of.
        """
        log = self.log(catalogue)
        states = _pair_states(log)
        if reviewer is None:
            live = _live(log)
            skipped = set(zip(live["posting_id_a"], live["posting_id_b"])) - set(
                zip(states["posting_id_a"], states["posting_id_b"]))
            counts = states["decision"].value_counts()
            return {"decided": len(states), **{d: int(counts.get(d, 0)) for d in (*DECISIONS, CONFLICT)},
                    "skipped": len(skipped)}
        who = _required("reviewer", reviewer)
        own = _own_latest(log, who)["decision"].map(lambda d: RESOLVED.get(d, d)).value_counts()
        counts = {d: int(own.get(d, 0)) for d in DECISIONS}
        conflicts = states.loc[states["decision"] == CONFLICT, "votes"].map(lambda votes: who in votes)
        return {"decided": sum(counts.values()), **counts, CONFLICT: int(conflicts.sum()),
                "skipped": int(own.get(SKIPPED, 0))}

    def profiles(self, catalogue: str) -> pd.DataFrame:
        """The catalogue's saved profiles, by name: each name's latest save (deleted ones left out)."""
        query = select(profiles).where(profiles.c.catalogue == catalogue).order_by(profiles.c.id)
        frame = self._read(query, profiles).drop_duplicates("name", keep="last")
        frame = frame[frame["rule"].notna()].sort_values("name", ignore_index=True)
        frame["rule"] = frame["rule"].map(json.loads)
        frame["saved_at"] = pd.to_datetime(frame["saved_at"], utc=True)
        return frame[["name", "rule", "author", "saved_at"]]

    def profile(self, catalogue: str, name: str) -> dict:
        """The rule saved under `name`; a ReviewError naming the saved ones when there is none."""
        saved = self.profiles(catalogue)
        found = saved.loc[saved["name"] == name, "rule"]
        if found.empty:
            names = ", ".join(saved["name"]) or "none"
            raise ReviewError(f"catalogue {catalogue!r} has no saved profile {name!r} (saved: {names})")
        return found.iat[0]

    # --- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _writing(self):
        """One write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE), so a read
        followed by a write waits its turn instead of failing on a snapshot another writer made stale."""
        with self.engine.connect() as conn:
            conn.execution_options(matcher_write=True)
            with conn.begin():
                yield conn

    def _read(self, query, table: Table) -> pd.DataFrame:
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame(rows, columns=[c.name for c in table.columns])

    def _append_profile(self, catalogue: str, name: str, rule_json: str | None, author: str) -> int:
        row = {"catalogue": _required("catalogue", catalogue), "name": _required("profile name", name),
               "rule": rule_json, "author": _required("author", author), "saved_at": _now()}
        with self._writing() as conn:
            return conn.execute(insert(profiles).values(**row)).inserted_primary_key[0]


def _engine(url: str):
    """An engine for `url`; SQLite files get WAL (readers never block the writer) and a busy timeout."""
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise ReviewError(f"{_shown(url)} is not a usable database URL ({error}); use e.g. "
                          "sqlite:///reviews.sqlite or postgresql+psycopg://user@host/dbname") from None
    if engine.dialect.name == "sqlite":
        if engine.url.database not in (None, "", ":memory:"):
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # the driver's own BEGIN is off: _sqlite_begin chooses the kind
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("matcher_write") else "BEGIN")


def _create_tables(engine) -> None:
    try:
        metadata.create_all(engine)
    except DBAPIError:  # another process created them between the check and the CREATE: check again
        metadata.create_all(engine)


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database URL"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(moment: datetime) -> datetime:
    """A timestamp read back as UTC: SQLite returns the stored UTC time without its zone."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _required(what: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


def _decision_row(catalogue, a, b, decision, reviewer, fingerprints, note) -> dict:
    """A validated decisions row, the pair ordered so posting_id_a < posting_id_b."""
    if decision not in RECORDABLE:
        hint = " (use undo() to retract a decision)" if decision == RETRACTED else ""
        raise ValueError(f"decision must be one of {RECORDABLE}, got {decision!r}{hint}")
    a, b = _required("posting_id_a", a), _required("posting_id_b", b)
    if a == b:
        raise ValueError(f"a decision needs two different listings, got {a!r} twice")
    fa, fb = (None, None) if fingerprints is None else fingerprints
    if a > b:
        a, b, fa, fb = b, a, fb, fa
    return {"catalogue": _required("catalogue", catalogue), "posting_id_a": a, "posting_id_b": b,
            "decision": decision, "reviewer": _required("reviewer", reviewer), "decided_at": _now(),
            "fingerprint_a": fa, "fingerprint_b": fb, "note": note}


def _latest_live_action(catalogue: str, reviewer: str):
    """The reviewer's latest row on the catalogue that is neither a retraction nor retracted."""
    undone = decisions.alias("undone")
    return (select(decisions)
            .where(decisions.c.catalogue == catalogue, decisions.c.reviewer == reviewer,
                   decisions.c.decision != RETRACTED,
                   ~exists().where(undone.c.retracts == decisions.c.id))
            .order_by(decisions.c.id.desc()).limit(1))


def _live(log: pd.DataFrame) -> pd.DataFrame:
    """Decisions, skips and resolutions that no retraction has undone."""
    return log[(log["decision"] != RETRACTED) & ~log["id"].isin(log["retracts"].dropna())]


def _own_latest(log: pd.DataFrame, reviewer: str) -> pd.DataFrame:
    """The reviewer's latest live action on each pair."""
    live = _live(log)
    return live[live["reviewer"] == reviewer].drop_duplicates(PAIR, keep="last")


def _counted_votes(log: pd.DataFrame) -> pd.DataFrame:
    """Per pair and reviewer, the latest live decision since the pair's latest resolution, as `vote`."""
    live = _live(log)
    live = live[live["decision"] != SKIPPED]
    resolution = live[live["decision"].isin(list(RESOLVED))].groupby(PAIR)["id"].max().rename("resolution")
    live = live.join(resolution, on=PAIR)
    live = live[live["resolution"].isna() | (live["id"] >= live["resolution"])]
    votes = live.drop_duplicates([*PAIR, "reviewer"], keep="last")
    return votes.assign(vote=votes["decision"].map(lambda d: RESOLVED.get(d, d)),
                        resolved=votes["resolution"].notna())


def _pair_states(log: pd.DataFrame, fingerprints: dict[str, str] | None = None) -> pd.DataFrame:
    """ReviewStore.pairs from the catalogue's log."""
    columns = [*PAIR, "decision", "reviewers", "votes", "decided_at", "resolved", "stale"]
    votes = _counted_votes(log).sort_values("id")
    if votes.empty:
        return pd.DataFrame(columns=columns).astype({"resolved": bool, "stale": bool})
    by_pair = votes.groupby(PAIR, sort=False)
    frame = votes.drop_duplicates(PAIR, keep="last").set_index(PAIR)
    frame["decision"] = frame["vote"].where(by_pair["vote"].nunique() == 1, CONFLICT)
    ballots: dict[tuple[str, str], dict[str, str]] = {}
    ordered = votes.sort_values([*PAIR, "reviewer"])
    for a, b, reviewer, vote in zip(ordered["posting_id_a"], ordered["posting_id_b"], ordered["reviewer"],
                                    ordered["vote"]):
        ballots.setdefault((a, b), {})[reviewer] = vote
    frame["votes"] = [ballots[pair] for pair in frame.index]
    frame["reviewers"] = frame["votes"].map(", ".join)  # names in order
    frame["decided_at"] = by_pair["decided_at"].max()
    frame["stale"] = _stale(votes, fingerprints).groupby([votes[c] for c in PAIR]).any()
    return frame.reset_index().sort_values("id", ascending=False, ignore_index=True)[columns]


def _stale(frame: pd.DataFrame, fingerprints: dict[str, str] | None) -> pd.Series:
    """Whether each decision saw a listing that has changed since (when it recorded what it saw) or is gone."""
    if fingerprints is None:
        return pd.Series(False, index=frame.index)
    stale = pd.Series(False, index=frame.index)
    for side in ("a", "b"):
        # looked up one decision at a time: Series.map(dict) first turns the whole dict into a Series (a million)
        now = pd.Series([fingerprints.get(p) for p in frame[f"posting_id_{side}"]], index=frame.index, dtype=object)
        seen = frame[f"fingerprint_{side}"]
        stale |= now.isna() | (seen.notna() & (seen != now))
    return stale
