"""Per-browser-session settings (instruction, band thresholds, storefront index), the
shared client and the sidecar's last readiness answer.

Values live under plain session-state keys, not widget keys, because Streamlit drops a
widget's state when the page that drew it is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from console import settings
from console.client import SidecarClient
from console.errors import ConsoleError
from console.models import Readiness

# The sidecar's default (DESIGN §3). Repeated here because the console talks HTTP only and
# must not import the engine package.
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query."
DEFAULT_STRONG = 0.75
DEFAULT_MEDIUM = 0.55

_INSTRUCTION = "console.instruction"
_THRESHOLDS = "console.thresholds"
_CLIENT = "console.client"
_SETTINGS = "console.settings"
_READINESS = "console.readiness"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Band edges: score >= strong is strong, >= medium is medium, else weak."""

    strong: float = DEFAULT_STRONG
    medium: float = DEFAULT_MEDIUM

    def band(self, score: float) -> str:
        if score >= self.strong:
            return "strong"
        if score >= self.medium:
            return "medium"
        return "weak"


def client() -> SidecarClient:
    """One client per browser session, built from the environment on first use."""
    if _CLIENT not in st.session_state:
        st.session_state[_CLIENT] = SidecarClient.from_env()
    found: SidecarClient = st.session_state[_CLIENT]
    return found


def config() -> settings.ConsoleSettings:
    """The environment's settings, read once per browser session."""
    if _SETTINGS not in st.session_state:
        st.session_state[_SETTINGS] = settings.load()
    found: settings.ConsoleSettings = st.session_state[_SETTINGS]
    return found


def refresh_readiness() -> Readiness | ConsoleError:
    """Ask `/readyz` now (the frame does it on every run) and keep the answer for the page."""
    try:
        answer: Readiness | ConsoleError = client().readiness()
    except ConsoleError as exc:
        answer = exc
    st.session_state[_READINESS] = answer
    return answer


def readiness() -> Readiness | ConsoleError:
    """This run's readiness answer (asked now when the frame has not)."""
    found = st.session_state.get(_READINESS)
    if isinstance(found, Readiness | ConsoleError):
        return found
    return refresh_readiness()


def instruction() -> str:
    return str(st.session_state.get(_INSTRUCTION, DEFAULT_INSTRUCTION))


def instruction_to_send() -> str | None:
    """The instruction for requests: None while it is the default, so the sidecar applies
    its own (an index may configure another) and a backend that ignores instructions has
    nothing to report."""
    text = instruction()
    return None if text == DEFAULT_INSTRUCTION else text


def set_instruction(text: str) -> None:
    st.session_state[_INSTRUCTION] = text.strip() or DEFAULT_INSTRUCTION


def thresholds() -> Thresholds:
    found = st.session_state.get(_THRESHOLDS)
    return found if isinstance(found, Thresholds) else Thresholds()


def set_thresholds(strong: float, medium: float) -> None:
    """Store new edges; raises ValueError unless 0 <= medium < strong <= 1."""
    if not 0.0 <= medium < strong <= 1.0:
        raise ValueError("Thresholds need 0 <= medium < strong <= 1.")
    st.session_state[_THRESHOLDS] = Thresholds(strong=strong, medium=medium)
