"""The ASGI app `curator serve` runs: the Streamlit UI (pages/app.py) and the JSON API
(curator.api) in one process, over one DuckDB connection.

The database is opened here, at start-up, so the server holds the file from the first moment
(the CLI then talks to the API instead of opening it) and a bad database fails at once; it is
closed (checkpointed) when the server shuts down."""
from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

from curator.api import routes
from curator.store import Store, default_db_path

store = Store.open(os.environ.get("CURATOR_DB") or default_db_path(), migrate=False)


@asynccontextmanager
async def lifespan(app):
    yield None
    Store.close_all()


app = st.App(str(Path(__file__).resolve().parent / "app.py"), routes=routes(), lifespan=lifespan)
