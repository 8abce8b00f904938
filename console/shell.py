"""The console's frame: page setup, navigation between the pages, sidecar status."""

from __future__ import annotations

from functools import partial

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from console import session, wording
from console.models import Readiness
from console.screens import advanced, batch, overview, search, single


def _sidebar_status() -> None:
    client = session.client()
    st.sidebar.caption(f"Sidecar: {client.base_url}")
    readiness = session.refresh_readiness()
    if not isinstance(readiness, Readiness):
        st.sidebar.error(readiness.message, icon=":material/cloud_off:")
        return
    if readiness.ready:
        st.sidebar.success(f"Ready · {readiness.detail or 'model loaded'}")
    else:
        st.sidebar.warning(f"Not ready: {readiness.detail}")
    if readiness.capabilities is not None:
        st.sidebar.caption("  \n".join(wording.capability_lines(readiness.capabilities)))


def pages() -> list[StreamlitPage]:
    """Every page at its own URL path. The overview is the default page: Streamlit serves the
    default page at the root only, so a working page made default would lose its path."""
    working = [
        st.Page(search.render, title="Search preview", url_path="search"),
        st.Page(single.render, title="Single analysis", url_path="single"),
        st.Page(batch.render, title="Batch rerank", url_path="batch"),
        st.Page(advanced.render_instructions, title="Instructions", url_path="instructions"),
        st.Page(advanced.render_settings, title="Settings", url_path="settings"),
    ]
    home = st.Page(
        partial(overview.render, working), title="Overview", url_path="overview", default=True
    )
    return [home, *working]


def main() -> None:
    """Build the navigation and draw the chosen page."""
    st.set_page_config(page_title="Lychee rerank console", page_icon="🍈", layout="wide")
    page = st.navigation(pages())
    _sidebar_status()
    page.run()
