"""FastLycheeBackend: the Lychee PairBackend with the serving-speed paths switched in.

It wraps a loaded `LycheeBackend` (same weights, tokenizer, prompt and image preprocessing,
so the same prepared token ids) and scores differently:

1. images become embeddings through `VisionEncoder` (content-keyed cache, batched tower);
2. pairs sharing a prefix (one request's system + instruction + query) run it once and
   score their documents against its key/value cache (`prefix`);
3. the rest run in right-padded length-sorted batches, or packed padding-free rows when
   enabled (`rows`; meant for flash-attn's varlen kernels).

`paths.FastPaths` decides once which of these run: the flash-attn-only paths are off unless
enabled in `FastOptions`, and the start-up log line says which are off.

Each path equals the plain path (tests/unit/test_fast_path.py, fp32, 1e-4).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import torch

from lychee_engine import prompt
from lychee_engine.backend import PreparedPair, WarmWork
from lychee_engine.fast.forward import FastStats, TextRunner
from lychee_engine.fast.options import FastOptions
from lychee_engine.fast.paths import FastPaths
from lychee_engine.fast.positions import mrope_positions
from lychee_engine.fast.prefix import PrefixCache, PrefixKV, cap_before_image, shared_prefix_length
from lychee_engine.fast.rows import Row
from lychee_engine.fast.vision_cache import VisionCacheStats, VisionKey
from lychee_engine.fast.vision_encoder import VisionEncoder
from lychee_engine.images import ImagePreprocessor, ProcessedImage, content_key
from lychee_engine.lychee_backend import ForwardHook, LycheeBackend, PairInputs
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FastPair:
    """PreparedPair.payload of this backend."""

    inputs: PairInputs  # the plain backend's token ids and processed images
    image_keys: tuple[VisionKey, ...]  # one per image in `inputs.images`
    positions: torch.Tensor  # (3, len(ids)) mrope positions of the unpadded pair
    prefix: str  # pairs with equal keys share their first `prefix_len` tokens and images
    prefix_len: int
    prefix_images: int


class FastLycheeBackend:
    """PairBackend over a loaded LycheeBackend, with cache, prefix reuse and packing."""

    supports_images = True

    def __init__(self, inner: LycheeBackend, options: FastOptions | None = None) -> None:
        # LycheeBackend has no public options yet (asked for): the resize bounds key the cache.
        engine: EngineOptions = getattr(inner, "options", None) or inner._options
        self.options = options or engine.fast
        self.model_id = inner.model_id
        self.revision = inner.revision
        self.max_batch_tokens = inner.max_batch_tokens
        self._inner = inner
        self._pixels = (engine.min_pixels, engine.max_pixels)
        model = inner.model
        self._image_token_id = int(model.config.image_token_id)
        self._merge = int(model.config.vision_config.spatial_merge_size)
        answers = prompt.answer_token_ids(inner.tokenizer)
        self._text = TextRunner(model, answers, self.options.forward_overhead_tokens)
        device = model.lm_head.weight.device
        self.paths = FastPaths.resolve(self.options, model.config._attn_implementation)
        self.vision = VisionEncoder(
            model.model.visual, device, self.options, stock=self.paths.stock_vision
        )
        self._prefixes = PrefixCache(self.options.prefix_cache_items)
        level = logging.WARNING if self.options.unverified_enabled else logging.INFO
        log.log(level, "%s", self.paths.describe(self.options))

    @classmethod
    def load(
        cls,
        path: str,
        options: EngineOptions,
        fast: FastOptions | None = None,
        *,
        model_id: str | None = None,
    ) -> FastLycheeBackend:
        """Load the checkpoint through LycheeBackend (shared weights), then warm this path.

        `fast` defaults to `options.fast`. With every unverified flash path off, `auto`
        attention loads the model on sdpa even where flash-attn is installed.
        """
        fast = fast or options.fast
        inner = LycheeBackend.load(
            path, dataclasses.replace(options, warmup=False, fast=fast), model_id=model_id
        )
        backend = cls(inner, fast)
        if options.warmup:
            backend.score_prepared(
                backend.prepare(Query(text="warm up"), [Document(text="ok")], None)
            )
        return backend

    def prepare(
        self, query: Query, documents: list[Document], instruction: str | None
    ) -> list[PreparedPair]:
        """The plain backend's prepared pairs, plus image keys, positions and the prefix."""
        plain = self._inner.prepare(query, documents, instruction)
        if not plain:
            return []
        query_keys = (self._key(query.image),) if query.image is not None else ()
        ids = [pair.payload.input_ids for pair in plain]
        length = shared_prefix_length(ids)
        keep = len(query_keys)  # every pair's own images stay out of the prefix
        length = min(cap_before_image(i, length, self._image_token_id, keep) for i in ids)
        digest = hashlib.blake2b(repr((ids[0][:length], query_keys)).encode(), digest_size=16)
        # What a pair costs once its prefix is shared: its own tokens plus a share of the
        # prefix; the micro-batcher fills its token budget with these counts.
        shared = self.paths.prefix_reuse and len(plain) >= self.options.min_prefix_group
        prefix_share = -(-length // len(plain)) - length if shared else 0
        out = []
        for pair, doc in zip(plain, documents, strict=True):
            inputs: PairInputs = pair.payload
            # The plain backend drops an undecodable document image (text is scored alone),
            # so key only the images it kept.
            kept_doc_image = doc.image is not None and len(inputs.images) > len(query_keys)
            doc_keys = (self._key(doc.image),) if kept_doc_image else ()
            grids = [image.grid_thw[0].tolist() for image in inputs.images]
            payload = FastPair(
                inputs=inputs,
                image_keys=query_keys + doc_keys,
                positions=mrope_positions(
                    inputs.input_ids, grids, self._image_token_id, self._merge
                ),
                prefix=digest.hexdigest(),
                prefix_len=length,
                prefix_images=len(query_keys),
            )
            tokens = pair.tokens + prefix_share
            out.append(PreparedPair(tokens=tokens, payload=payload, nbytes=pair.nbytes))
        return out

    def score_prepared(self, pairs: list[PreparedPair]) -> list[float]:
        """Scores in input order (any mix of requests)."""
        payloads: list[FastPair] = [pair.payload for pair in pairs]
        scores = [0.0] * len(pairs)
        with torch.inference_mode():
            images = self.vision.embeddings(
                (key, image)
                for payload in payloads
                for key, image in zip(payload.image_keys, payload.inputs.images, strict=True)
            )
            shared, prefixes, unshared = self._split(payloads, images)
            # Rows of different requests (prefixes) may share a forward (batched_cache), unless
            # that is the unverified flash-attn 2-D mask path: then one prefix per forward.
            for group in self._prefix_groups(shared):
                self._text.score(group, prefixes, False, self.max_batch_tokens, scores)
            self._text.score(unshared, [], self.paths.packed, self.max_batch_tokens, scores)
        return scores

    def prepare_warm(self, documents: list[Document]) -> WarmWork:
        """Preprocess the document images the cache lacks (CPU, any thread) and leave those
        the vision-embedding cache lacks for `warm_prepared`."""
        images = self._inner.warm_images(documents)
        fresh = frozenset(i for i, _, new in images if new)
        if self.vision.cache is None:
            return WarmWork(preprocessed=fresh)
        keyed = [(i, self._processed_key(image), image) for i, image, _ in images]
        return WarmWork(preprocessed=fresh, payload=keyed)

    def warm_prepared(self, work: WarmWork) -> frozenset[int]:
        """Run the vision tower for the images its cache lacks (the forward thread only);
        the positions of the documents whose image it encoded."""
        keyed: list[tuple[int, VisionKey, Any]] = work.payload or []
        with torch.inference_mode():
            encoded = self.vision.warm((key, image) for _, key, image in keyed)
        return frozenset(i for i, key, _ in keyed if key in encoded)

    @property
    def image_cache(self) -> ImagePreprocessor:
        """The preprocessed-image cache (shared with the wrapped plain backend)."""
        return self._inner.image_cache

    @property
    def forward_hook(self) -> ForwardHook | None:
        """Called before every text-model forward with (rows, padded length), as on
        LycheeBackend; tests raise a simulated CUDA OOM from it."""
        return self._text.forward_hook

    @forward_hook.setter
    def forward_hook(self, hook: ForwardHook | None) -> None:
        self._text.forward_hook = hook

    @property
    def stats(self) -> FastStats:
        """Work counters of the text model (tokens, padding, forwards, prefixes)."""
        return self._text.stats

    def vision_cache_stats(self) -> VisionCacheStats | None:
        """Image-embedding cache counters (hits, misses, bytes), None when it is off."""
        return self.vision.cache.stats() if self.vision.cache is not None else None

    def clear_prefix_cache(self) -> None:
        """Forget the kept prefix key/value caches (benchmarks: every request a new query)."""
        self._prefixes.clear()

    def _prefix_groups(self, shared: list[tuple[int, Row]]) -> list[list[tuple[int, Row]]]:
        """The shared rows as one group, or one group per prefix without multi-prefix."""
        if self.paths.multi_prefix or not shared:
            return [shared]
        groups: dict[int, list[tuple[int, Row]]] = {}
        for item in shared:
            groups.setdefault(item[1].prefix, []).append(item)
        return list(groups.values())

    def _key(self, image: Any) -> VisionKey:
        return VisionKey(content_key(image), self.revision, *self._pixels)

    def _processed_key(self, image: ProcessedImage) -> VisionKey:
        """`_key` of the image it was preprocessed from (its key is that content hash)."""
        return VisionKey(image.key, self.revision, *self._pixels)

    def _split(
        self, payloads: list[FastPair], images: dict[VisionKey, torch.Tensor]
    ) -> tuple[list[tuple[int, Row]], list[PrefixKV], list[tuple[int, Row]]]:
        """(pair index, suffix row) of pairs sharing a prefix, those prefixes, and the
        (pair index, whole row) of the others."""
        groups: dict[str, list[int]] = {}
        for index, payload in enumerate(payloads):
            key = payload.prefix if self.paths.prefix_reuse else str(index)
            groups.setdefault(key, []).append(index)
        shared: list[tuple[int, Row]] = []
        prefixes: list[PrefixKV] = []
        unshared: list[tuple[int, Row]] = []
        for members in groups.values():
            if len(members) < self.options.min_prefix_group and not self._kept(
                payloads[members[0]]
            ):
                for i in members:
                    p = payloads[i]
                    row = Row(p.inputs.input_ids, p.positions, self._images(p, images))
                    unshared.append((i, row))
                continue
            prefixes.append(self._prefix(payloads[members[0]], images, len(members)))
            for i in members:
                p = payloads[i]
                cut = p.prefix_len
                suffix = self._images(p, images)[p.prefix_images :]
                row = Row(p.inputs.input_ids[cut:], p.positions[:, cut:], suffix, len(prefixes) - 1)
                shared.append((i, row))
        return shared, prefixes, unshared

    def _kept(self, payload: FastPair) -> bool:
        """Whether the pair's prefix ran in an earlier call (a request split by the batcher)."""
        return self.paths.prefix_reuse and self._prefixes.get(payload.prefix) is not None

    @staticmethod
    def _images(
        payload: FastPair, images: dict[VisionKey, torch.Tensor]
    ) -> tuple[torch.Tensor, ...]:
        return tuple(images[key] for key in payload.image_keys)

    def _prefix(
        self, first: FastPair, images: dict[VisionKey, torch.Tensor], members: int
    ) -> PrefixKV:
        """The prefix's key/value cache: kept from an earlier call, or run now."""
        cut = first.prefix_len
        kv = self._prefixes.get(first.prefix)
        self.stats.prefix_tokens_saved += cut * (members - (kv is None))
        if kv is None:
            row = Row(
                first.inputs.input_ids[:cut],
                first.positions[:, :cut],
                self._images(first, images)[: first.prefix_images],
            )
            kv = self._text.prefix(row)
            self._prefixes.put(first.prefix, kv)
        return kv
