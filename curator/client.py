"""A small client for a running server's JSON API (used by the CLI when the file is locked)."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from curator.errors import AuthError, CuratorError, DatabaseLocked, NotFoundError, PermissionDenied
from curator.store import server_info_path

__all__ = ["ApiClient", "client_for"]


class ApiClient:
    def __init__(self, url: str, token: str, timeout: float = 600):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            try:
                msg = json.loads(exc.read()).get("error") or str(exc)
            except ValueError:
                msg = str(exc)
            cls = {401: AuthError, 403: PermissionDenied, 404: NotFoundError}.get(exc.code, CuratorError)
            raise cls(f"server: {msg}") from None
        except urllib.error.URLError as exc:
            raise CuratorError(f"cannot reach the server at {self.url}: {exc.reason}") from None

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, body)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def client_for(db: str | Path) -> ApiClient | None:
    """A client for the server holding ``db``; ``DatabaseLocked`` with what to do when there
    is a server but no token; None when no server info is found."""
    info_path = server_info_path(Path(db).resolve())
    if not info_path.exists():
        info_path = server_info_path(Path(db))
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(info.get("pid", 0))):
        return None
    token = os.environ.get("CURATOR_API_TOKEN", "").strip()
    if not token:
        raise DatabaseLocked(
            f"database {db} is held by `curator serve` (PID {info['pid']}, {info['url']}). "
            "To use it from the CLI, set CURATOR_API_TOKEN to an API token (create one on the "
            "app's Account page), or stop the server first."
        )
    return ApiClient(info["url"], token)
