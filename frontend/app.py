"""Entry point: `streamlit run frontend/app.py` (what `ragchat frontend` runs)."""

import sys
from pathlib import Path

# `streamlit run` puts frontend/ on sys.path, not its parent: make `frontend.*` importable
# without an install (e.g. a checkout deployed as a Space).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from frontend.navigation import main  # noqa: E402

main()
