"""The landing page at the root URL: is the sidecar up, what can its model judge, and where
each page lives (every page has its own URL, so links and bookmarks open it directly)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from console import session, views, wording
from console.models import Readiness


def _backend() -> None:
    st.subheader("Sidecar")
    readiness = session.readiness()
    if not isinstance(readiness, Readiness):
        views.show_error(readiness)
        return
    if readiness.ready:
        st.success(f"Ready · model {readiness.detail or 'loaded'}")
    else:
        st.warning(f"Not ready: {readiness.detail}")
    if readiness.capabilities is None:
        st.caption("This sidecar does not publish what its model can judge.")
        return
    st.markdown("**What the model can judge**")
    for line in wording.capability_lines(readiness.capabilities):
        st.markdown(f"- {line}")
    st.caption(
        "What it cannot judge (an image on a text-only model, a script it cannot read) is "
        "passed through in OpenSearch's order, and the search preview says so."
    )


def render(pages: Sequence[StreamlitPage]) -> None:
    """Draw the page; `pages` are the others, linked by their URLs."""
    st.header("Lychee rerank console")
    st.caption(f"Storefront index: {session.config().index}")
    for page in pages:
        st.page_link(page, label=f"{page.title}  ·  /{page.url_path}")
    _backend()
