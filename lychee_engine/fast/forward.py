"""The text model over rows: prefixes once, then length-bucketed batches of rows.

A row is a whole pair, or the part of a pair after a shared prefix; batches are cut from
the length-sorted rows by `buckets.bucket_batches`, run right-padded (or packed), and
halved on CUDA out-of-memory. Scores are P("yes") at each row's last real token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lychee_engine.errors import InsufficientMemory
from lychee_engine.fast.buckets import bucket_batches
from lychee_engine.fast.prefix import PrefixKV, batched_cache, run_prefix
from lychee_engine.fast.rows import Row, last_hidden, packed_batch, padded_batch, yes_probability
from lychee_engine.lychee_backend import ForwardHook
from lychee_engine.oom import with_oom_backoff

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FastStats:
    """Work counters (benchmarks): real tokens run, padded slots, forwards, prefixes."""

    tokens: int = 0
    padding: int = 0
    forwards: int = 0
    prefixes: int = 0
    prefix_tokens_saved: int = 0


class TextRunner:
    """Runs rows through a Qwen2.5-VL text model and reads their yes/no probabilities."""

    def __init__(self, model: Any, answer_ids: tuple[int, int], overhead_tokens: int) -> None:
        self._lm = model.model.language_model
        self._device = model.lm_head.weight.device
        self._image_token_id = int(model.config.image_token_id)
        # only the (no, yes) rows of the output head are ever needed
        self._head = model.lm_head.weight[list(answer_ids)].detach()
        self._overhead = overhead_tokens
        self.stats = FastStats()
        # Called before every forward with (rows, padded length); tests simulate OOM with it.
        self.forward_hook: ForwardHook | None = None

    def prefix(self, row: Row) -> PrefixKV:
        """Run one shared prefix (batch of one) and return its key/value cache."""
        batch = padded_batch(self._lm, [row], self._image_token_id, self._device)
        try:
            if self.forward_hook is not None:
                self.forward_hook(1, len(row.ids))
            kv = run_prefix(self._lm, batch.inputs_embeds, batch.position_ids)
        except torch.cuda.OutOfMemoryError as exc:
            raise InsufficientMemory(
                f"out of memory running a {len(row.ids)}-token prefix"
            ) from exc
        self.stats.prefixes += 1
        self.stats.tokens += len(row.ids)
        return kv

    def score(
        self,
        rows: list[tuple[int, Row]],
        prefixes: list[PrefixKV],
        packed: bool,
        budget: int,
        scores: list[float],
    ) -> None:
        """Write each (pair index, row)'s score into `scores[pair index]`.

        Rows with `prefix >= 0` continue `prefixes[row.prefix]`; `packed` runs each batch as
        one padding-free row (only for rows without a prefix).
        """
        lengths = [len(row.ids) for _, row in rows]
        for batch in bucket_batches(lengths, budget, self._overhead):
            chunk = [rows[i][1] for i in batch]
            results = _with_backoff(lambda part: self._forward(part, prefixes, packed), chunk)
            for i, value in zip(batch, results, strict=True):
                scores[rows[i][0]] = value

    def _forward(self, rows: list[Row], prefixes: list[PrefixKV], packed: bool) -> list[float]:
        build = packed_batch if packed else padded_batch
        batch = build(self._lm, rows, self._image_token_id, self._device)
        if self.forward_hook is not None:
            self.forward_hook(*batch.inputs_embeds.shape[:2])
        cache, mask = None, None
        if prefixes:
            owners = [row.prefix for row in rows]
            cache, prefix_mask = batched_cache(self._lm.config, prefixes, owners)
            if prefix_mask is not None:  # rows continue prefixes of different lengths
                mask = torch.cat([prefix_mask, batch.real], dim=1)
        out = self._lm(
            inputs_embeds=batch.inputs_embeds,
            position_ids=batch.position_ids,
            attention_mask=mask,
            past_key_values=cache,
            use_cache=cache is not None,
            **batch.varlen,
        )
        self.stats.forwards += 1
        self.stats.tokens += sum(len(row.ids) for row in rows)
        self.stats.padding += batch.padding
        hidden = last_hidden(out.last_hidden_state, batch.last, packed)
        return yes_probability(hidden, self._head)


def _with_backoff(forward: Callable[[list[Row]], list[float]], rows: list[Row]) -> list[float]:
    """Run `forward`, halving the batch on CUDA out-of-memory down to single rows."""
    return with_oom_backoff(
        forward, rows, lambda row: f"out of memory scoring one pair of {len(row.ids)} tokens"
    )
