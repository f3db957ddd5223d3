"""Groups: browse the groups the rule and the moderators' decisions make; move listings out, merge groups, export.

Edits are recorded as the pair decisions they imply (matcher.group_edits), so
they survive rebuilds and show in the review log like any other decision.
"""
import streamlit as st

from matcher import ui
from matcher.export import csv_bytes, export_groups, groups_frame, submission_frame
from matcher.group_edits import merge, move_out

PER_PAGE = 8
SHOWN = 12  # members shown per group: two rows of photos, enough to judge it


with ui.friendly_errors():
    ex, name, folder = ui.open_catalogue()
    store = ui.reviews()
    st.title("Groups")
    ui.toast_last_decision()
    label, rule = ui.current_rule(ex, folder)
    decisions = store.for_grouping(name, ui.fingerprints(str(folder)))
    applied = ex.apply(rule)
    groups = ex.groups(applied, decisions)
    members = groups.members()
    big = sorted((g for g, m in enumerate(members) if len(m) > 1), key=lambda g: (-len(members[g]), g))
    st.caption(f"Rule: {label} · {len(big):,} groups of two or more · {len(decisions):,} moderator decisions applied"
               + (f" · {groups.dropped['conflicts']} rejected pairs forced together by confirmations"
                  if groups.dropped.get("conflicts") else ""))
    wanted = st.text_input("Show the group of posting id", max_chars=200, key="groups_find").strip()
    if wanted:
        position = ex.position(wanted)
        if position is None:
            st.warning(f"No listing has the posting id {wanted!r}.")
            shown = []
        else:
            shown = [groups.labels[position]]
    else:
        pages = max(1, -(-len(big) // PER_PAGE))
        page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="groups_page")
        shown = big[(page - 1) * PER_PAGE: page * PER_PAGE]
    thumbs = ui.thumbnails(str(folder))
    editable = bool(ui.reviewer())
    for g in shown:
        ids = ex.posting_ids[members[g]]
        with st.container(border=True):
            st.markdown(f"**{groups.ids[members[g][0]]}** · {len(ids)} listing{'s' if len(ids) > 1 else ''}")
            columns = st.columns(6)
            for slot, position in enumerate(members[g][:None if wanted else SHOWN]):
                with columns[slot % 6]:
                    st.image(thumbs.thumbnail(ex.listings["image"].iat[position]), width="stretch")
                    st.markdown(ui.titles_html(ex.titles[position], ""), unsafe_allow_html=True)
                    st.caption(ex.posting_ids[position])
                    if len(ids) > 1 and st.button("Move out", key=f"out_{position}", disabled=not editable):
                        ui.decide(store, name, folder, move_out(ex.posting_ids[position], ids))
            if len(ids) > SHOWN and not wanted:
                st.caption(f"and {len(ids) - SHOWN} more: show the group by one of its posting ids to see them all")
    with st.form("merge"):
        st.markdown("**Merge two groups**: give a posting id from each.")
        cells = st.columns(2)
        first = cells[0].text_input("Listing in the first group", key="merge_first")
        second = cells[1].text_input("Listing in the second group", key="merge_second")
        if st.form_submit_button("Merge", disabled=not editable, key="merge_submit"):
            a, b = ex.position(first.strip()), ex.position(second.strip())
            if a is None or b is None:
                st.warning("Both posting ids must be listings of this catalogue.")
            elif groups.labels[a] == groups.labels[b]:
                st.info("They are already in one group.")
            else:
                ui.decide(store, name, folder, merge(
                    ex.posting_ids[members[groups.labels[a]]], ex.posting_ids[members[groups.labels[b]]],
                    lambda p, q: ex.pair_margin(applied, ex.position(p), ex.position(q))))
    if not editable:
        st.caption("Type your name in the sidebar to edit groups.")

    st.subheader("Export")
    confirmed_only = st.toggle("Confirmed groups only (moderators' confirmed pairs, nothing from the model)",
                               value=False, key="export_confirmed")
    if confirmed_only:
        groups = export_groups(ex.table, rule, ex.posting_ids, decisions, ex.grouping, confirmed_only=True)
    exported = groups_frame(groups, ex.posting_ids, decisions)
    cells = st.columns(2)
    # The files are made when a button is clicked, not on every rerun of the page.
    cells[0].download_button("Groups CSV", lambda: csv_bytes(exported), file_name=f"{name}-groups.csv",
                             mime="text/csv")
    cells[1].download_button("Submission CSV", lambda: csv_bytes(submission_frame(groups, ex.posting_ids)),
                             file_name=f"{name}-submission.csv", mime="text/csv")
    st.dataframe(exported.head(200), hide_index=True)
