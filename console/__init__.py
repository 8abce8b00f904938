"""Streamlit console for the rerank sidecar: talks to it over HTTP only."""
