"""Thresholds: move each channel's threshold and watch matches, groups, precision and recall follow.

Everything is re-filtered from the stored neighbour table (loaded once per
process); only the fragment below reruns when a slider moves.
"""
import plotly.graph_objects as go
import streamlit as st

from matcher import ui
from matcher.matching import OFF, UnionRule



def chart_sweep(sweep, channel: str, threshold: float):
    figure = go.Figure()
    for column, colour in (("precision", "#1f77b4"), ("recall", "#ff7f0e"), ("f1", "#2ca02c")):
        if column in sweep:
            figure.add_scatter(x=sweep["threshold"], y=sweep[column], name=column, line={"color": colour})
    if "f1" not in sweep:
        figure.add_scatter(x=sweep["threshold"], y=sweep["pairs"], name="matched pairs")
    if threshold < OFF:
        figure.add_vline(x=threshold, line_dash="dash", line_color="#555")
    figure.update_layout(title=f"Moving {channel} (other thresholds fixed)", height=330,
                         margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_title="threshold")
    return figure


def chart_sizes(sizes):
    figure = go.Figure(go.Bar(x=sizes.index, y=sizes.to_numpy(), marker_color="#6c8ebf"))
    figure.update_layout(title="Groups by size", height=330, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                         xaxis_title="listings in the group", yaxis_title="groups")
    return figure


@st.fragment
def tuner(ex, folder, base_label: str, base: UnionRule):
    thresholds = {}
    columns = st.columns(min(4, max(1, len(base.thresholds))))
    for slot, (channel, value) in enumerate(base.thresholds.items()):
        on = value < OFF
        with columns[slot % len(columns)]:
            used = st.checkbox(f"use {channel}", value=on, key=f"use_{base_label}_{channel}")
            picked = st.slider(channel, 0.20, 1.00, float(value if on else 0.9), 0.01,
                               key=f"slide_{base_label}_{channel}", disabled=not used)
            thresholds[channel] = picked if used else OFF
    rule = UnionRule(thresholds, base.weights, base.rescue, base.max_matches, base.rescue_by, base.mutual)
    figures = st.columns(5)  # filled below the radio's choice, but shown above it
    shown = st.radio("Chart the threshold of", list(thresholds), horizontal=True, key=f"chart_{base_label}")
    tuned = ex.tuned(rule, shown)
    summary = tuned.summary
    figures[0].metric("matched pairs", f"{summary.pairs:,}")
    figures[1].metric("listings matched", f"{summary.matched:,}")
    figures[2].metric("groups (2+)", f"{summary.groups:,}")
    if summary.scores is not None:
        figures[3].metric("mean F1", f"{summary.scores.mean_f1:.3f}")
        figures[4].metric("precision / recall", f"{summary.scores.mean_precision:.2f} / {summary.scores.mean_recall:.2f}")
    left, right = st.columns(2)
    left.plotly_chart(chart_sweep(tuned.sweep, shown, thresholds[shown]), width="stretch")
    right.plotly_chart(chart_sizes(summary.sizes), width="stretch")
    ui.set_rule(folder, f"{base_label} (edited)" if rule.to_dict() != base.to_dict() else base_label, rule)
    return rule


with ui.friendly_errors():
    ex, name, folder = ui.open_catalogue()
    store = ui.reviews()
    st.title("Thresholds")
    profiles = dict(zip(*store.profiles(name)[["name", "rule"]].to_dict("list").values()))
    choices = [f"strategy: {s}" for s in ex.strategies] + [f"profile: {p}" for p in profiles]
    start = st.selectbox("Start from", choices, key="thresholds_start",
                         help="The build's tuned strategies, or a profile saved by a moderator.")
    kind, picked = start.split(": ", 1)
    base = ex.strategies[picked] if kind == "strategy" else UnionRule.from_dict(profiles[picked])
    if ex.labels is None:
        st.caption("This catalogue has no label groups, so precision and recall cannot be shown; "
                   "the counts and group sizes always can.")
    rule = tuner(ex, folder, start, base)
    with st.form("save_profile"):
        profile = st.text_input("Save these thresholds as a profile named", max_chars=60, key="profile_name")
        if st.form_submit_button("Save profile", key="profile_save"):
            if not profile.strip():
                st.warning("Give the profile a name.")
            elif not ui.reviewer():
                st.warning("Type your name in the sidebar first: profiles record who saved them.")
            else:
                store.save_profile(name, profile.strip(), ui.current_rule(ex, folder)[1].to_dict(), ui.reviewer())
                ui.set_rule(folder, f"profile: {profile.strip()}", ui.current_rule(ex, folder)[1])
                st.success(f"Saved profile {profile.strip()!r}; Review and Groups now use it.")
