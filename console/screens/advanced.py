"""Two small pages: the instruction sent with every call (/instructions), and this console's
settings (/settings): band edges for the single and batch pages, and where it points."""

from __future__ import annotations

import streamlit as st

from console import session, wording
from console.models import Readiness


def _instruction_note() -> None:
    readiness = session.readiness()
    if isinstance(readiness, Readiness) and wording.instruction_ignored(readiness.capabilities):
        st.warning(
            f"The model in use ({readiness.detail or 'this backend'}) ignores the instruction: "
            "editing it changes no score."
        )


def render_instructions() -> None:
    """Draw the instruction editor."""
    st.header("Instructions")
    _instruction_note()
    st.caption(
        f"Default: {session.DEFAULT_INSTRUCTION} While it is the default, none is sent and "
        "the sidecar uses its own (or the index's)."
    )
    text = st.text_area(
        "Instruction sent with every request", value=session.instruction(), key="advanced.text"
    )
    save, reset = st.columns(2)
    if save.button("Save instruction", key="advanced.save"):
        session.set_instruction(text)
        st.success("Instruction saved for this session.")
    if reset.button("Restore default", key="advanced.reset"):
        session.set_instruction(session.DEFAULT_INSTRUCTION)
        del st.session_state["advanced.text"]
        st.rerun()


def _thresholds() -> None:
    st.subheader("Band thresholds")
    st.caption(
        "Colour the model scores of the single and batch pages for this session. The search "
        "preview shows the sidecar's own bands, computed by its rules from the final score."
    )
    current = session.thresholds()
    strong = st.number_input(
        "Strong from", 0.0, 1.0, current.strong, step=0.01, format="%.2f", key="advanced.strong"
    )
    medium = st.number_input(
        "Medium from", 0.0, 1.0, current.medium, step=0.01, format="%.2f", key="advanced.medium"
    )
    if st.button("Save thresholds", key="advanced.thresholds"):
        try:
            session.set_thresholds(strong, medium)
        except ValueError as exc:
            st.error(str(exc))
        else:
            st.success(f"Strong ≥ {strong:.2f}, medium ≥ {medium:.2f}, weak below.")


def render_settings() -> None:
    """Draw the console's settings."""
    st.header("Settings")
    config = session.config()
    st.caption(
        f"Sidecar: {config.url} (SIDECAR_URL) · storefront index: {config.index} (CONSOLE_INDEX)"
    )
    _thresholds()
