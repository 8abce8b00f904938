"""lychee_engine: the model runtime behind the rerank sidecar.

Input: a query, a list of documents, an optional instruction. Output: one float in [0, 1]
per document, in input order. The engine never touches HTTP servers, OpenSearch or Redis.

    from lychee_engine import Document, Query, load_scorer

    scorer = load_scorer("lychee:/models/lychee-rerank-mm")  # or "minilm", "tiny:/path",
    scores = await scorer.score(                             # "remote:http://host:8080"
        Query(text="retro denim jacket"), [Document(text="...", image=b"...")]
    )
    await scorer.close()

Backends (chosen once by `load_scorer`):

- `lychee:PATH` / `tiny:PATH` - Lychee-rerank-mm (Qwen2.5-VL), score = P("yes"); `tiny:` is
  a small random-weight checkpoint of the same architecture for tests.
- `minilm` - all-MiniLM-L6-v2 on text only, cosine mapped through a shipped logistic
  calibration (`python -m lychee_engine.calibrate_minilm` refits it); the CPU default.
- `remote:URL` - another sidecar's Cohere-compatible `POST /v1/rerank`.

In-process backends sit behind `MicroBatcher`: concurrent requests share forward passes
under a token budget, the forward pass runs in one dedicated thread, and a full queue
raises `Overloaded`. `SyncScorer` wraps any scorer for blocking scripts. Errors all derive
from `EngineError` (see `lychee_engine.errors`).
"""

from lychee_engine import errors
from lychee_engine.errors import EngineError, InsufficientMemory, Overloaded, UnsupportedInput
from lychee_engine.loading import load_scorer, parse_spec
from lychee_engine.options import EngineOptions
from lychee_engine.sync import SyncScorer
from lychee_engine.types import Document, Query, Scorer

__all__ = [
    "Document",
    "EngineError",
    "EngineOptions",
    "InsufficientMemory",
    "Overloaded",
    "Query",
    "Scorer",
    "SyncScorer",
    "UnsupportedInput",
    "errors",
    "load_scorer",
    "parse_spec",
]
