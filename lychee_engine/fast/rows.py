"""Language-model inputs built from token ids, precomputed positions and image embeddings.

Every row is right-padded (or packed into one padding-free row): with causal attention a
real token never sees the padding after it, so no padding mask is needed, positions are the
pair's own (from `positions.mrope_positions`), and each row's score is read at its last real
token. Only the "no"/"yes" rows of the output head are applied, to those tokens alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True, slots=True)
class Row:
    """One sequence to run: token ids, its (3, len) positions, its images' embeddings."""

    ids: Sequence[int]
    positions: torch.Tensor
    images: tuple[torch.Tensor, ...]  # (tokens, hidden) per image, in order of appearance
    prefix: int = -1  # index of the shared prefix this row continues; -1: none


@dataclass(frozen=True, slots=True)
class Batch:
    inputs_embeds: torch.Tensor  # (rows, length, hidden)
    position_ids: torch.Tensor  # (3 or 4, rows, length)
    last: torch.Tensor  # (rows,) index of each row's last real token
    padding: int  # padded slots in the batch
    real: torch.Tensor  # (rows, length) bool, True at real tokens
    varlen: dict[str, Any] = field(default_factory=dict)  # flash-attn sequence boundaries


def _embed(lm: Any, ids: torch.Tensor, rows: Sequence[Row], image_token_id: int) -> torch.Tensor:
    embeds = lm.embed_tokens(ids)
    images = [image for row in rows for image in row.images]
    if images:
        # row-major order of image tokens == order of the rows' images, as in the stock model
        mask = (ids == image_token_id).unsqueeze(-1)
        values = torch.cat(images).to(embeds.device, embeds.dtype)
        embeds = embeds.masked_scatter(mask, values)
    return embeds


def padded_batch(lm: Any, rows: Sequence[Row], image_token_id: int, device: Any) -> Batch:
    """Right-padded rows; padding positions are 0 and never attended to by real tokens."""
    width = max(len(row.ids) for row in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    positions = torch.zeros((3, len(rows), width), dtype=torch.long)
    for number, row in enumerate(rows):
        ids[number, : len(row.ids)] = torch.as_tensor(row.ids)
        positions[:, number, : len(row.ids)] = row.positions
    last = torch.tensor([len(row.ids) - 1 for row in rows])
    real = torch.arange(width) <= last[:, None]
    ids = ids.to(device)
    padding = len(rows) * width - sum(len(row.ids) for row in rows)
    embeds = _embed(lm, ids, rows, image_token_id)
    return Batch(embeds, positions.to(device), last, padding, real.to(device))


def packed_batch(lm: Any, rows: Sequence[Row], image_token_id: int, device: Any) -> Batch:
    """All rows in one padding-free row; the text positions (first of 4 position rows) restart
    at 0 per pair, from which transformers derives the varlen (or block-causal) boundaries."""
    ids = torch.cat([torch.as_tensor(row.ids) for row in rows]).unsqueeze(0).to(device)
    text = torch.cat([torch.arange(len(row.ids)) for row in rows])
    mrope = torch.cat([row.positions for row in rows], dim=1)
    positions = torch.cat([text.unsqueeze(0), mrope]).unsqueeze(1).to(device)
    lengths = torch.tensor([len(row.ids) for row in rows])
    last = torch.cumsum(lengths, 0) - 1
    real = torch.ones(ids.shape, dtype=torch.bool, device=device)
    # Given up front, flash-attn's varlen path needs no per-layer scan of the positions.
    bounds = torch.nn.functional.pad(last + 1, (1, 0)).to(device, torch.int32)
    longest = int(lengths.max())
    varlen = {
        "cu_seq_lens_q": bounds,
        "cu_seq_lens_k": bounds,
        "max_length_q": longest,
        "max_length_k": longest,
    }
    embeds = _embed(lm, ids, rows, image_token_id)
    return Batch(embeds, positions, last, 0, real, varlen)


def last_hidden(hidden: torch.Tensor, last: torch.Tensor, packed: bool) -> torch.Tensor:
    """(rows, hidden) states at each row's last real token."""
    last = last.to(hidden.device)
    if packed:
        return hidden[0, last]
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def yes_probability(hidden: torch.Tensor, head: torch.Tensor) -> list[float]:
    """P("yes") from final hidden states and the output head's (no, yes) rows."""
    logits = (hidden @ head.T).float()
    return torch.softmax(logits, dim=-1)[:, 1].tolist()
