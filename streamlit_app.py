"""PUMP programme recruitment dashboard: page set-up, sign-in and grant-based navigation.

With [auth] in .streamlit/secrets.toml people sign in (OpenID Connect) and the access file
grants each of them their pages (DESIGN.md 6.1). Only those pages are registered with
st.navigation, so no other page can be reached by URL, and each page checks the grant again
before it reads data (common.require). Without [auth] and without an access file the app runs
in local mode: one person at this computer, a banner says so, and `make run` binds it to
127.0.0.1; the "Viewing as" box then shows the menu of each role.
"""

import json
from pathlib import Path

import streamlit as st

from app_pages import common
from dashboard import service
from dashboard.access import DEFAULT_ROLE, PAGES, ROLES, pages_for

# The tab icon is a picture the dashboard serves itself: Streamlit fetches a :material/...: tab icon
# from fonts.gstatic.com and draws an emoji one with the system's emoji font, neither of which a
# hospital PC can count on.
TAB_ICON = Path(__file__).parent / "app_pages" / "pump-icon.png"
st.set_page_config(page_title="PUMP recruitment", page_icon=TAB_ICON, layout="wide")

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

# Local mode's banner: a line in the header band at the top of every page, where it pushes nothing
# down (the meeting view and the first screens are measured to the pixel). Put on the page itself,
# outside Streamlit's layout, once per browser tab; a constant text, no user input.
LOCAL_BANNER = """<script>
if (!document.getElementById("pump-local-mode")) {
  const banner = document.createElement("div");
  banner.id = "pump-local-mode";
  banner.dataset.testid = "pump-local-mode";
  banner.setAttribute("role", "status");
  banner.title = "Anyone who can open this address may do everything. A shared deployment signs people in (README: Sign-in).";
  const name = document.createElement("strong");
  name.textContent = "Local mode";
  banner.append(name, ": one person at this computer, no sign-in");
  Object.assign(banner.style, {
    position: "fixed", top: "0.7rem", left: "50%", transform: "translateX(-50%)", zIndex: "1000002",
    maxWidth: "calc(100vw - 9rem)", padding: "0.15rem 0.7rem", borderRadius: "0.5rem", fontSize: "0.8rem",
    background: "#fdf3dc", color: "#5c4300", border: "1px solid #e0b85c", whiteSpace: "nowrap",
    overflow: "hidden", textOverflow: "ellipsis", pointerEvents: "none",
  });
  document.body.appendChild(banner);
}
</script>"""

problem = common.settings_problem()
if problem:  # a setting that is no value: a sentence, never a traceback
    st.error(f"**The dashboard cannot start**: {common.plain(problem)}. Correct it and start the dashboard again.",
             icon=":material/block:")
    st.stop()

# Landing on the address asked for: Streamlit's sign-in always comes back to the app's root, so the
# sign-in page notes the page address it was opened at (in the tab's own sessionStorage, one of the
# app's page names only) and, once signed in, the app goes there if the grant opens it. Constant
# code; the only data in it are the page names of dashboard/access.py.
REMEMBER_ASKED = """<script>
(() => {
  const asked = location.pathname.split("/").pop();
  if (PAGES.includes(asked)) sessionStorage.setItem("pump-asked-page", asked);
})();
</script>"""
GO_TO_ASKED = """<script>
(() => {
  const asked = sessionStorage.getItem("pump-asked-page");
  if (!asked) return;
  sessionStorage.removeItem("pump-asked-page");
  const here = location.pathname;
  if (GRANTED.includes(asked) && here.split("/").pop() !== asked) {
    location.replace(here.endsWith("/") ? here + asked : here.replace(/[^/]*$/, asked));
  }
})();
</script>"""

visitor = common.visitor()

with st.sidebar:
    st.html(FOLD_MENU_ON_PHONE, unsafe_allow_javascript=True)
    if visitor.mode == "local":
        st.selectbox(
            "Viewing as",
            list(ROLES),
            index=list(ROLES).index(st.session_state.get(common.ROLE_KEY, DEFAULT_ROLE)),
            format_func=ROLES.get,
            key=common.ROLE_KEY,
            help="Local mode: see the menu each role has. With sign-in, the access file decides.",
        )
    elif visitor.mode in ("signed_in", "unknown"):
        role = f" ({visitor.grant.label})" if visitor.grant else ""
        st.text(f"Signed in as {visitor.email or ''}{role}")  # plain text: no Markdown, no mailto: link
        st.button("Sign out", on_click=common.sign_out, key="sign-out")

if visitor.mode == "signed_out":
    st.sidebar.html(REMEMBER_ASKED.replace("PAGES", json.dumps(list(PAGES))), unsafe_allow_javascript=True)
elif visitor.mode == "signed_in":
    st.sidebar.html(GO_TO_ASKED.replace("GRANTED", json.dumps(pages_for(visitor.grant))), unsafe_allow_javascript=True)

if visitor.mode == "local":
    st.sidebar.html(LOCAL_BANNER, unsafe_allow_javascript=True)
elif visitor.mode in ("signed_in", "unknown") and not st.session_state.get("pump.sign_in_recorded"):
    # Once per login (the ID token's issue time tells logins apart; a reload is no new sign-in). The
    # database remembers that it is used with sign-in and this access file (Store.bind_access).
    common.get_store().bind_access(common.get_access())
    service.record_sign_in(common.get_store(), visitor.email or "(no e-mail)", visitor.grant.role if visitor.grant else None,
                           common.login_key())
    st.session_state["pump.sign_in_recorded"] = True

def not_open(name: str):
    """The page at an address outside the grant: it says so (and require audits it), instead of Streamlit's
    "page not found"."""

    def refuse() -> None:
        common.require(name)

    refuse.__name__ = f"not_open_{name.replace('-', '_')}"
    return refuse


if visitor.mode == "over":  # signed out on the server, or too old: sign in again, at every address
    pages = [st.Page(common.sign_in_over_page, title="Sign in again", icon=":material/login:", url_path="sign-in", default=True)] + [
        st.Page(common.sign_in_over_page, title="Sign in again", icon=":material/login:", url_path=name, visibility="hidden") for name in PAGES
    ]
elif visitor.mode == "signed_out":
    # The sign-in page answers at every page's address too, so a bookmark (/upload) of someone whose
    # sign-in has expired asks them to sign in instead of saying "page not found"; listed once, no menu.
    pages = [st.Page(common.sign_in_page, title="Sign in", icon=":material/login:", url_path="sign-in", default=True)] + [
        st.Page(common.sign_in_page, title="Sign in", icon=":material/login:", url_path=name, visibility="hidden") for name in PAGES
    ]
elif visitor.mode == "unknown":
    pages = [st.Page(common.no_access_page, title="No access yet", icon=":material/mail:", url_path="no-access", default=True)]
else:
    granted = pages_for(visitor.grant)
    # The first page is served at the root and, hidden from the menu, at its own address as well: Streamlit
    # serves a default page at "/" only, so a bookmark of one's own first page (a director's /overview, a
    # viewer's /meeting) would otherwise say "page not found".
    first = PAGES[granted[0]]
    pages = [st.Page(first.script, title=first.title, icon=first.icon, url_path="start", default=True)]
    pages += [
        st.Page(PAGES[name].script, title=PAGES[name].title, icon=PAGES[name].icon, url_path=name, visibility="hidden" if i == 0 else "visible")
        for i, name in enumerate(granted)
    ]
    # Every other page's address answers that it is not open to this person (audited), never "not found".
    pages += [
        st.Page(not_open(name), title=PAGES[name].title, icon=PAGES[name].icon, url_path=name, visibility="hidden")
        for name in PAGES
        if name not in granted
    ]
visible = [p for p in pages if p.visibility == "visible"]
with common.database_faults():
    st.navigation(pages, position="sidebar" if len(visible) > 1 else "hidden").run()
