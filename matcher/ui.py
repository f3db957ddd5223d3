"""What every page of the Streamlit app shares: the open catalogue, the reviewer, the rule in force.

The only module of matcher that imports Streamlit; the engine never imports it.
Built catalogues and the review store are loaded once per process and shared
by every session (st.cache_resource); a session's choices (catalogue,
reviewer, thresholds) live in its session state, kept across pages.
"""
from __future__ import annotations

import hashlib
import html
import traceback
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from matcher.explore import Explorer
from matcher.highlight import highlight
from matcher.matching import UnionRule
from matcher.review import ReviewStore, catalogue_fingerprints, catalogue_name
from matcher.settings import load_settings
from matcher.thumbnails import Thumbnails
from matcher.workspace import cache_root, ensure_demo

CATALOGUE, REVIEWER, RULES, INSPECT = "matcher_catalogue", "matcher_reviewer", "matcher_rules", "matcher_inspect"
LAST_DECISION = "matcher_last_decision"  # what the last click recorded, told once by toast_last_decision


@st.cache_resource(show_spinner=False)
def settings():
    return load_settings()


@st.cache_resource(show_spinner="Loading the catalogue's neighbour table")
def explorer(folder: str) -> Explorer:
    return Explorer(folder)


@st.cache_resource(show_spinner=False)
def _store(url: str) -> ReviewStore:
    return ReviewStore(url)


def reviews() -> ReviewStore:
    """The review store the settings name, opened once per process."""
    return _store(settings().database_url)


@st.cache_resource(show_spinner=False)
def thumbnails(folder: str) -> Thumbnails:
    ex = explorer(folder)
    return Thumbnails(ex.manifest["catalog"]["image_dir"] or None, cache_root())


@st.cache_resource(show_spinner=False)
def fingerprints(folder: str) -> dict[str, str]:
    return catalogue_fingerprints(explorer(folder).listings)


def demo_folder() -> Path:
    """The demo's build, made on first start with a visible progress bar."""
    with progress_bar() as progress:
        return ensure_demo(settings().artifacts, progress=progress, log=lambda message: None)


@contextmanager
def progress_bar():
    """A `progress(fraction, message)` callback drawing a bar (only once it is first called), removed after."""
    bar = None

    def progress(fraction: float, message: str) -> None:
        nonlocal bar
        bar = bar or st.progress(0.0, text=message)
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.empty()


def current_folder() -> Path:
    """The catalogue this session works on: the one picked on the home page, else the demo."""
    chosen = st.session_state.get(CATALOGUE)
    if chosen and (Path(chosen) / "manifest.json").is_file():
        return Path(chosen)
    folder = demo_folder()
    st.session_state[CATALOGUE] = str(folder)
    return folder


def open_catalogue() -> tuple[Explorer, str, Path]:
    """(explorer, catalogue name, folder) for this session, with the sidebar drawn."""
    folder = current_folder()
    ex = explorer(str(folder))
    name = catalogue_name(folder)
    sidebar(name)
    return ex, name, folder


def sidebar(name: str) -> None:
    with st.sidebar:
        st.caption(f"Catalogue: **{html.escape(name)}**")
        typed = st.text_input("Your name (recorded with each decision)", value=st.session_state.get(REVIEWER, ""),
                              key="reviewer_input", max_chars=80)
        st.session_state[REVIEWER] = typed.strip()


def reviewer() -> str:
    return st.session_state.get(REVIEWER, "")


def current_rule(ex: Explorer, folder: Path) -> tuple[str, UnionRule]:
    """(label, rule) in force for this session: what the thresholds page set, else the build's chosen strategy."""
    label, data = st.session_state.get(RULES, {}).get(str(folder), (None, None))
    if data is None:
        return f"build ({ex.manifest.get('strategy', 'union')})", ex.rule
    return label, UnionRule.from_dict(data)


def set_rule(folder: Path, label: str, rule: UnionRule) -> None:
    st.session_state.setdefault(RULES, {})[str(folder)] = (label, rule.to_dict())


def titles_html(title: str, other: str) -> str:
    """A title with shared words and conflicting amounts marked, escaped first (see matcher.highlight)."""
    return f'<div style="font-size:0.95rem;line-height:1.4">{highlight(title, other) or "<i>(no title)</i>"}</div>'


def bar_html(label: str, value: float, good: bool) -> str:
    """One similarity as a small bar with its value."""
    if value != value:  # NaN: the channel has no evidence for this pair
        return f'<div style="font-size:0.8rem;color:#888">{html.escape(label)}: no evidence</div>'
    width = max(0.0, min(1.0, float(value))) * 100
    colour = "#2e9d4b" if good else "#8aa0b8"
    return (f'<div style="font-size:0.8rem;display:flex;align-items:center;gap:6px">'
            f'<span style="width:90px">{html.escape(label)}</span>'
            f'<span style="flex:1;background:#eee;height:8px;border-radius:4px">'
            f'<span style="display:block;width:{width:.0f}%;background:{colour};height:8px;border-radius:4px"></span>'
            f'</span><span style="width:38px;text-align:right">{value:.2f}</span></div>')


def pair_key(a: str, b: str) -> tuple[str, str]:
    """A pair as the review store keys it: its two posting ids in order."""
    return (str(a), str(b)) if str(a) < str(b) else (str(b), str(a))


def decided_pairs(store: ReviewStore, name: str, folder: Path) -> dict[tuple[str, str], str]:
    """Each decided pair's standing ("confirmed", "rejected", "conflict", with "stale" when a listing changed)."""
    pairs = store.pairs(name, fingerprints(str(folder)))
    return {(a, b): decision + (" (stale)" if stale else "")
            for a, b, decision, stale in pairs[["posting_id_a", "posting_id_b", "decision", "stale"]].itertuples(index=False)}


def decide(store: ReviewStore, name: str, folder: Path, decisions, resolve: bool = False) -> None:
    """Record the decisions (see `record`), then redraw so every view shows them."""
    record(store, name, folder, decisions, resolve)
    st.rerun()


def record(store: ReviewStore, name: str, folder: Path, decisions, resolve: bool = False) -> None:
    """Record (a, b, decision) triples, each its own transaction, with the listings' fingerprints as the
    reviewer saw them (or settle conflicts, with `resolve`), and say so on the next draw.

    As a button's on_click it runs before the page is drawn again: one script run per
    decision instead of two, which is what moderators clicking at once queue behind.
    """
    with friendly_errors():
        prints = fingerprints(str(folder))
        write = store.resolve if resolve else store.record
        for a, b, decision in decisions:
            write(name, a, b, decision, reviewer(), fingerprints=(prints.get(str(a)), prints.get(str(b))))
        a, b, decision = decisions[0]
        told = f"{'resolved ' if resolve else ''}{decision}: {a} – {b}"
        st.session_state[LAST_DECISION] = told if len(decisions) == 1 else f"{len(decisions)} pair decisions"


def toast_last_decision() -> None:
    """Tell the moderator the decision the last click recorded (set by `record`), once."""
    if last := st.session_state.pop(LAST_DECISION, None):
        st.toast(f"Saved {last}")


def uploaded_file(upload) -> Path:
    """An uploaded file saved under the cache folder (engine code reads paths), named by its content."""
    data = upload.getvalue()
    path = cache_root() / "uploads" / (hashlib.sha1(data).hexdigest() + Path(upload.name).suffix.lower()[:8])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def inspect(posting_id: str) -> None:
    """Open the inspector on a listing, keeping the way back."""
    history = st.session_state.setdefault("matcher_history", [])
    current = st.session_state.get(INSPECT)
    if current and current != posting_id:
        history.append(current)
    st.session_state[INSPECT] = posting_id
    st.switch_page("pages/2_Inspect.py")


@contextmanager
def friendly_errors():
    """Any failure is shown as one plain message, never a traceback; the details go to the server log."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - Streamlit's reruns and stops are BaseExceptions: they pass
        traceback.print_exc()
        st.error(f"Something went wrong: {error}. Nothing you decided was lost; reload the page to go on.")
