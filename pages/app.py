"""curator's Streamlit entry script: login, then the pages this user's role may use.

Started by `curator serve` (through pages/server.py) or `streamlit run pages/app.py`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

_here = Path(__file__).resolve().parent
if str(_here) not in sys.path:  # pages/ holds curator_ui
    sys.path.insert(0, str(_here))

import streamlit as st  # noqa: E402

import curator_ui as ui  # noqa: E402
from curator.errors import CuratorError  # noqa: E402
from curator.permissions import can  # noqa: E402

st.set_page_config(page_title="curator", page_icon="🏷️", layout="wide")


def login_page() -> None:
    ui.clear_cookie_tag()
    st.title("curator")
    st.caption("Dataset curation and labeling for LLM fine-tuning")
    try:
        store = ui.get_store()
    except CuratorError as exc:
        st.error(str(exc))
        st.stop()
    from curator.users import authenticate, list_users

    if not list_users(store):
        st.info("No users yet. Create the first admin with "
                "`curator users add NAME --role admin` (or `curator init --admin NAME`).")
        st.stop()
    with st.form("login"):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        try:
            user = authenticate(store, name, password)
        except CuratorError as exc:
            st.error(str(exc))
        else:
            ui.login(user)
            st.rerun()
    if os.environ.get("CURATOR_DEMO"):
        from curator.demo import DEMO_ACCOUNTS

        st.markdown("**Demo accounts** (user / password)")
        st.table([{"user": n, "password": p, "role": r} for n, r, p in DEMO_ACCOUNTS])


PAGES = [
    # (key, file, title, icon, section)
    ("label", "label.py", "Label", ":material/label:", "Work"),
    ("review", "review.py", "Review", ":material/gavel:", "Work"),
    ("projects", "projects.py", "Projects", ":material/folder:", "Set up"),
    ("import", "import_data.py", "Import", ":material/upload:", "Set up"),
    ("agreement", "agreement.py", "Agreement", ":material/insights:", "Quality"),
    ("export", "export.py", "Export", ":material/download:", "Ship"),
    ("jobs", "jobs.py", "Jobs", ":material/model_training:", "Ship"),
    ("users", "users.py", "Users", ":material/group:", "Admin"),
    ("account", "account.py", "Account", ":material/person:", "Admin"),
]

actor = ui.current_actor()
if actor is None:
    nav = st.navigation([st.Page(login_page, title="Log in", icon=":material/login:")])
else:
    sections: dict[str, list] = {}
    for key, file, title, icon, section in PAGES:
        if can(actor, ui.ROLE_PAGES[key]):
            sections.setdefault(section, []).append(
                st.Page(str(_here / file), title=title, icon=icon, url_path=key))
    with st.sidebar:
        ui.session_cookie_tag()
        st.markdown(f"**{actor.name}** · {actor.role}")
        if st.button("Log out", key="logout"):
            ui.logout()
            st.rerun()
    nav = st.navigation(sections)
nav.run()
