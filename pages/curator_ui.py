"""Shared helpers for the Streamlit pages: the store, the logged-in user, guards, errors.

Pages only draw and call the core; rules and SQL live in ``curator/``."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

import streamlit as st

from curator.api import AUTH_PREFIX
from curator.errors import CuratorError
from curator.permissions import Actor, can
from curator.store import Store, default_db_path

ROLE_PAGES = {
    # page key -> permission needed to see it
    "label": "annotate",
    "projects": "manage_projects",
    "import": "import",
    "review": "settle",
    "agreement": "view_agreement",
    "export": "export",
    "jobs": "view_jobs",
    "users": "manage_users",
    "account": "manage_tokens",
}


def db_path() -> str:
    return str(os.environ.get("CURATOR_DB") or default_db_path())


@st.cache_resource(show_spinner=False)
def _store_for(path: str) -> Store:
    return Store.open(path, migrate=True)


def get_store() -> Store:
    """The process-wide store for this database (one DuckDB connection per process)."""
    return _store_for(db_path())


def current_actor() -> Actor | None:
    """The logged-in user: from this tab's state, or after a reload from the browser's
    session cookie (see curator.web_sessions)."""
    u = st.session_state.get("user") or _user_from_cookie()
    return Actor(u["id"], u["name"], u["role"]) if u else None


def _user_from_cookie() -> dict | None:
    from curator import web_sessions

    try:
        token = st.context.cookies.get(web_sessions.COOKIE)
    except Exception:  # no browser context (bare mode)
        return None
    if not isinstance(token, str) or not token:   # (AppTest hands out mock objects)
        return None
    try:
        user = web_sessions.user_for(get_store(), token)
    except CuratorError:
        return None
    if user is None:
        return None
    _set_user(user)
    st.session_state["web_token"] = token
    return st.session_state["user"]


def _set_user(user) -> None:
    st.session_state["user"] = {"id": user.id, "name": user.name, "role": user.role}


def _hidden_image(src: str) -> None:
    """An invisible image: the browser requests ``src`` (and keeps any cookie it sets)."""
    st.html(f'<img src="{src}" alt="" width="0" height="0" style="display:none">')


def login(user) -> None:
    """Log ``user`` in for this tab, and start a browser session so a reload keeps them."""
    from curator import web_sessions

    _set_user(user)
    try:
        st.session_state["web_code"] = web_sessions.start(get_store(), user)
    except CuratorError:
        pass  # the tab stays logged in; only a reload will ask again


def session_cookie_tag() -> None:
    """Until the server has used it, draw an invisible image that trades this tab's one-time
    code for the session cookie (``GET /auth/session``: an HttpOnly cookie, no JavaScript)."""
    from curator import web_sessions

    code = st.session_state.get("web_code")
    if not code or st.session_state.get("web_code_done"):
        return
    if web_sessions.code_done(get_store(), code):
        st.session_state["web_code_done"] = True
        return
    _hidden_image(f"{AUTH_PREFIX}/session?code={code}")


def logout() -> None:
    """End this tab's login and the browser session (the cookie no longer works anywhere)."""
    from curator import web_sessions

    code, token = st.session_state.get("web_code"), st.session_state.get("web_token")
    try:
        web_sessions.end(get_store(), code=code, token=token)
    except CuratorError:
        pass
    for k in list(st.session_state.keys()):
        del st.session_state[k]
    st.session_state["clear_cookie"] = True


def clear_cookie_tag() -> None:
    """After a log-out, ask the server to drop the (already revoked) session cookie."""
    if st.session_state.pop("clear_cookie", False):
        _hidden_image(f"{AUTH_PREFIX}/logout")


def guard(page: str) -> Actor:
    """Stop the page unless someone is logged in whose role may use it (URL or page switch
    cannot get around it; the core checks again)."""
    actor = current_actor()
    if actor is None:
        st.error("Please log in first.")
        st.stop()
    if not can(actor, ROLE_PAGES[page]):
        st.error(f"Your role ({actor.role}) cannot use this page.")
        st.stop()
    return actor


@contextmanager
def user_errors() -> Iterator[None]:
    """Show a ``CuratorError`` as ``st.error`` instead of a traceback."""
    try:
        yield
    except CuratorError as exc:
        st.error(str(exc))


def pick_project(actor: Actor, *, task_types: tuple[str, ...] | None = None, key: str = "project"):
    """A project selector shared across pages (remembers the choice)."""
    from curator.projects import list_projects

    projects = [p for p in list_projects(get_store(), actor)
                if task_types is None or p.task_type in task_types]
    if not projects:
        return None
    names = [p.name for p in projects]
    current = st.session_state.get("current_project")
    index = names.index(current) if current in names else 0
    name = st.selectbox("Project", names, index=index, key=key)
    st.session_state["current_project"] = name
    return projects[names.index(name)]


def json_download(label: str, data: Any, file_name: str, key: str | None = None) -> None:
    import json

    st.download_button(label, json.dumps(data, default=str, indent=2), file_name=file_name,
                       mime="application/json", key=key)
