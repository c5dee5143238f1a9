"""PUMP programme recruitment dashboard: page set-up and role-based navigation.

The role decides which pages exist, so a page a role may not use cannot be reached by
URL either. Until sign-in arrives, the role is chosen in the sidebar.
"""

import streamlit as st

from dashboard.roles import DEFAULT_ROLE, ROLES, pages_for

st.set_page_config(page_title="PUMP recruitment", page_icon=":material/monitoring:", layout="wide")

PAGES = {
    "overview": st.Page("pages/overview.py", title="Programme overview", icon=":material/dashboard:", url_path="overview"),
}

with st.sidebar:
    role = st.selectbox(
        "Viewing as",
        list(ROLES),
        index=list(ROLES).index(st.session_state.get("role", DEFAULT_ROLE)),
        format_func=lambda r: ROLES[r],
        key="role",
        help="Sign-in comes later; until then choose your role here.",
    )

navigation = st.navigation([PAGES[name] for name in pages_for(role) if name in PAGES])
navigation.run()
