"""Account (everyone): change your password; create an API token for the CLI."""
from __future__ import annotations

import streamlit as st

import curator_ui as ui
from curator.errors import InvalidInput
from curator.users import authenticate, create_token, reset_password

actor = ui.guard("account")
store = ui.get_store()

st.title("Account")
st.caption(f"Signed in as **{actor.name}** ({actor.role}).")

st.subheader("Change password")
with st.form("account_pw", clear_on_submit=True):
    current = st.text_input("Current password", type="password", key="account_pw_current")
    new = st.text_input("New password (at least 8 characters)", type="password",
                        key="account_pw_new")
    again = st.text_input("New password again", type="password", key="account_pw_again")
    change = st.form_submit_button("Change password", type="primary")
if change:
    with ui.user_errors():
        authenticate(store, actor.name, current)
        if new != again:
            raise InvalidInput("the two new passwords differ; type the same one twice")
        reset_password(store, actor, actor.name, new)
        st.success("Password changed.")

st.subheader("API token for the command line")
st.markdown(
    "While `curator serve` holds the database, the CLI works through the server's API with "
    "a token. A token acts as you, with your role.")
token_name = st.text_input("Token name (to tell your tokens apart)", value="cli",
                           key="account_token_name")
if st.button("Create token", key="account_token_create"):
    with ui.user_errors():
        token = create_token(store, actor, actor.name, token_name.strip() or "cli")
        st.warning("Copy the token now: it is shown only this once (curator keeps only a hash).")
        st.code(token, language=None)
        st.markdown("Use it from a shell on this machine:")
        st.code(f"export CURATOR_DB={ui.db_path()}\n"
                f"export CURATOR_API_TOKEN={token}\n"
                "curator status PROJECT", language="bash")
        st.caption("Commands then go to the running server; without a server the CLI opens "
                   "the database file directly.")
