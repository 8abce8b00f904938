"""Streamlit entry point of the lychee console, a client of the sidecar's HTTP API.

.venv/bin/streamlit run console/app.py --server.port 8501 --server.headless true
"""

import sys
from pathlib import Path

# `streamlit run console/app.py` puts console/ on sys.path, not the repository root, so the
# `console` package would not import unless it is installed.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from console.shell import main  # noqa: E402

main()
