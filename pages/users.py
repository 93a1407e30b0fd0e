"""Users (admins): list, add, change role, disable/enable, reset a password."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import curator_ui as ui
from curator.permissions import ROLES
from curator.users import create_user, list_users, reset_password, set_disabled, set_role

actor = ui.guard("users")
store = ui.get_store()

st.title("Users")
flash = st.session_state.pop("users_flash", None)
if flash:
    st.success(flash)


def done(message: str) -> None:
    st.session_state["users_flash"] = message
    st.rerun()


users = list_users(store, actor)
st.dataframe(pd.DataFrame([{
    "name": u.name, "role": u.role, "status": "disabled" if u.disabled else "active",
    "can log in": u.has_password and not u.disabled, "created": u.created_at}
    for u in users]), hide_index=True, width="stretch")
st.caption("Users without a password (created by annotation imports) cannot log in until "
           "an admin sets one.")

add_tab, role_tab, access_tab, pw_tab = st.tabs(
    ["Add user", "Change role", "Disable / enable", "Reset password"])

with add_tab:
    with st.form("users_add", clear_on_submit=True):
        name = st.text_input("Name", key="users_add_name")
        role = st.selectbox("Role", ROLES, key="users_add_role")
        password = st.text_input("Password (at least 8 characters)", type="password",
                                 key="users_add_password")
        submitted = st.form_submit_button("Add user", type="primary")
    if submitted:
        with ui.user_errors():
            u = create_user(store, actor, name, role, password)
            done(f"User {u.name!r} added as {u.role}.")

names = [u.name for u in users]
by_name = {u.name: u for u in users}

with role_tab:
    who = st.selectbox("User", names, key="users_role_who")
    new_role = st.selectbox("New role", ROLES,
                            index=ROLES.index(by_name[who].role) if who else 0,
                            key="users_role_new")
    if st.button("Change role", key="users_role_apply"):
        with ui.user_errors():
            u = set_role(store, actor, who, new_role)
            done(f"{u.name} is now {u.role}.")

with access_tab:
    who_d = st.selectbox("User", names, key="users_access_who")
    if who_d:
        disabled = by_name[who_d].disabled
        st.caption(f"{who_d} is {'disabled' if disabled else 'active'}.")
        if st.button("Enable" if disabled else "Disable", key="users_access_apply"):
            with ui.user_errors():
                u = set_disabled(store, actor, who_d, not disabled)
                done(f"{u.name} is now {'disabled' if u.disabled else 'enabled'}.")

with pw_tab:
    with st.form("users_pw", clear_on_submit=True):
        who_p = st.selectbox("User", names, key="users_pw_who")
        new_pw = st.text_input("New password (at least 8 characters)", type="password",
                               key="users_pw_new")
        reset = st.form_submit_button("Reset password")
    if reset:
        with ui.user_errors():
            u = reset_password(store, actor, who_p, new_pw)
            done(f"Password of {u.name} reset; tell them to change it on their Account page.")
