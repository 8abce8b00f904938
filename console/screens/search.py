"""Search preview: OpenSearch's own order beside the reranked order for a storefront query."""

from __future__ import annotations

import streamlit as st

from console import session, views
from console.client import SidecarClient
from console.errors import ConsoleError
from console.models import Hit, SearchResult

_RESULT = "search.result"


def _image(client: SidecarClient, name: str | None) -> bytes:
    cache: dict[str, bytes] = st.session_state.setdefault("search.images", {})
    if name is None:
        return views.placeholder_image()
    if name not in cache:
        cache[name] = views.displayable(client.catalog_image(name))
    return cache[name]


def _movement(hit: Hit, before: dict[str, int], rank: int) -> str:
    old = before.get(hit.id)
    if old is None:
        return "new"
    if old == rank:
        return "="
    return f"↑{old - rank}" if old > rank else f"↓{rank - old}"


def _draw_hit(client: SidecarClient, hit: Hit, rank: int, note: str, reranked: bool) -> None:
    picture, text = st.columns([1, 3])
    picture.image(_image(client, hit.image_name), width=96)
    text.markdown(f"**{rank}. {hit.title}**  {note}")
    score = f"{hit.score:.3f}" if hit.score is not None else "–"
    explain = hit.explain
    if not reranked or explain is None:
        text.caption(f"score {score}")
        return
    if explain.model_score is None:  # degraded, or beyond the rerank window
        text.caption(f"score {score} · not scored by the model")
        return
    band = views.band_markdown(explain.band or "")
    text.markdown(f"score {score} · model {explain.model_score:.3f} · {band}")
    rules = ", ".join(explain.rules_fired) or "none"
    source = "cached" if explain.cached else "scored now"
    image = f" · image not used: {explain.image_error}" if explain.image_error else ""
    text.caption(f"rules: {rules} · {source}{image}")


def _status(result: SearchResult) -> None:
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items())
    cache = f"cache hits {result.cache_hits}" if result.cache_hits is not None else ""
    detail = " · ".join(part for part in (timings, cache) if part)
    why = f" ({result.reason})" if result.reason else ""
    if result.status == "degraded":
        st.warning(f"Rerank degraded{why}: OpenSearch order kept, no thresholds. {detail}")
    elif result.status == "skipped":
        st.info(f"Rerank skipped{why} for this request. {detail}")
    elif result.status == "ok":
        st.success(f"Reranked. {detail}")
    else:
        st.info("The response carried no rerank status.")


def _columns(client: SidecarClient, original: SearchResult, reranked: SearchResult) -> None:
    _status(reranked)
    left, right = st.columns(2)
    before = {hit.id: rank for rank, hit in enumerate(original.hits, start=1)}
    with left:
        st.subheader("OpenSearch order")
        for rank, hit in enumerate(original.hits, start=1):
            _draw_hit(client, hit, rank, "", reranked=False)
    with right:
        st.subheader("Reranked")
        for rank, hit in enumerate(reranked.hits, start=1):
            _draw_hit(client, hit, rank, _movement(hit, before, rank), reranked=True)


def render() -> None:
    """Draw the page."""
    st.header("Search preview")
    client = session.client()
    try:
        indices = client.indices()
    except ConsoleError as exc:
        views.show_error(exc)
        return
    if not indices:
        st.info("OpenSearch has no indices yet: load the sample catalog first.")
        return
    index = st.selectbox("Index", indices, key="search.index")
    text = st.text_input("Storefront query", key="search.query")
    size = st.slider("Hits", min_value=5, max_value=50, value=10, step=5, key="search.size")
    if st.button("Search", type="primary", key="search.run"):
        st.session_state.pop(_RESULT, None)
        if not text.strip():
            st.error("Type a query.")
            return
        try:
            with st.spinner("Searching and reranking…"):
                original = client.search(index, text, size, False, session.instruction())
                reranked = client.search(index, text, size, True, session.instruction())
        except ConsoleError as exc:
            views.show_error(exc)
            return
        st.session_state[_RESULT] = (original, reranked)
    if _RESULT in st.session_state:
        _columns(client, *st.session_state[_RESULT])
