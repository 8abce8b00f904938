"""One module per console page, each exposing `render()`.

Not named `pages/`: Streamlit would treat such a folder beside app.py as its own
file-based pages and bypass `st.navigation`.
"""
