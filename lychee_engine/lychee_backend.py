"""The Lychee-rerank-mm backend: Qwen2.5-VL through transformers, score = P("yes").

prepare() tokenises and preprocesses images (CPU, any thread); score_prepared() sorts pairs
by length, packs left-padded batches under a token budget (padded length x batch size),
runs one forward per batch keeping last-position logits only, and backs off on CUDA OOM.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lychee_engine import prompt
from lychee_engine.backend import PreparedPair, WarmWork
from lychee_engine.device import (
    check_fits,
    choose_attention,
    estimate_weight_bytes,
    resolve_device,
    resolve_dtype,
)
from lychee_engine.errors import EngineError, InsufficientMemory, UnsupportedInput
from lychee_engine.images import ImagePreprocessor, ProcessedImage
from lychee_engine.model_registry import REGISTRY, ModelKey
from lychee_engine.oom import with_oom_backoff
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query

log = logging.getLogger(__name__)

# Called before every forward with (batch size, padded length); tests use it to simulate OOM.
ForwardHook = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class PairInputs:
    """PreparedPair.payload of this backend: prompt token ids and its images, in order."""

    input_ids: list[int]
    images: tuple[ProcessedImage, ...]


@dataclass(frozen=True, slots=True)
class LoadedModel:
    model: Any
    tokenizer: Any
    image_processor: Any
    device: torch.device


def pack_batches(lengths: Sequence[int], max_batch_tokens: int) -> list[list[int]]:
    """Indices sorted by length, grouped so that padded length x batch size fits the budget.

    A pair longer than the budget gets a batch of its own rather than an error.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        # sorted ascending, so this pair sets the batch's padded length
        if current and (len(current) + 1) * lengths[index] > max_batch_tokens:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def collate(items: Sequence[PairInputs], pad_id: int, image_token_id: int) -> dict[str, Any]:
    """Left-padded model inputs for one batch (CPU tensors)."""
    width = max(len(item.input_ids) for item in items)
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        input_ids[row, width - len(item.input_ids) :] = torch.tensor(item.input_ids)
        attention_mask[row, width - len(item.input_ids) :] = 1
    batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
    images = [image for item in items for image in item.images]
    if images:
        batch["pixel_values"] = torch.cat([image.pixel_values for image in images])
        batch["image_grid_thw"] = torch.cat([image.grid_thw for image in images])
        # Without it transformers 5.x silently uses 1-D positions for image tokens.
        batch["mm_token_type_ids"] = (input_ids == image_token_id).to(torch.int32)
        batch["mm_token_type_ids"] *= attention_mask.to(torch.int32)
    else:
        # Text-only: positions count real tokens only, as a single unpadded pair would.
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        batch["position_ids"] = positions.unsqueeze(0).expand(3, -1, -1)
    return batch


def checkpoint_revision(path: Path, options: EngineOptions) -> str:
    """Changes whenever the same model id would score differently: weights, config, prompt."""
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for weights in sorted(path.glob("*.safetensors")):
        stat = weights.stat()
        with weights.open("rb") as fh:  # the header: tensor names, shapes, dtypes, offsets
            digest.update(fh.read(int.from_bytes(fh.read(8), "little")))
        digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    inputs = (
        prompt.PROMPT_VERSION,
        options.max_doc_chars,
        options.max_doc_tokens,
        options.min_pixels,
        options.max_pixels,
    )
    digest.update(json.dumps(inputs).encode())
    return digest.hexdigest()[:16]


def _load(path: Path, device: torch.device, dtype: torch.dtype, attention: str) -> LoadedModel:
    from transformers import AutoImageProcessor, AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    check_fits(estimate_weight_bytes(path, dtype), device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        # The PIL processor: AutoProcessor would need torchvision for the video processor.
        image_processor = AutoImageProcessor.from_pretrained(path, backend="pil")
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            path,
            dtype=dtype,
            attn_implementation=attention,
            device_map=str(device) if device.type == "cuda" else None,
        )
    except torch.cuda.OutOfMemoryError as exc:
        raise InsufficientMemory(f"out of memory loading {path} on {device}: {exc}") from exc
    except (OSError, ValueError, KeyError) as exc:
        raise EngineError(f"cannot load a Qwen2.5-VL checkpoint from {path}: {exc}") from exc
    model.to(device).eval()
    return LoadedModel(model, tokenizer, image_processor, device)


class LycheeBackend:
    """PairBackend for Lychee-rerank-mm (and any Qwen2.5-VL yes/no reranker)."""

    supports_images = True

    def __init__(
        self, loaded: LoadedModel, options: EngineOptions, model_id: str, revision: str
    ) -> None:
        self.model_id = model_id
        self.revision = revision
        self.max_batch_tokens = options.max_batch_tokens
        self.forward_hook: ForwardHook | None = None
        self._options = options
        self._model = loaded.model
        self._tokenizer = loaded.tokenizer
        self._device = loaded.device
        self._images = ImagePreprocessor(
            loaded.image_processor,
            options.min_pixels,
            options.max_pixels,
            options.image_cache_bytes,
        )
        try:
            self._no_id, self._yes_id = prompt.answer_token_ids(loaded.tokenizer)
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        self._image_token_id = int(loaded.model.config.image_token_id)
        pad = loaded.tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else loaded.tokenizer.eos_token_id)

    @classmethod
    def load(
        cls, path: str, options: EngineOptions, *, model_id: str | None = None
    ) -> LycheeBackend:
        """Load (or reuse, per process) the checkpoint at `path` and warm it up."""
        root = Path(path)
        if not (root / "config.json").is_file():
            raise EngineError(f"{path} is not a model directory (no config.json)")
        device = resolve_device(options.device)
        dtype = resolve_dtype(options.dtype, device)
        flash_paths = bool(options.fast.unverified_enabled)
        attention = choose_attention(
            options.attention, device, dtype, flash_paths=flash_paths
        ).implementation
        key = ModelKey.of(root, dtype, device, attention)
        loaded = REGISTRY.get_or_load(key, lambda: _load(root, device, dtype, attention))
        revision = checkpoint_revision(root, options)
        backend = cls(loaded, options, model_id or root.resolve().name, revision)
        if options.warmup:
            backend.score_prepared(
                backend.prepare(Query(text="warm up"), [Document(text="ok")], None)
            )
        log.info("loaded %s (%s) on %s, %s, %s", backend.model_id, path, device, dtype, attention)
        return backend

    @property
    def model(self) -> Any:
        """The underlying transformers model (benchmarks, diagnostics)."""
        return self._model

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def pad_id(self) -> int:
        return self._pad_id

    @property
    def answer_ids(self) -> tuple[int, int]:
        """(no, yes) token ids."""
        return self._no_id, self._yes_id

    @property
    def image_cache(self) -> ImagePreprocessor:
        return self._images

    def prepare(
        self, query: Query, documents: list[Document], instruction: str | None
    ) -> list[PreparedPair]:
        """Token ids and image tensors per pair; `tokens` counts image tokens too."""
        query_image = self._images(query.image) if query.image is not None else None
        pairs = []
        # The query image is shared by every pair: count its bytes on the first one only.
        shared_bytes = query_image.nbytes if query_image is not None else 0
        for doc in documents:
            doc_image = self._document_image(doc)
            spec = prompt.PromptSpec(
                instruction=instruction or self._options.default_instruction,
                query_text=query.text,
                query_image_tokens=query_image.num_tokens if query_image else None,
                doc_text=prompt.truncate_document(
                    self._tokenizer,
                    doc.text,
                    self._options.max_doc_chars,
                    self._options.max_doc_tokens,
                ),
                doc_image_tokens=doc_image.num_tokens if doc_image else None,
            )
            ids = prompt.encode(self._tokenizer, spec)
            images = tuple(image for image in (query_image, doc_image) if image is not None)
            own_bytes = (doc_image.nbytes if doc_image else 0) + shared_bytes
            shared_bytes = 0
            payload = PairInputs(ids, images)
            pairs.append(PreparedPair(tokens=len(ids), payload=payload, nbytes=own_bytes))
        return pairs

    def prepare_warm(self, documents: list[Document]) -> WarmWork:
        """Preprocess the document images the cache lacks (what `prepare` would do for
        them). This backend keeps no vision-tower output between calls: no model work."""
        fresh = frozenset(i for i, _, new in self.warm_images(documents) if new)
        return WarmWork(preprocessed=fresh)

    def warm_prepared(self, work: WarmWork) -> frozenset[int]:
        return frozenset()

    def warm_images(self, documents: list[Document]) -> list[tuple[int, ProcessedImage, bool]]:
        """(position, preprocessed image, computed now) per document image that decodes;
        one that does not is skipped, as a search would score that document without it."""
        out = []
        for position, doc in enumerate(documents):
            if doc.image is None:
                continue
            try:
                processed, new = self._images.warm(doc.image)
            except UnsupportedInput as exc:
                log.debug("not warming an image: %s", exc)
                continue
            out.append((position, processed, new))
        return out

    def _document_image(self, doc: Document) -> ProcessedImage | None:
        """The document's image; a broken one with text beside it is dropped (fail open)."""
        if doc.image is None:
            return None
        try:
            return self._images(doc.image)
        except UnsupportedInput as exc:
            if not doc.text:
                raise
            log.warning("scoring a document on its text alone: %s", exc)
            return None

    def score_prepared(self, pairs: list[PreparedPair]) -> list[float]:
        """Scores in input order; batches sorted by length under max_batch_tokens."""
        scores = [0.0] * len(pairs)
        features: dict[str, torch.Tensor] = {}  # vision features by image key, this call only
        with torch.inference_mode():
            for batch in pack_batches([p.tokens for p in pairs], self.max_batch_tokens):
                items = [pairs[i].payload for i in batch]
                batch_scores = self._score_with_backoff(items, features)
                for index, score in zip(batch, batch_scores, strict=True):
                    scores[index] = score
        return scores

    def _score_with_backoff(
        self, items: list[PairInputs], features: dict[str, torch.Tensor]
    ) -> list[float]:
        return with_oom_backoff(
            lambda batch: self._forward(batch, features),
            items,
            lambda item: (
                f"out of memory scoring a single pair of {len(item.input_ids)} tokens "
                f"on {self._device}; lower max_doc_tokens/max_pixels or use a larger GPU"
            ),
        )

    def _encode_images(
        self, items: list[PairInputs], features: dict[str, torch.Tensor]
    ) -> dict[str, Any]:
        """Vision features per image occurrence; each distinct image is encoded once per call.

        A query image recurs in every pair of its request, so the vision tower (the costliest
        part for images) runs once for it, not once per document.
        """
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        images = [image for item in items for image in item.images]
        new = {image.key: image for image in images if image.key not in features}
        if new:
            pixels = torch.cat([image.pixel_values for image in new.values()])
            grids = torch.cat([image.grid_thw for image in new.values()])
            encoded = self._model.model.get_image_features(
                pixels.to(self._device), grids.to(self._device), return_dict=True
            )
            features.update(zip(new, encoded.pooler_output, strict=True))
        pooled = tuple(features[image.key] for image in images)
        return {"image": BaseModelOutputWithPooling(pooler_output=pooled)}

    def _forward(self, items: list[PairInputs], features: dict[str, torch.Tensor]) -> list[float]:
        batch = collate(items, self._pad_id, self._image_token_id)
        if self.forward_hook is not None:
            self.forward_hook(*batch["input_ids"].shape)
        batch = {k: v.to(self._device, non_blocking=True) for k, v in batch.items()}
        if batch.pop("pixel_values", None) is not None:
            batch["mm_encoder_outputs"] = self._encode_images(items, features)
        out = self._model(**batch, logits_to_keep=1, use_cache=False)
        pair_logits = out.logits[:, -1, [self._no_id, self._yes_id]].float()
        scores = torch.softmax(pair_logits, dim=-1)[:, 1].tolist()
        del batch, out, pair_logits  # free activations before the next batch is built
        return scores
