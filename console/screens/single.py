"""Single analysis: one query, one document, the score and what in the text drove it."""

from __future__ import annotations

import streamlit as st

from console import session, views
from console.errors import ConsoleError, ErrorKind
from console.models import ScoreResult, Side


def _side(label: str, key: str, text_height: int) -> tuple[str, object | None]:
    text = st.text_area(f"{label} text", key=f"single.{key}.text", height=text_height)
    image = st.file_uploader(
        f"{label} image",
        type=views.IMAGE_TYPES,
        key=f"single.{key}.image",
        max_upload_size=views.MAX_UPLOAD_MB,
    )
    return text, image


def _show_result(result: ScoreResult, document_text: str) -> None:
    band = session.thresholds().band(result.score)
    score_col, band_col = st.columns(2)
    score_col.metric("Score", f"{result.score:.3f}")
    band_col.markdown(f"Band of the model score: {views.band_markdown(band)}")
    if result.band and result.band != band:
        band_col.caption(f"The sidecar's rules say **{result.band}**.")
    if not document_text.strip():
        return
    st.subheader("What drove the score")
    if not result.fragments:
        st.caption("The sidecar returned no fragments for this document.")
    st.markdown(views.highlight_html(document_text, result.fragments), unsafe_allow_html=True)
    if result.fragments:
        st.caption("Green raised the score, red lowered it; hover a fragment for its impact.")
        rows = sorted(result.fragments, key=lambda f: abs(f.impact), reverse=True)
        st.dataframe(
            [{"fragment": f.text, "impact": f.impact} for f in rows],
            hide_index=True,
            column_config={"impact": st.column_config.NumberColumn(format="%+.3f")},
        )


def render() -> None:
    """Draw the page."""
    st.header("Single analysis")
    left, right = st.columns(2)
    with left:
        query_text, query_upload = _side("Query", "query", 100)
    with right:
        doc_text, doc_upload = _side("Document", "document", 200)
    if not st.button("Score", type="primary", key="single.score"):
        return
    try:
        query = Side(query_text, views.read_upload(query_upload, "query"))
        document = Side(doc_text, views.read_upload(doc_upload, "document"))
        if query.empty or document.empty:
            raise ConsoleError(
                ErrorKind.INVALID, "Give the query and the document each a text or an image."
            )
        with st.spinner("Scoring…"):
            result = session.client().score(query, document, session.instruction_to_send())
    except ConsoleError as exc:
        views.show_error(exc)
        return
    _show_result(result, doc_text)
