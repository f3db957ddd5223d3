"""Review: candidate pairs one at a time, most uncertain first or group by group; confirm, reject, skip, undo.

Every click is one transaction in the review store's append-only log, keyed by
posting ids, so it survives rebuilds, reloads and other moderators.
"""
import streamlit as st

from matcher import ui
from matcher.matching import FUSED



def undo(store, name: str, who: str) -> None:
    with ui.friendly_errors():
        undone = store.undo(name, who)
        st.session_state[ui.LAST_DECISION] = (f"undo of {undone['decision']} on {undone['posting_id_a']} – "
                                                     f"{undone['posting_id_b']}") if undone else "nothing to undo"


def pair_view(ex, thumbs, position, other):
    listing = ex.listings.iloc[position]
    with st.container(border=True):
        st.image(thumbs.thumbnail(listing["image"]), width=300)
        st.markdown(ui.titles_html(listing["title"], ex.titles[other]), unsafe_allow_html=True)
        st.caption(listing["posting_id"])


with ui.friendly_errors():
    ex, name, folder = ui.open_catalogue()
    store = ui.reviews()
    st.title("Review")
    who = ui.reviewer()
    if not who:
        st.info("Type your name in the sidebar to start reviewing: every decision records who made it.")
        st.stop()
    label, rule = ui.current_rule(ex, folder)
    order = st.radio("Order", ["Most uncertain first", "By group"], horizontal=True, key="review_order")
    applied = ex.apply(rule)
    groups = ex.groups(applied, store.for_grouping(name, ui.fingerprints(str(folder)))) if order == "By group" else None
    queue = ex.review_queue(applied, store.reviewed(name, who), groups, limit=50)
    mine, everyone = store.progress(name, who), store.progress(name)
    top = st.columns(4)
    top[0].metric("you decided", f"{mine['decided']:,}")
    top[1].metric("confirmed / rejected (all)", f"{everyone['confirmed']:,} / {everyone['rejected']:,}")
    top[2].metric("conflicts", f"{everyone['conflict']:,}")
    top[3].metric("skipped (all)", f"{everyone['skipped']:,}")
    st.caption(f"Rule: {label}. Keys: Y same product, N different, S skip, U undo.")
    ui.toast_last_decision()
    if queue.empty:
        st.success("Nothing left to review under this rule. Move a threshold or review by group for more.")
    else:
        pair = queue.iloc[0]
        thumbs = ui.thumbnails(str(folder))
        st.subheader(f"Same product? {'The rule says yes' if pair['match'] else 'The rule says no'} "
                     f"(margin {pair['margin']:+.2f})")
        left, right = st.columns(2)
        with left:
            pair_view(ex, thumbs, pair["a"], pair["b"])
        with right:
            pair_view(ex, thumbs, pair["b"], pair["a"])
        evidence = ex.neighbours(int(pair["a"]), applied)
        evidence = evidence[evidence["candidate"] == pair["b"]]
        if len(evidence):
            row = evidence.iloc[0]
            st.markdown("".join(ui.bar_html(c, row[c], c in rule.active() and row[c] >= rule.active()[c])
                                for c in [*ex.channels, *([FUSED] if FUSED in row else [])]), unsafe_allow_html=True)
            st.caption(row["reason"])
        buttons = st.columns(4)
        a, b = pair["posting_id_a"], pair["posting_id_b"]
        for cell, (label, decision) in zip(buttons, (("Same product (Y)", "confirmed"), ("Different (N)", "rejected"),
                                                     ("Skip (S)", "skipped"))):
            cell.button(label, type="primary" if decision == "confirmed" else "secondary", shortcut=label[-2],
                        width="stretch", on_click=ui.record, args=(store, name, folder, [(a, b, decision)]))
        buttons[3].button("Undo (U)", shortcut="U", width="stretch", on_click=undo, args=(store, name, who))
        st.caption(f"{len(queue)}{'+' if len(queue) == 50 else ''} pairs waiting in this order.")

    conflicts = store.pairs(name, ui.fingerprints(str(folder)))
    conflicts = conflicts[conflicts["decision"] == "conflict"]
    if len(conflicts):
        st.subheader(f"Conflicts to resolve ({len(conflicts)})")
        st.caption("Moderators disagree on these pairs; they are left out of groups and exports until resolved.")
        for _, row in conflicts.head(20).iterrows():
            a, b = row["posting_id_a"], row["posting_id_b"]
            cells = st.columns([4, 1, 1])
            votes = ", ".join(f"{k}: {v}" for k, v in row["votes"].items())
            cells[0].markdown(ui.titles_html(ex.titles[ex.position(a)] if ex.position(a) is not None else a, "")
                              + ui.titles_html(ex.titles[ex.position(b)] if ex.position(b) is not None else b, ""),
                              unsafe_allow_html=True)
            cells[0].caption(f"{a} – {b} · {votes}")
            for cell, decision in zip(cells[1:], ("confirmed", "rejected")):
                if cell.button(f"Resolve: {decision}", key=f"resolve_{decision}_{a}_{b}"):
                    ui.decide(store, name, folder, [(a, b, decision)], resolve=True)
