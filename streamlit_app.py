"""PUMP programme recruitment dashboard: page set-up and role-based navigation.

The role decides which pages exist, so a page a role may not use cannot be reached by
URL either. Until sign-in arrives, the role is chosen in the sidebar.
"""

import streamlit as st

from app_pages.common import database_faults
from dashboard.roles import DEFAULT_ROLE, PAGES, ROLES, pages_for

st.set_page_config(page_title="PUMP recruitment", page_icon=":material/monitoring:", layout="wide")

# On a phone the open sidebar covers the page: after a tap on a menu item, fold it away (Streamlit leaves it
# open). Installed once per browser tab; a wide screen keeps its sidebar.
FOLD_MENU_ON_PHONE = """<script>
if (!window.pumpFoldMenu) {
  window.pumpFoldMenu = true;
  document.addEventListener("click", (event) => {
    if (window.innerWidth >= 768 || !event.target.closest('[data-testid="stSidebarNav"] a')) return;
    setTimeout(() => document.querySelector('[data-testid="stSidebarCollapseButton"] button')?.click(), 300);
  }, true);
}
</script>"""

with st.sidebar:
    st.html(FOLD_MENU_ON_PHONE, unsafe_allow_javascript=True)
    role = st.selectbox(
        "Viewing as",
        list(ROLES),
        index=list(ROLES).index(st.session_state.get("role", DEFAULT_ROLE)),
        format_func=ROLES.get,
        key="role",
        help="Sign-in comes later; until then choose your role here.",
    )

pages = [
    st.Page(PAGES[name].script, title=PAGES[name].title, icon=PAGES[name].icon, url_path=name, default=(i == 0))
    for i, name in enumerate(pages_for(role))
]
with database_faults():
    st.navigation(pages).run()
