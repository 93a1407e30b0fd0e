"""The ASGI app `curator serve` runs: the Streamlit UI (pages/app.py) and the JSON API
(curator.api) in one process, over one DuckDB connection."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from curator.api import routes

app = st.App(str(Path(__file__).resolve().parent / "app.py"), routes=routes())
