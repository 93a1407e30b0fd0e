"""The JSON API served beside the UI (``/api/v1/...``), token-authenticated.

It lets the CLI (and scripts) work while ``curator serve`` holds the database file: status,
agreement and export run in the server process, over the same connection, with the same core
functions and permission checks as everywhere else. Tokens: ``curator users token NAME`` or
the app's Account page; send ``Authorization: Bearer <token>``.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from curator.errors import AuthError, CuratorError, NotFoundError, PermissionDenied
from curator.permissions import Actor
from curator.store import Store, default_db_path

__all__ = ["routes", "API_PREFIX", "AUTH_PREFIX"]

API_PREFIX = "/api/v1"


def _json_default(o: Any) -> Any:
    from curator.cli import _default

    return _default(o)


def _resp(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(json.loads(json.dumps(data, default=_json_default)), status_code=status)


def _store() -> Store:
    return Store.open(os.environ.get("CURATOR_DB") or default_db_path(), migrate=False)


def _actor(store: Store, request: Request) -> Actor:
    from curator.users import user_for_token

    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise AuthError("missing API token: send 'Authorization: Bearer <token>'")
    return user_for_token(store, auth[7:]).actor


def _endpoint(fn: Callable[[Store, Actor, Request, Any], Any], *, with_body: bool = False):
    async def handler(request: Request) -> JSONResponse:
        body = None
        if with_body:
            try:
                body = await request.json()
            except ValueError:
                return _resp({"error": "request body must be JSON"}, 400)
        try:
            store = _store()
            actor = _actor(store, request)
            return _resp(await run_in_threadpool(fn, store, actor, request, body))
        except AuthError as exc:
            return _resp({"error": str(exc)}, 401)
        except PermissionDenied as exc:
            return _resp({"error": str(exc)}, 403)
        except NotFoundError as exc:
            return _resp({"error": str(exc)}, 404)
        except CuratorError as exc:
            return _resp({"error": str(exc)}, 400)

    return handler


def _health(store: Store, actor: Actor, request: Request, body: Any) -> dict:
    from curator import __version__

    return {"ok": True, "version": __version__, "database_id": store.database_id(), "user": actor.name}


def _projects(store: Store, actor: Actor, request: Request, body: Any) -> dict:
    from curator.projects import list_projects

    return {"database": str(store.path), "projects": [
        {"name": p.name, "task_type": p.task_type, "overlap": p.overlap, "labels": p.label_names}
        for p in list_projects(store, actor)]}


def _status(store: Store, actor: Actor, request: Request, body: Any) -> dict:
    from curator.review import project_status

    return project_status(store, actor, request.path_params["project"])


def _agreement(store: Store, actor: Actor, request: Request, body: Any) -> Any:
    from curator.review import agreement

    return agreement(store, actor, request.path_params["project"]).to_dict()


_EXPORT_KEYS = {"kind", "balance", "balance_by", "val_fraction", "val_count", "seed", "model",
                "system_prompt", "over_limit", "trl", "out_dir", "allow_small"}


def _export(store: Store, actor: Actor, request: Request, body: Any) -> Any:
    from curator.export import export_project

    if not isinstance(body, dict):
        raise CuratorError("export settings must be a JSON object")
    unknown = set(body) - _EXPORT_KEYS
    if unknown:
        raise CuratorError(f"unknown export setting(s): {', '.join(sorted(unknown))}")
    return export_project(store, actor, request.path_params["project"], **body).to_dict()


AUTH_PREFIX = "/auth"


async def _session_cookie(request: Request) -> Response:
    """``GET /auth/session?code=...``: the page's one-time code -> the session cookie
    (``HttpOnly``, ``SameSite=Lax``; ``Secure`` over https). See curator.web_sessions.
    Only the app's own page may ask: a browser's request from another site (``Sec-Fetch-Site``)
    is refused without using the code, so no site can log a visitor in as someone else."""
    from curator import web_sessions

    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return Response(status_code=403, headers={"Cache-Control": "no-store"})
    code = request.query_params.get("code", "")
    try:
        token = await run_in_threadpool(web_sessions.redeem, _store(), code)
    except CuratorError:
        token = None
    resp = Response(status_code=204 if token else 403, headers={"Cache-Control": "no-store"})
    if token:
        resp.set_cookie(web_sessions.COOKIE, token, max_age=web_sessions.SESSION_SECONDS,
                        path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return resp


async def _clear_cookie(request: Request) -> Response:
    """``GET /auth/logout``: drop the session cookie (the session is already revoked)."""
    from curator import web_sessions

    resp = Response(status_code=204, headers={"Cache-Control": "no-store"})
    resp.delete_cookie(web_sessions.COOKIE, path="/", httponly=True, samesite="lax")
    return resp


def routes() -> list[Route]:
    return [
        Route(f"{AUTH_PREFIX}/session", _session_cookie),
        Route(f"{AUTH_PREFIX}/logout", _clear_cookie),
        Route(f"{API_PREFIX}/health", _endpoint(_health)),
        Route(f"{API_PREFIX}/projects", _endpoint(_projects)),
        Route(f"{API_PREFIX}/status/{{project}}", _endpoint(_status)),
        Route(f"{API_PREFIX}/agreement/{{project}}", _endpoint(_agreement)),
        Route(f"{API_PREFIX}/export/{{project}}", _endpoint(_export, with_body=True), methods=["POST"]),
    ]
