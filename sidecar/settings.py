"""All service settings: environment variables (prefix LYCHEE_) over one optional YAML file.

`LYCHEE_CONFIG=/path/sidecar.yaml` names the YAML file; nested keys use `__` in env vars,
e.g. `LYCHEE_CACHE__TTL_S=3600`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from lychee_engine.options import DEFAULT_INSTRUCTION


class IndexFields(BaseModel):
    """How a hit's `_source` becomes a document, and which fields rules may read."""

    id_field: str = "id"
    title: str = "title"
    selling_points: list[str] = Field(default_factory=lambda: ["selling_points"])
    image_fields: list[str] = Field(default_factory=lambda: ["image_url"])
    rule_fields: list[str] = Field(default_factory=lambda: ["sales", "rating", "price"])


class IndexConfig(BaseModel):
    window: int = Field(default=50, ge=1, le=1000)
    instruction: str | None = None
    fields: IndexFields = Field(default_factory=IndexFields)
    rerank: bool = True
    # OpenSearch searches for the normalized query text too (sidecar/retrieval_query.py).
    normalize_retrieval: bool = True


class FastPathSettings(BaseModel):
    """Lychee serving paths that only run with flash-attn and no test or device run has
    executed yet: each stays off (the engine serves on sdpa) until enabled here, after
    `benchmarks/bench_gpu.py --full-size` passed on the deployment's GPU."""

    packed: bool = False  # packed padding-free rows (varlen)
    flash_vision: bool = False  # the stock vision tower on flash-attn
    flash_prefix: bool = False  # prefix continuation (fewer queries than keys)
    flash_multi_prefix: bool = False  # rows of different prefixes: 2-D mask unpadding


class EngineSettings(BaseModel):
    # "minilm" | "lychee:/models/dir" | "tiny:/dir" | "remote:http://host:8080"
    model: str = "minilm"
    max_batch_tokens: int = 4096
    max_wait_ms: float = 5.0
    queue_size: int = 2048
    queue_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)  # waiting pairs' images + ids
    image_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0)  # preprocessed images
    max_doc_chars: int = 512
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 1280 * 28 * 28
    fast: FastPathSettings = Field(default_factory=FastPathSettings)
    calibration: str | None = None  # Lychee P("yes") calibration file (lychee_engine/calibrated)


class CacheSettings(BaseModel):
    redis_url: str | None = None  # None -> in-process LRU
    redis_cluster: bool = False  # redis_url names one node of a Redis Cluster
    ttl_s: int = 7 * 24 * 3600
    ttl_jitter: float = 0.1
    timeout_s: float = 0.05
    lru_size: int = 100_000
    lru_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1)  # ~280 bytes an entry


class ResultCacheSettings(BaseModel):
    """Whole reranked responses for repeated requests (sidecar/result_cache.py)."""

    enabled: bool = True
    poll_s: float = Field(default=1.0, gt=0)  # index-generation re-read: the staleness bound
    ttl_s: float = Field(default=300.0, gt=0)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    # Also keep entries in Redis (`cache.redis_url`), so a hit on one replica is a hit on all.
    shared: bool = True


class EmbeddingCacheSettings(BaseModel):
    """Document embeddings of bi-encoder models (MiniLM) kept between requests: in memory
    up to `max_bytes`, and in Redis (`cache.redis_url`) for every replica."""

    enabled: bool = True
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)  # ~43k MiniLM docs in float32
    ttl_s: int = Field(default=30 * 24 * 3600, ge=1)
    # float32 keeps rankings identical; float16 halves the bytes but swaps near-ties
    codec: Literal["float32", "float16", "int8"] = "float32"
    # Documents written through the proxy (_doc, _bulk) are embedded after OpenSearch acked
    # them, in the background; at most this many ids wait (more are left to the search).
    warm_on_write: bool = True
    warm_on_write_max_pending: int = Field(default=10_000, ge=1)


class ImageFetchSettings(BaseModel):
    allowed_schemes: list[str] = Field(default_factory=lambda: ["https", "http"])
    allowed_hosts: list[str] = Field(default_factory=list)  # empty: any public host
    # exact host names trusted even when they resolve to private addresses (internal CDN)
    allow_private_hosts: list[str] = Field(default_factory=list)
    local_root: str | None = None  # images given as paths must resolve under it
    connect_timeout_s: float = 1.0
    read_timeout_s: float = 2.0
    total_timeout_s: float = 3.0
    max_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_redirects: int = 3


class LimitSettings(BaseModel):
    max_body_bytes: int = 10 * 1024 * 1024
    max_documents: int = 1000
    max_text_chars: int = 20_000
    max_query_chars: int = 1000
    max_window: int = 1000
    max_inflight: int = 64
    # Model calls past their search's deadline left to finish (they warm the cache). Each is
    # queued model work in front of live requests: a few warm the cache, more build a backlog.
    max_late_scoring: int = Field(default=8, ge=0)
    # _msearch: searches run at once (a larger max_concurrent_searches is lowered to it)
    # and the rerank window pairs one request may ask for in all (past it: 400).
    max_msearch_concurrency: int = Field(default=8, ge=1)
    max_msearch_window_pairs: int = Field(default=10_000, ge=1)
    # Searches nested deeper than this are passed to OpenSearch untouched (not reranked):
    # the sidecar's JSON encoder stops at 254 levels and an _msearch answer adds two.
    max_json_depth: int = Field(default=200, ge=8, le=250)


class ServerSettings(BaseModel):
    """Limits of the HTTP server itself (sidecar/http_server.py): what one slow or hostile
    client may hold. Env vars: LYCHEE_SERVER__MAX_HEADER_BYTES and so on."""

    # OpenSearch's own limits (http.max_header_size, http.max_initial_line_length): a request
    # the sidecar lets through never trips them (a node that refuses an oversized head
    # ignores the rest of that connection instead of closing it).
    max_header_bytes: int = Field(default=8 * 1024, ge=1024)  # the header lines, summed
    max_request_line_bytes: int = Field(default=4 * 1024, ge=256)
    header_timeout_s: float = Field(default=10.0, gt=0)  # whole head, from the first byte
    body_idle_timeout_s: float = Field(default=15.0, gt=0)  # silence while a body is due
    # Load balancers keep idle upstream connections 60 s (AWS ALB's default): outliving
    # that leaves the closing to the balancer, which then never sends on a closing socket.
    keep_alive_s: float = Field(default=75.0, gt=0)
    max_connections: int = Field(default=2048, ge=1)  # past it: 503 at once
    # Open connections one client address may hold (0: no cap). Leave 0 behind a load
    # balancer or NAT, where every client shares its address.
    max_connections_per_client: int = Field(default=0, ge=0)


class UpstreamAllowRule(BaseModel):
    """One entry of a `passthrough` allow-list: methods and a glob on the raw path."""

    methods: list[str] = Field(min_length=1)
    path: str = Field(min_length=1)

    @field_validator("methods")
    @classmethod
    def _upper_case(cls, methods: list[str]) -> list[str]:
        # Once here, not on every request the policy judges (sidecar/passthrough.py).
        return [m.upper() for m in methods]


PassthroughPolicy = Literal["all", "read_only"] | list[UpstreamAllowRule]


class ProxySettings(BaseModel):
    """The pass-through to OpenSearch (sidecar/proxy.py, sidecar/upstream_transport.py)."""

    pool_size: int = Field(default=64, ge=1)  # upstream connections, shared by all clients
    pool_timeout_s: float = Field(default=5.0, gt=0)  # wait for a free one, then 503
    connect_timeout_s: float = Field(default=5.0, gt=0)
    keepalive_s: float = Field(default=30.0, gt=0)  # idle upstream connections are closed
    # OpenSearch's http.max_content_length default; applies to the bytes sent (a gzip body's
    # compressed size: OpenSearch checks the inflated size itself).
    max_content_length: int = Field(default=100 * 1024 * 1024, ge=1)
    # Bodies up to this size are read whole, within body_timeout_s, before a connection is
    # taken: a slow client holds only its own socket.
    buffered_body_bytes: int = Field(default=1024 * 1024, ge=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    # Larger bodies stream; at most this many at once, so slow uploads leave the pool free.
    max_streamed_uploads: int = Field(default=16, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LYCHEE_", env_nested_delimiter="__", extra="ignore"
    )

    host: str = "127.0.0.1"  # LYCHEE_HOST; 0.0.0.0 exposes the sidecar on every interface
    port: int = Field(default=8080, ge=1, le=65535)
    opensearch_url: str = "http://127.0.0.1:9200"
    opensearch_timeout_s: float = 30.0
    rules_path: str | None = None
    api_key: str | None = None
    model_deadline_ms: int = 2000
    # A window's misses are scored in order, this many per model call: the depth reached by
    # the deadline is reranked (`partial`) instead of nothing (sidecar/ordered_scoring.py).
    model_chunk_docs: int = Field(default=8, ge=1)
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    # A deadline miss counts against the breaker only when the engine finished no call (of
    # any request) for this long: a busy engine is load, a silent one is broken.
    breaker_stall_s: float = Field(default=10.0, gt=0)
    default_instruction: str = DEFAULT_INSTRUCTION
    normalization_dictionary: list[str] = Field(default_factory=list)
    default_index: IndexConfig = Field(default_factory=lambda: IndexConfig())
    indices: dict[str, IndexConfig] = Field(default_factory=dict)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    result_cache: ResultCacheSettings = Field(default_factory=ResultCacheSettings)
    embedding_cache: EmbeddingCacheSettings = Field(default_factory=EmbeddingCacheSettings)
    images: ImageFetchSettings = Field(default_factory=ImageFetchSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    # What the pass-through forwards: "all", "read_only", or an allow-list (sidecar/passthrough.py)
    passthrough: PassthroughPolicy = "all"

    def index(self, name: str) -> IndexConfig:
        return self.indices.get(name, self.default_index)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("LYCHEE_CONFIG")
        if config and Path(config).is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config))
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
