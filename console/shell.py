"""The console's frame: page setup, navigation between the pages, sidecar status."""

from __future__ import annotations

import streamlit as st

from console import session
from console.errors import ConsoleError
from console.screens import advanced, batch, search, single


def _sidebar_status() -> None:
    client = session.client()
    st.sidebar.caption(f"Sidecar: {client.base_url}")
    try:
        readiness = client.readiness()
    except ConsoleError as exc:
        st.sidebar.error(exc.message, icon=":material/cloud_off:")
        return
    if readiness.ready:
        st.sidebar.success(f"Ready · {readiness.detail or 'model loaded'}")
    else:
        st.sidebar.warning(f"Not ready: {readiness.detail}")


def main() -> None:
    """Build the navigation and draw the chosen page."""
    st.set_page_config(page_title="Lychee rerank console", page_icon="🍈", layout="wide")
    pages = [
        st.Page(single.render, title="Single analysis", url_path="single", default=True),
        st.Page(batch.render, title="Batch rerank", url_path="batch"),
        st.Page(search.render, title="Search preview", url_path="search"),
        st.Page(advanced.render, title="Advanced settings", url_path="settings"),
    ]
    page = st.navigation(pages)
    _sidebar_status()
    page.run()
