"""The console's settings, from the environment (the container and `make run` set them).

SIDECAR_URL        where the sidecar answers (default http://127.0.0.1:8080)
SIDECAR_API_KEY    sent as X-API-Key when the sidecar requires one
CONSOLE_INDEX      the storefront index the search preview opens on (default `products`)
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_INDEX = "products"


class ConsoleSettings(BaseSettings):
    # No prefix: the names predate this class and are set by docker-compose and run.sh.
    model_config = SettingsConfigDict(extra="ignore")

    sidecar_url: str = Field(default=DEFAULT_URL, validation_alias="SIDECAR_URL")
    sidecar_api_key: str | None = Field(default=None, validation_alias="SIDECAR_API_KEY")
    storefront_index: str = Field(default=DEFAULT_INDEX, validation_alias="CONSOLE_INDEX")

    @property
    def url(self) -> str:
        # An empty SIDECAR_URL= (as compose files sometimes leave it) means the default.
        return (self.sidecar_url or DEFAULT_URL).rstrip("/")

    @property
    def index(self) -> str:
        return self.storefront_index.strip() or DEFAULT_INDEX

    @property
    def api_key(self) -> str | None:
        return self.sidecar_api_key or None


def load() -> ConsoleSettings:
    """Read the environment now (each browser session reads it once)."""
    return ConsoleSettings()
