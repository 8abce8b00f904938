"""`python -m sidecar warm --index NAME`: fill the document-embedding cache before the
first shopper arrives.

Walks the index with a point-in-time and `search_after`, hydrates every product exactly as
a search would (same field mapping, same text cap, so the same cache keys), and embeds the
documents the cache does not hold yet, at most `--rate` documents a second, with a
progress bar. With Redis configured (`LYCHEE_CACHE__REDIS_URL`) every sidecar sharing it
starts warm; without, there is nothing this separate process could fill (it says so).

Lychee's cache of image embeddings lives in the GPU memory of the serving process, not in
a store another process can fill: this command refuses a non-bi-encoder model rather than
pretending to warm it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass

from tqdm import tqdm

from connectors.index_walk import index_size, walk_index
from lychee_engine.embedding_cache import EmbeddingCachingScorer
from lychee_engine.types import Scorer
from sidecar.embeddings import cache_embeddings
from sidecar.services import _hydrators, _load_scorer
from sidecar.settings import Settings


class WarmRefused(Exception):
    """The configuration has nothing this command can warm."""


@dataclass(frozen=True, slots=True)
class WarmReport:
    documents: int  # products walked
    embedded: int  # of which the cache lacked (and now holds)
    unscorable: int  # products the model cannot read (no text for a text model)
    seconds: float


class _Pace:
    """At most `rate` documents a second (None: as fast as the model goes)."""

    def __init__(self, rate: float | None) -> None:
        self._rate = rate
        self._started = time.monotonic()

    async def wait(self, done: int) -> None:
        if self._rate:
            ahead = done / self._rate - (time.monotonic() - self._started)
            if ahead > 0:
                await asyncio.sleep(ahead)


async def warm_index(
    settings: Settings,
    index: str,
    *,
    page_size: int = 200,
    rate: float | None = None,
    progress: bool = True,
    scorer: Scorer | None = None,
) -> WarmReport:
    """Walk `index` and embed what the cache lacks. `scorer` defaults to the configured
    model (loaded here, closed after); raises WarmRefused when nothing can be warmed."""
    if not settings.cache.redis_url and scorer is None:
        raise WarmRefused(
            "no Redis configured (LYCHEE_CACHE__REDIS_URL): the embeddings would stay in "
            "this process and vanish with it"
        )
    own = scorer is None
    model = scorer if scorer is not None else await _load_scorer(settings)
    cached, store = cache_embeddings(settings, model)
    try:
        if cached is None or store is None:
            raise WarmRefused(
                f"{model.model_id} has no document-embedding cache (only bi-encoders such as "
                "minilm do; Lychee's image-embedding cache lives in the serving process)"
            )
        return await _walk(settings, index, cached, page_size, rate, progress)
    finally:
        if store is not None:
            await store.close()
        if own:
            await model.close()


async def _walk(
    settings: Settings,
    index: str,
    scorer: EmbeddingCachingScorer,
    page_size: int,
    rate: float | None,
    progress: bool,
) -> WarmReport:
    started = time.monotonic()
    fields = settings.index(index).fields
    source = [fields.id_field, fields.title, *fields.selling_points, *fields.image_fields]
    hydrator = _hydrators(settings, None)(index)  # text models never read the image bytes
    total = await index_size(settings.opensearch_url, index, settings.opensearch_timeout_s)
    pace = _Pace(rate)
    documents = embedded = unscorable = 0
    with tqdm(total=total, unit="doc", disable=not progress, file=sys.stderr) as bar:
        pages = walk_index(
            settings.opensearch_url,
            index,
            page_size=page_size,
            source=source,
            request_timeout=settings.opensearch_timeout_s,
        )
        async for hits in pages:
            hydrated = await hydrator.hydrate(hits)
            docs = [h.document for h in hydrated if h.scorable and h.document.text]
            unscorable += len(hits) - len(docs)
            embedded += await scorer.warm(docs) if docs else 0
            documents += len(hits)
            bar.update(len(hits))
            await pace.wait(documents)
    return WarmReport(documents, embedded, unscorable, time.monotonic() - started)


def warm_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar warm", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--index", required=True, help="the index to walk")
    parser.add_argument("--rate", type=float, default=None, help="max documents per second")
    parser.add_argument("--page-size", type=int, default=200, help="hits per search_after page")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.page_size < 1 or (args.rate is not None and args.rate <= 0):
        parser.error("--page-size and --rate must be positive")
    try:
        report = asyncio.run(
            warm_index(
                Settings(),
                args.index,
                page_size=args.page_size,
                rate=args.rate,
                progress=not args.no_progress,
            )
        )
    except WarmRefused as exc:
        print(f"warm: nothing to do: {exc}", file=sys.stderr)
        return 2
    print(
        f"warm: {report.documents} documents of {args.index!r} in {report.seconds:.1f} s; "
        f"{report.embedded} embedded now, {report.documents - report.embedded - report.unscorable} "
        f"already cached, {report.unscorable} without text"
    )
    return 0
