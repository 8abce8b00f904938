"""Search preview: OpenSearch's own order beside the reranked order for a storefront query,
with what the rules did (removed hits greyed, with the rule and the score).

Opens on the configured storefront index (CONSOLE_INDEX). `?q=...&index=...` in the URL
fills the query and searches at once, so a preview can be shared as a link.
"""

from __future__ import annotations

import html

import streamlit as st

from console import session, views, wording
from console.client import SidecarClient
from console.errors import ConsoleError
from console.models import Hit, RemovedHit, SearchResult

_RESULT = "search.result"
_QUERY = "search.query"
_INDEX = "search.index"
_FROM_URL = "search.from_url"  # the URL's ?q= was applied once; later edits win


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


def _score_line(hit: Hit) -> str:
    """Scores of a reranked hit. The band is the rules' band of the final score (the model
    score after blend and boosts), and says so. `_score` is that final score, except where
    the sidecar adjusts what it shows (a pinned hit is clamped between its neighbours, so
    scores never rise down the page): then the final score is shown beside it."""
    explain = hit.explain
    score = f"{hit.score:.3f}" if hit.score is not None else "–"
    if explain is None:
        return f"score {score}"
    original = ""
    if explain.original_score is not None and f"{explain.original_score:.3f}" != score:
        original = f" (OpenSearch score {explain.original_score:.3f})"
    if explain.beyond_window:
        return f"score {score} · below the reranked top results, in OpenSearch's order{original}"
    if explain.model_score is None:  # degraded or skipped
        return f"score {score} · not scored by the model{original}"
    band = views.band_markdown(explain.band or "")
    final = explain.final_score
    if final is not None and hit.score is not None and abs(final - hit.score) >= 0.0005:
        scores = f"score {score} · final score {final:.3f}"
    else:
        scores = f"final score {score}"
    return f"{scores} · model {explain.model_score:.3f} · {band} band (final score)"


def _draw_hit(client: SidecarClient, hit: Hit, rank: int, note: str, reranked: bool) -> None:
    picture, text = st.columns([1, 3])
    picture.image(_image(client, hit.image_name), width=96)
    text.markdown(f"**{rank}. {hit.title}**  {note}")
    explain = hit.explain
    if not reranked or explain is None:
        score = f"{hit.score:.3f}" if hit.score is not None else "–"
        text.caption(f"OpenSearch score {score}")
        return
    text.markdown(_score_line(hit))
    if explain.model_score is None:
        return
    rules = ", ".join(explain.rules_fired) or "none"
    source = "cached" if explain.cached else "scored now"
    image = f" · image not used: {explain.image_error}" if explain.image_error else ""
    text.caption(f"rules: {rules} · {source}{image}")


def removed_html(hit: RemovedHit) -> str:
    """A removed hit, greyed: its title, id, why it is off the page and its scores."""
    scores = wording.score_words(hit)
    detail = " · ".join(part for part in (wording.removal_words(hit), scores) if part)
    return (
        '<div class="lychee-removed" style="color: #8a8a8a; opacity: 0.75; '
        'border-left: 3px solid #c8c8c8; padding: 2px 10px; margin: 6px 0">'
        f"{html.escape(hit.title)} <code>{html.escape(hit.id)}</code><br>"
        f'<span style="font-size: 0.85em">{html.escape(detail)}</span></div>'
    )


def _draw_removed(removed: list[RemovedHit]) -> None:
    if not removed:
        return
    st.markdown(f"**Removed by rules ({len(removed)})**")
    st.caption("Not on the page: the rules took these out of the reranked results.")
    for hit in removed:
        st.markdown(removed_html(hit), unsafe_allow_html=True)


def _banner(result: SearchResult) -> None:
    said = wording.banner(result)
    {"success": st.success, "info": st.info, "warning": st.warning}[said.tone](said.text)
    for line in wording.note_lines(result.notes):
        st.caption(line)
    if st.toggle("Show timings", key="search.timings"):
        st.caption(_timings(result))


def _timings(result: SearchResult) -> str:
    parts = [f"{stage} {ms:.0f} ms" for stage, ms in result.timings_ms.items()]
    if result.took_ms is not None:
        parts.append(f"OpenSearch took {result.took_ms} ms")
    if result.cache_hits is not None:
        parts.append(f"cache hits {result.cache_hits}")
    if result.model:
        parts.append(f"model {result.model}")
    return " · ".join(parts) or "The sidecar reported no timings."


def _columns(client: SidecarClient, original: SearchResult, reranked: SearchResult) -> None:
    _banner(reranked)
    left, right = st.columns(2)
    before = {hit.id: rank for rank, hit in enumerate(original.hits, start=1)}
    with left:
        st.subheader("OpenSearch order")
        if not original.hits:
            st.caption("OpenSearch found no hits for this page.")
        for rank, hit in enumerate(original.hits, start=1):
            _draw_hit(client, hit, rank, "", reranked=False)
    with right:
        st.subheader("Reranked")
        if not reranked.hits:
            st.caption("No hits on this page.")
        for rank, hit in enumerate(reranked.hits, start=1):
            _draw_hit(client, hit, rank, _movement(hit, before, rank), reranked=True)
        _draw_removed(reranked.removed)


def _pick_index(indices: list[str]) -> str:
    """The index selector, opened on `?index=` or the configured storefront index."""
    wanted = st.query_params.get("index") or session.config().index
    if _INDEX not in st.session_state and wanted in indices:
        st.session_state[_INDEX] = wanted
    index: str = st.selectbox("Index", indices, key=_INDEX)
    if wanted not in indices:
        st.caption(f"The storefront index “{wanted}” is not in OpenSearch (set CONSOLE_INDEX).")
    return index


def _url_query() -> str | None:
    """`?q=` on the first run of this page: fills the box and asks for a search."""
    text = st.query_params.get("q")
    if not text or st.session_state.get(_FROM_URL):
        return None
    st.session_state[_FROM_URL] = True
    st.session_state[_QUERY] = text
    return text


def _search(client: SidecarClient, index: str, text: str, size: int) -> None:
    st.session_state.pop(_RESULT, None)
    if not text.strip():
        st.error("Type a query.")
        return
    instruction = session.instruction_to_send()
    try:
        with st.spinner("Searching and reranking…"):
            original = client.search(index, text, size, False, instruction)
            reranked = client.search(index, text, size, True, instruction)
    except ConsoleError as exc:
        views.show_error(exc)
        return
    st.session_state[_RESULT] = (original, reranked)


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
    index_box, query_box, size_box = st.columns([1, 3, 1])
    with index_box:
        index = _pick_index(indices)
    from_url = _url_query()
    text = query_box.text_input("Storefront query", key=_QUERY)
    size = size_box.slider("Hits", min_value=5, max_value=50, value=10, step=5, key="search.size")
    if st.button("Search", type="primary", key="search.run") or from_url:
        _search(client, index, text, size)
    if _RESULT in st.session_state:
        _columns(client, *st.session_state[_RESULT])
