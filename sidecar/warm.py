"""`python -m sidecar warm --index NAME [--via SIDECAR_URL]`: fill the per-document caches
before the first shopper arrives.

Walks the index with a point-in-time and `search_after`, hydrates every product exactly as
a search would (same field mapping, same text cap, same image fetch and decode, so the same
cache keys), and computes what the scorer keeps per document whatever the query, for the
documents it lacks, at most `--rate` documents a second, with a progress bar:

- bi-encoders (MiniLM): the document embedding, into the shared embedding cache. Run in
  this process; with Redis configured (`LYCHEE_CACHE__REDIS_URL`) every sidecar sharing it
  starts warm; without, there is nothing this separate process could fill (it says so).
- Lychee: each product image preprocessed (the preprocessed-image LRU) and, with the fast
  path's vision cache on, its vision-tower output (the vision-embedding cache). Both live
  in the memory of the serving process, so only that process can fill them: `--via URL`
  asks the running sidecar to walk the index itself (`POST /api/warm`, which streams the
  progress back); without `--via` this command refuses a Lychee model. `--via` warms a
  bi-encoder sidecar the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass

from tqdm import tqdm

from connectors.index_walk import index_size, walk_index
from lychee_engine.loading import parse_spec
from lychee_engine.types import Scorer, Warmable
from lychee_engine.warming import not_warmable, warm_target
from sidecar.embeddings import cache_embeddings
from sidecar.services import _hydrators, _load_scorer
from sidecar.settings import Settings
from sidecar.window_scoring import HitHydrator

# One page (hydration with its image fetches, then the model's warm) may take this long;
# a stuck page ends the walk with an error instead of hanging it.
PAGE_TIMEOUT_S = 600.0


class WarmRefused(Exception):
    """The configuration has nothing this command can warm."""


@dataclass(frozen=True, slots=True)
class WarmProgress:
    """Counts after one page (cumulative)."""

    done: int  # products walked
    total: int  # products in the index when the walk began
    warmed: int  # of which a cache lacked (and now holds)
    unscorable: int  # products the model cannot read (no text, no usable image)


@dataclass(frozen=True, slots=True)
class WarmReport:
    documents: int  # products walked
    warmed: int  # of which a cache lacked (and now holds)
    unscorable: int  # products the model cannot read (no text for a text model)
    seconds: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def summary(self, index: str) -> str:
        """The one line both ways of warming print."""
        cached = self.documents - self.warmed - self.unscorable
        return (
            f"warm: {self.documents} documents of {index!r} in {self.seconds:.1f} s; "
            f"{self.warmed} warmed now, {cached} already warm, "
            f"{self.unscorable} the model cannot read"
        )


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


async def warm_pages(
    settings: Settings,
    index: str,
    scorer: Warmable,
    hydrator: HitHydrator,
    *,
    total: int,
    page_size: int = 200,
    rate: float | None = None,
    page_timeout_s: float = PAGE_TIMEOUT_S,
) -> AsyncIterator[WarmProgress]:
    """Walk `index` and warm `scorer` page by page; one progress record per page. Raises
    UpstreamError (OpenSearch), EngineError (the model) or TimeoutError (a stuck page)."""
    fields = settings.index(index).fields
    source = [fields.id_field, fields.title, *fields.selling_points, *fields.image_fields]
    pace = _Pace(rate)
    documents = warmed = unscorable = 0
    pages = walk_index(
        settings.opensearch_url,
        index,
        page_size=page_size,
        source=source,
        request_timeout=settings.opensearch_timeout_s,
    )
    try:
        async for hits in pages:
            async with asyncio.timeout(page_timeout_s):
                hydrated = await hydrator.hydrate(hits)
                docs = [h.document for h in hydrated if h.scorable]
                warmed += await scorer.warm(docs) if docs else 0
            unscorable += len(hits) - len(docs)
            documents += len(hits)
            yield WarmProgress(documents, max(total, documents), warmed, unscorable)
            await pace.wait(documents)
    finally:
        await pages.aclose()  # the point-in-time is deleted even when the caller stops early


async def walk_and_warm(
    settings: Settings,
    index: str,
    scorer: Warmable,
    hydrator: HitHydrator,
    *,
    page_size: int = 200,
    rate: float | None = None,
    progress: Callable[[WarmProgress], None] | None = None,
    total: int | None = None,
) -> WarmReport:
    """The whole walk; `progress` is called after every page. `total`: the index's size,
    when the caller already asked OpenSearch for it."""
    started = time.monotonic()
    if total is None:
        total = await index_size(settings.opensearch_url, index, settings.opensearch_timeout_s)
    last = WarmProgress(0, total, 0, 0)
    pages = warm_pages(
        settings, index, scorer, hydrator, total=total, page_size=page_size, rate=rate
    )
    async for last in pages:
        if progress is not None:
            progress(last)
    return WarmReport(last.done, last.warmed, last.unscorable, time.monotonic() - started)


def refuse_in_process(settings: Settings) -> None:
    """Raise WarmRefused when the configured model's caches live in the serving process
    (Lychee) or on another server (remote): only `--via` can warm those."""
    try:
        kind = parse_spec(settings.engine.model).kind
    except ValueError as exc:
        raise WarmRefused(str(exc)) from exc
    if kind in ("lychee", "tiny"):
        raise WarmRefused(
            "Lychee keeps its preprocessed images and vision-tower outputs in the memory of "
            "the serving process, which a separate process cannot fill: ask the running "
            "sidecar to warm itself with --via SIDECAR_URL (e.g. --via http://127.0.0.1:8080)"
        )
    if kind == "remote":
        raise WarmRefused("the model runs on another server: warm that sidecar with --via ITS_URL")


async def warm_index(
    settings: Settings,
    index: str,
    *,
    page_size: int = 200,
    rate: float | None = None,
    progress: bool = True,
    scorer: Scorer | None = None,
) -> WarmReport:
    """Walk `index` in this process and embed what the shared embedding cache lacks.
    `scorer` defaults to the configured model (loaded here, closed after); raises
    WarmRefused when nothing this process does would outlive it."""
    if scorer is None:
        refuse_in_process(settings)
        if not settings.cache.redis_url:
            raise WarmRefused(
                "no Redis configured (LYCHEE_CACHE__REDIS_URL): the embeddings would stay "
                "in this process and vanish with it"
            )
    own = scorer is None
    model = scorer if scorer is not None else await _load_scorer(settings)
    cached, store = cache_embeddings(settings, model)
    try:
        target = warm_target(cached) if cached is not None else None
        if target is None:
            raise WarmRefused(
                f"{not_warmable(model)}; in this process only a bi-encoder's shared "
                "embedding cache can be filled"
            )
        hydrator = _hydrators(settings, None)(index)  # text models never read the image bytes
        with tqdm(unit="doc", disable=not progress, file=sys.stderr) as bar:

            def advance(step: WarmProgress) -> None:
                bar.total = step.total
                bar.update(step.done - bar.n)

            return await walk_and_warm(
                settings,
                index,
                target,
                hydrator,
                page_size=page_size,
                rate=rate,
                progress=advance,
            )
    finally:
        if store is not None:
            await store.close()
        if own:
            await model.close()


def warm_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar warm", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--index", required=True, help="the index to walk")
    parser.add_argument("--rate", type=float, default=None, help="max documents per second")
    parser.add_argument("--page-size", type=int, default=200, help="hits per search_after page")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--via",
        metavar="SIDECAR_URL",
        help="ask the running sidecar at this URL to warm itself (POST /api/warm); "
        "the only way to warm Lychee",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=PAGE_TIMEOUT_S + 60,
        help="--via: seconds to wait for each progress line",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.page_size <= 1000 or (args.rate is not None and args.rate <= 0):
        parser.error("--page-size must be 1..1000 and --rate positive")
    if args.via:
        from sidecar.warm_via import warm_via

        return warm_via(
            args.via,
            args.index,
            page_size=args.page_size,
            rate=args.rate,
            progress=not args.no_progress,
            timeout_s=args.timeout,
        )
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
    print(report.summary(args.index))
    return 0
