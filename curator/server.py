"""Run the service: the Streamlit UI and the JSON API in one process (``st.App`` under uvicorn).

This module only starts the process; the ASGI app lives in ``pages/server.py`` (it imports
Streamlit, which the core never does). While it runs, ``<db>.server.json`` tells the CLI where
to reach the API.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from curator.paths import ROOT
from curator.store import server_info_path

PAGES_DIR = ROOT / "pages"

__all__ = ["PAGES_DIR", "run_server", "write_server_info", "remove_server_info"]


def write_server_info(db: Path, host: str, port: int) -> Path:
    info = server_info_path(db)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    tmp = info.with_suffix(".tmp")
    tmp.write_text(json.dumps({
        "pid": os.getpid(), "host": host, "port": port, "url": f"http://{shown_host}:{port}",
        "database": str(db), "started_at": datetime.now(timezone.utc).isoformat(),
    }))
    tmp.replace(info)
    return info


def remove_server_info(db: Path) -> None:
    info = server_info_path(db)
    try:
        if json.loads(info.read_text()).get("pid") == os.getpid():
            info.unlink()
    except (OSError, ValueError):
        pass


def run_server(db: str | Path, *, host: str = "127.0.0.1", port: int = 8501, demo: bool = False) -> None:
    """Serve the app on ``db`` until interrupted."""
    import uvicorn

    db = Path(db).resolve()
    os.environ["CURATOR_DB"] = str(db)
    if demo:
        os.environ["CURATOR_DEMO"] = "1"
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    os.environ.setdefault("STREAMLIT_SERVER_HEADLESS", "true")
    os.environ.setdefault("STREAMLIT_CLIENT_TOOLBAR_MODE", "minimal")
    write_server_info(db, host, port)
    print(f"curator is serving {db} at http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
          f"  (JSON API under /api/v1; Ctrl-C stops)", flush=True)
    try:
        uvicorn.run("server:app", app_dir=str(PAGES_DIR), host=host, port=port,
                    log_level=os.environ.get("CURATOR_LOG_LEVEL", "warning"))
    finally:
        remove_server_info(db)
