"""Catalogues, the home page: pick a built catalogue, or import and build a new one (the demo is built on first start)."""
import html

import streamlit as st

from matcher import ui
from matcher.catalog import CatalogError
from matcher.imports import ImportRefused, build_catalogue, import_catalogue
from matcher.workspace import list_catalogues

JUST_BUILT = "matcher_just_built"  # the catalogue an import just built, opened on the rerun that follows


def build_with_progress(name: str, root) -> None:
    with ui.progress_bar() as progress:
        progress(0.0, f"Building {name}")
        build_catalogue(name, root, progress=progress)


with ui.friendly_errors():
    st.title("matcher")
    st.caption("Find the same product sold by many sellers, from each listing's title and photo; "
               "review, tune and export the matches.")
    root = ui.settings().artifacts
    ui.demo_folder()
    catalogues = list_catalogues(root)
    ready = [c for c in catalogues if c.status == "ready"]
    current = str(ui.current_folder())
    if built := st.session_state.pop(JUST_BUILT, None):  # open the catalogue just imported
        current = str(next((c.model for c in ready if c.name == built["name"]), current))
        st.session_state.pop("home_catalogue", None)
    names = [c.name for c in ready]
    index = next((i for i, c in enumerate(ready) if str(c.model) == current), 0)
    picked = st.selectbox("Catalogue", names, index=index, key="home_catalogue")
    info = ready[names.index(picked)]
    st.session_state[ui.CATALOGUE] = str(info.model)
    ex, name, folder = ui.open_catalogue()
    cells = st.columns(4)
    cells[0].metric("listings", f"{info.listings:,}")
    cells[1].metric("candidate pairs", f"{ex.manifest['neighbour_pairs']:,}")
    cells[2].metric("strategy", info.strategy or "union")
    if info.mean_f1 is not None:
        cells[3].metric("mean F1 on held-out groups", f"{info.mean_f1:.3f}")
    channels = [*ex.manifest["channels"], *(["photo embeddings"] if ex.manifest["image"] else []),
                *(["pHash"] if ex.manifest["phash"] else [])]
    st.write(f"Channels: {', '.join(channels)}. Built {info.built_at}."
             + (" This is the generated demo catalogue (invented brands, drawn photos)." if info.name == "demo" else ""))
    for problem in info.problems:
        st.warning(problem)
    st.page_link("pages/1_Search.py", label="Search listings", icon=":material/search:")
    st.page_link("pages/3_Thresholds.py", label="Tune thresholds", icon=":material/tune:")
    st.page_link("pages/4_Review.py", label="Review matches", icon=":material/fact_check:")

    unbuilt = [c for c in catalogues if c.status != "ready"]
    if unbuilt:
        st.subheader("Not ready")
        for entry in unbuilt:
            cells = st.columns([4, 1])
            cells[0].markdown(f"**{html.escape(entry.name)}** · {entry.status}: {html.escape(' '.join(entry.problems))}")
            if entry.status == "not built" and cells[1].button("Build", key=f"build_{entry.name}"):
                build_with_progress(entry.name, root)
                st.rerun()

    st.subheader("Import a catalogue")
    limit = ui.settings().upload_mb
    with st.form("import"):
        new_name = st.text_input("Name (letters, digits, - and _)", max_chars=64)
        csv = st.file_uploader(f"Catalogue CSV (posting_id, title, image[, image_phash, label_group]; up to {limit} MB)",
                               type=["csv", "txt"])
        photos = st.file_uploader("Photos as a zip (optional)", type=["zip"])
        roots = ui.settings().image_roots
        folder_choice = st.text_input("…or a photo folder on the server", disabled=not roots,
                                      help="Allowed under: " + (", ".join(map(str, roots)) or "none configured "
                                                                "(set MATCHER_IMAGE_ROOTS)"))
        overwrite = st.checkbox("Replace a catalogue of the same name")
        submitted = st.form_submit_button("Import and build")
    if submitted:
        if csv is None:
            st.warning("Choose a CSV file to import.")
        else:
            try:
                imported = import_catalogue(new_name.strip(), csv, root, images_zip=photos,
                                            image_folder=folder_choice.strip() or None, overwrite=overwrite)
            except (ImportRefused, CatalogError) as error:
                st.error(str(error))
            else:
                st.text(imported.summary())
                build_with_progress(imported.name, root)
                st.session_state[JUST_BUILT] = {"name": imported.name, "summary": imported.summary()}
                st.rerun()
    if built:
        st.success(f"{built['name']} is built and open: search it, tune it or review it from the sidebar.")
        st.text(built["summary"])
