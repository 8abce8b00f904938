"""Shared-prefix reuse: system prompt + instruction + query run once per request.

Every pair of a request starts with the same tokens (system turn, instruction, query text
and query image). Causal attention makes their keys and values independent of what
follows, so the prefix runs once (batch of one) and each batch of documents runs only its
own tokens against that key/value cache, broadcast over the batch. Positions continue from
the prefix's (the suffix's slice of the full pair's mrope positions). Documents are
right-padded after the prefix (left padding is impossible there) and read at their last
real token.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers.cache_utils import DynamicCache


def image_run_starts(ids: Sequence[int], image_token_id: int) -> list[int]:
    """Index of the first token of each image (each run of image tokens)."""
    return [
        i
        for i, token in enumerate(ids)
        if token == image_token_id and (i == 0 or ids[i - 1] != image_token_id)
    ]


def shared_prefix_length(id_lists: Sequence[Sequence[int]]) -> int:
    """Length of the token ids every pair starts with, leaving each pair at least one token.

    Equal image-token ids do not mean equal images: callers cut the result back before the
    first image that is not the query's with `cap_before_image`.
    """
    if not id_lists:
        return 0
    first = id_lists[0]
    limit = min(len(ids) for ids in id_lists) - 1
    length = 0
    while length < limit and all(ids[length] == first[length] for ids in id_lists):
        length += 1
    return length


def cap_before_image(ids: Sequence[int], length: int, image_token_id: int, keep: int) -> int:
    """Cut `length` back to the start of image run number `keep` (0-based) if it reaches it."""
    starts = image_run_starts(ids[:length], image_token_id)
    if len(starts) > keep and starts[keep] < length:
        return starts[keep]
    return length


@dataclass(slots=True)
class PrefixKV:
    """The prefix's keys and values per layer, each (1, kv heads, prefix length, head dim)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def length(self) -> int:
        return int(self.keys[0].shape[-2])

    def expanded(self, config: Any, rows: int) -> DynamicCache:
        """A fresh cache whose every layer holds the prefix broadcast over `rows` (a view:
        the suffix's forward concatenates onto it, so the prefix itself is never written)."""
        cache = DynamicCache(config=config)
        for layer, key, value in zip(cache.layers, self.keys, self.values, strict=True):
            layer.lazy_initialization(key, value)
            layer.keys = key.expand(rows, -1, -1, -1)
            layer.values = value.expand(rows, -1, -1, -1)
        return cache


def batched_cache(
    config: Any, prefixes: Sequence[PrefixKV], owners: Sequence[int]
) -> tuple[DynamicCache, torch.Tensor | None]:
    """A cache where row i continues `prefixes[owners[i]]`, and the (rows, width) mask of
    real prefix slots (None when all rows share one prefix: no padding, no mask needed).

    Shorter prefixes are left-padded to the longest; positions are explicit per token and
    keys were rotated when the prefix ran, so only the mask must hide the padding.
    """
    used = sorted(set(owners))
    if len(used) == 1:
        return prefixes[used[0]].expanded(config, len(owners)), None
    width = max(prefixes[g].length for g in used)
    slot = {g: n for n, g in enumerate(used)}
    device = prefixes[used[0]].keys[0].device
    index = torch.tensor([slot[g] for g in owners], device=device)
    cache = DynamicCache(config=config)
    for number, layer in enumerate(cache.layers):
        keys, values = (
            torch.cat([_left_pad(getattr(prefixes[g], part)[number], width) for g in used])[index]
            for part in ("keys", "values")
        )
        layer.lazy_initialization(keys, values)
        layer.keys, layer.values = keys, values
    lengths = torch.tensor([prefixes[g].length for g in owners])
    mask = torch.arange(width) >= (width - lengths)[:, None]
    return cache, mask.to(device)


def _left_pad(states: torch.Tensor, width: int) -> torch.Tensor:
    return torch.nn.functional.pad(states, (0, 0, width - states.shape[-2], 0))


def run_prefix(lm: Any, inputs_embeds: torch.Tensor, position_ids: torch.Tensor) -> PrefixKV:
    """Run the text model over one prefix (batch 1) and keep its key/value cache."""
    cache = DynamicCache(config=lm.config)
    lm(
        inputs_embeds=inputs_embeds,
        position_ids=position_ids,
        past_key_values=cache,
        use_cache=True,
    )
    return PrefixKV(
        keys=[layer.keys for layer in cache.layers], values=[layer.values for layer in cache.layers]
    )


class PrefixCache:
    """A small LRU of prefix key/value caches by prefix key (thread-safe)."""

    def __init__(self, items: int) -> None:
        self._items = items
        self._entries: OrderedDict[str, PrefixKV] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> PrefixKV | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: PrefixKV) -> None:
        if self._items == 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._items:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
