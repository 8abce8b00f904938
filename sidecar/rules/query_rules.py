"""Pins and hides: product ids tied to query patterns."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

RuleId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def fold_query(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used by exact/prefix/contains rules."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


class QueryRule(BaseModel):
    """Product ids tied to queries. Matching ignores case, width and whitespace, so
    `iphone15` matches "iPhone 15"; `regex` searches the normalized query, case-insensitively;
    `any` matches every query."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RuleId
    match: Literal["exact", "prefix", "contains", "regex", "any"] = "exact"
    query: str | None = None
    ids: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    _pattern: re.Pattern[str] | None = PrivateAttr(default=None)
    _folded: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _compile(self) -> QueryRule:
        if self.match == "any":
            return self
        if not self.query or not self.query.strip():
            raise ValueError(f"rule {self.id!r}: match {self.match!r} needs a non-empty query")
        if self.match == "regex":
            try:
                self._pattern = re.compile(self.query, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"rule {self.id!r}: invalid regex {self.query!r}: {exc}") from exc
        self._folded = fold_query(self.query)
        return self

    def matches(self, query: str) -> bool:
        if self.match == "any":
            return True
        if self._pattern is not None:
            return self._pattern.search(query) is not None
        folded = fold_query(query)
        if self.match == "exact":
            return folded == self._folded
        if self.match == "prefix":
            return folded.startswith(self._folded)
        return self._folded in folded


class Pin(QueryRule):
    """Place these hits, in this order, from `position` (1 = top) when the query matches."""

    position: int = Field(default=1, ge=1, le=10_000)


class Hide(QueryRule):
    """Remove these hits when the query matches (a hide wins over a pin)."""
