"""matcher's moderators' app: `streamlit run app.py`. Opens on the demo catalogue, built on first start.

This file only lays out the pages; each page is a thin script in pages/ that
calls the engine (matcher/), with the shared session state in matcher.ui.
"""
import streamlit as st

st.set_page_config(page_title="matcher", page_icon=":material/join_inner:", layout="wide")
st.navigation([
    st.Page("pages/0_Catalogues.py", title="Catalogues", icon=":material/folder_open:", default=True),
    st.Page("pages/1_Search.py", title="Search", icon=":material/search:"),
    st.Page("pages/2_Inspect.py", title="Inspect", icon=":material/compare:"),
    st.Page("pages/3_Thresholds.py", title="Thresholds", icon=":material/tune:"),
    st.Page("pages/4_Review.py", title="Review", icon=":material/fact_check:"),
    st.Page("pages/5_Groups.py", title="Groups and export", icon=":material/workspaces:"),
]).run()
