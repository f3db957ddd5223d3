"""Inspect: one listing and its candidates side by side, with every channel's evidence and the rule's reason."""
import streamlit as st

from matcher import ui
from matcher.matching import FUSED

with ui.friendly_errors():
    ex, name, folder = ui.open_catalogue()
    st.title("Inspect")
    ui.toast_last_decision()
    typed = st.text_input("Posting id", value=st.session_state.get(ui.INSPECT, ""), max_chars=200)
    position = ex.position(typed.strip()) if typed.strip() else None
    if typed.strip() and position is None:
        st.warning(f"No listing has the posting id {typed.strip()!r} in this catalogue. Search for it by words instead.")
    if position is None:
        if not typed.strip():
            st.info("Open a listing from Search, or type its posting id.")
        st.stop()
    st.session_state[ui.INSPECT] = ex.posting_ids[position]
    label, rule = ui.current_rule(ex, folder)
    applied = ex.apply(rule)
    thumbs = ui.thumbnails(str(folder))
    store = ui.reviews()
    decided = ui.decided_pairs(store, name, folder)
    listing = ex.listings.iloc[position]
    history = st.session_state.get("matcher_history", [])
    if history and st.button(f"← Back to {history[-1]}"):
        st.session_state[ui.INSPECT] = history.pop()
        st.rerun()

    left, right = st.columns([1, 3])
    with left:
        st.image(thumbs.thumbnail(listing["image"]), width="stretch")
        st.caption(f"{listing['posting_id']}" + (f" · group {listing['label_group']}" if listing.get("label_group") else ""))
        st.markdown(ui.titles_html(listing["title"], ""), unsafe_allow_html=True)
        st.caption(f"Rule: {label}")
    with right:
        near = ex.neighbours(position, applied)
        only = st.toggle("Matches only", value=False)
        shown = near[near["match"]] if only else near.head(12)
        st.caption(f"{int(near['match'].sum())} matches among {len(near)} candidates")
        for _, row in shown.iterrows():
            key = ui.pair_key(listing["posting_id"], row["posting_id"])
            with st.container(border=True):
                photo, words, evidence, actions = st.columns([1, 3, 2, 1])
                photo.image(thumbs.thumbnail(ex.listings["image"].iat[row["candidate"]]), width="stretch")
                words.markdown(ui.titles_html(row["title"], listing["title"]), unsafe_allow_html=True)
                words.caption(f"{row['posting_id']} · {row['reason']}")
                bars = [ui.bar_html(c, row[c], c in rule.active() and row[c] >= rule.active()[c])
                        for c in [*ex.channels, *([FUSED] if FUSED in row else [])]]
                evidence.markdown("".join(bars), unsafe_allow_html=True)
                state = decided.get(key)
                actions.markdown(f"**{'match' if row['match'] else 'no match'}**" + (f" · {state}" if state else ""))
                if actions.button("Open", key=f"open_{row['posting_id']}"):
                    ui.inspect(row["posting_id"])
                for label, decision in (("Confirm", "confirmed"), ("Reject", "rejected")):
                    actions.button(label, key=f"{label.lower()}_{row['posting_id']}", disabled=not ui.reviewer(),
                                   on_click=ui.record,
                                   args=(store, name, folder, [(listing["posting_id"], row["posting_id"], decision)]))
        if not ui.reviewer():
            st.caption("Type your name in the sidebar to confirm or reject matches.")
