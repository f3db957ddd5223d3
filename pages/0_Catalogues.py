"""matcher's home page (placeholder until the moderators' app lands): the demo catalogue and its matches."""
import json
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from matcher.matching import UnionRule
from matcher.workspace import ensure_demo

st.set_page_config(page_title="matcher", layout="wide")
st.title("matcher")
st.caption("Find the same product sold by many sellers, from each listing's title and photo.")


@st.cache_resource(show_spinner=False)
def demo_model():
    bar = st.progress(0.0, text="Preparing the demo catalogue (first start only)")
    folder = ensure_demo(progress=lambda fraction, message: bar.progress(fraction, text=message), log=lambda m: None)
    bar.empty()
    return folder


@st.cache_data(show_spinner=False)
def load(folder: str):
    """The build's outputs, with the rule applied to the whole table once per process, not per rerun."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    table = pd.read_parquet(folder / "neighbours.parquet")
    rule = UnionRule.from_dict(manifest["rule"])
    table["match"], table["margin"] = rule.matches(table), rule.margin(table)
    return manifest, pd.read_parquet(folder / "listings.parquet"), table.set_index("query")


def plain(text: str) -> str:
    """A seller's title shown as typed: Streamlit labels are markdown, so its markup is escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", text)


folder = demo_model()
manifest, listings, table = load(str(folder))
channels = [*manifest["channels"], *(["photo embeddings"] if manifest["image"] else []),
            *(["pHash"] if manifest["phash"] else [])]
named = " and ".join([", ".join(channels[:-1]), channels[-1]] if len(channels) > 1 else channels)
st.info(f"This is the generated demo catalogue (invented brands, drawn photos), built with {named}: "
        f"{manifest['catalog']['listings']:,} listings, {manifest['neighbour_pairs']:,} candidate pairs.")
if manifest["tuning"]:
    st.metric(f"Mean F1 on held-out groups, strategy {manifest['strategy']}", f"{manifest['tuning']['mean_f1']:.3f}")

words = st.text_input("Search titles", placeholder="e.g. kopi 200gr")
hits = listings[listings["title"].str.contains(words, case=False, regex=False)] if words else listings.head(0)
st.write(f"{len(hits):,} listings" if words else "Type a word to search.")
for position, row in hits.head(20).iterrows():
    with st.expander(plain(row["title"]) or "(no title)"):
        near = table.loc[[position]] if position in table.index else table.iloc[:0]
        near = near.sort_values(["match", "margin"], ascending=False).head(10)
        near.insert(0, "title", listings["title"].to_numpy()[near["candidate"].to_numpy()])
        st.text(f"posting_id {row['posting_id']}, group {row['label_group']}")
        st.dataframe(near.drop(columns=["candidate"]), hide_index=True)
