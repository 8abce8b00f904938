"""Batch rerank: one query against up to 50 document lines, as a sortable table and a CSV."""

from __future__ import annotations

import csv
import io

import streamlit as st

from console import session, views
from console.errors import ConsoleError, ErrorKind
from console.models import RerankRow

MAX_DOCUMENTS = 50
_ROWS = "batch.rows"


def document_lines(raw: str) -> list[str]:
    """One document per non-blank line, surrounding spaces dropped."""
    return [line.strip() for line in raw.splitlines() if line.strip()]


def table_rows(rows: list[RerankRow], thresholds: session.Thresholds) -> list[dict[str, object]]:
    """Best first, with the band from this session's thresholds and the 1-based input line."""
    ordered = sorted(rows, key=lambda row: row.score, reverse=True)
    return [
        {
            "rank": rank,
            "line": row.index + 1,
            "score": round(row.score, 3),
            "band": thresholds.band(row.score),
            "document": row.document,
        }
        for rank, row in enumerate(ordered, start=1)
    ]


def to_csv(table: list[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["rank", "line", "score", "band", "document"])
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()


def _run(query: str, documents: list[str]) -> None:
    if not query.strip():
        raise ConsoleError(ErrorKind.INVALID, "Type a query.")
    if not documents:
        raise ConsoleError(ErrorKind.INVALID, "Give at least one document line.")
    if len(documents) > MAX_DOCUMENTS:
        raise ConsoleError(
            ErrorKind.TOO_LARGE,
            f"Too many documents: {len(documents)} lines; the batch page takes at most "
            f"{MAX_DOCUMENTS}. Remove {len(documents) - MAX_DOCUMENTS} lines.",
        )
    with st.spinner(f"Reranking {len(documents)} documents…"):
        rows = session.client().rerank(query, documents, session.instruction_to_send())
    # Kept so the table survives reruns (e.g. clicking the download button).
    st.session_state[_ROWS] = rows


def render() -> None:
    """Draw the page."""
    st.header("Batch rerank")
    query = st.text_input("Query", key="batch.query")
    raw = st.text_area(
        f"Documents, one per line (at most {MAX_DOCUMENTS})", key="batch.documents", height=240
    )
    documents = document_lines(raw)
    st.caption(f"{len(documents)} document lines")
    if st.button("Rerank", type="primary", key="batch.run"):
        st.session_state.pop(_ROWS, None)
        try:
            _run(query, documents)
        except ConsoleError as exc:
            views.show_error(exc)
            return
    rows: list[RerankRow] | None = st.session_state.get(_ROWS)
    if not rows:
        return
    table = table_rows(rows, session.thresholds())
    colours = {band: f"color: {colour}" for band, colour in views.BAND_COLOURS.items()}
    styled = _styled(table, colours)
    st.dataframe(styled, hide_index=True, width="stretch")
    st.caption("Bands of the model score, by this session's thresholds (see Settings).")
    st.download_button(
        "Download CSV", to_csv(table), file_name="rerank.csv", mime="text/csv", key="batch.csv"
    )


def _styled(table: list[dict[str, object]], colours: dict[str, str]) -> object:
    import pandas as pd  # streamlit depends on pandas; imported here to keep start-up light

    frame = pd.DataFrame(table)
    return frame.style.format({"score": "{:.3f}"}).map(
        lambda band: colours.get(str(band), ""), subset=["band"]
    )
