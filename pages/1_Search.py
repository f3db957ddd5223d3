"""Search: find listings by words, by posting id or by a photo; each result opens the inspector."""
import streamlit as st

from matcher import ui

with ui.friendly_errors():
    ex, name, folder = ui.open_catalogue()
    st.title("Search")
    how = st.radio("Search by", ["Words", "Posting id", "Photo"], horizontal=True, key="search_by")
    found, scores = [], None
    if how == "Words":
        words = st.text_input("Words in the title", placeholder="e.g. kopi 200gr", key="search_words", max_chars=200)
        found = ex.search_titles(words)
    elif how == "Posting id":
        found = ex.search_ids(st.text_input("Posting id (or its beginning)", key="search_id", max_chars=200))
    else:
        upload = st.file_uploader("A photo of the product", type=["jpg", "jpeg", "png", "webp"], key="search_photo")
        if upload is not None:
            try:
                found, scores = ex.search_photo(ui.uploaded_file(upload))
            except ValueError as error:
                st.error(f"That file cannot be used as a photo: {error}.")
            else:
                if not len(found):
                    st.warning("This catalogue has no photo channel to search with (it was built without photos).")
    if len(found):
        st.caption(f"{len(found)} listings" + (" (the first 60)" if len(found) >= 60 else ""))
        thumbs = ui.thumbnails(str(folder))
        columns = st.columns(5)
        for slot, position in enumerate(found):
            row = ex.listings.iloc[position]
            with columns[slot % 5].container(border=True):
                st.image(thumbs.thumbnail(row["image"]), width="stretch")
                st.markdown(ui.titles_html(row["title"], ""), unsafe_allow_html=True)
                label = f"{row['posting_id']}" + (f" · photo {scores[slot]:.2f}" if scores is not None else "")
                st.caption(label)
                if st.button("Inspect", key=f"inspect_{position}"):
                    ui.inspect(row["posting_id"])
    elif how != "Photo":
        st.info("Type to search the catalogue's titles or ids.")
