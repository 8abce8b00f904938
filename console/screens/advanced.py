"""Advanced settings: the instruction sent with every call and this session's band edges."""

from __future__ import annotations

import streamlit as st

from console import session


def _instruction() -> None:
    st.subheader("Instruction")
    st.caption(f"Default: {session.DEFAULT_INSTRUCTION}")
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
    st.caption("Used by this console to colour scores; the sidecar's rules keep their own.")
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


def render() -> None:
    """Draw the page."""
    st.header("Advanced settings")
    _instruction()
    _thresholds()
