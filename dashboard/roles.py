"""Who sees which pages. The page registry and the roles are data here; the app builds
its `st.Page`s from them, and the browser tests walk them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    script: str
    title: str
    icon: str


PAGES = {
    "overview": PageSpec("app_pages/overview.py", "Programme overview", ":material/dashboard:"),
    "trial": PageSpec("app_pages/trial.py", "Trial status", ":material/monitoring:"),
    "sites": PageSpec("app_pages/sites.py", "Site comparison", ":material/compare_arrows:"),
    "upload": PageSpec("app_pages/upload.py", "Upload an extract", ":material/upload_file:"),
    "extracts": PageSpec("app_pages/extracts.py", "Extract history", ":material/history:"),
    "meeting": PageSpec("app_pages/meeting.py", "Steering meeting", ":material/co_present:"),
}

ROLES = {
    "director": "Programme director",
    "coordinator": "Trial coordinator",
    "committee": "Steering committee",
}
DEFAULT_ROLE = "director"

ROLE_PAGES = {
    "director": ["overview", "trial", "sites", "extracts", "meeting"],
    "coordinator": ["upload", "extracts", "overview", "trial", "sites", "meeting"],
    "committee": ["meeting", "overview", "trial", "sites"],
}


def pages_for(role: str) -> list[str]:
    """The pages a role may open, in menu order; an unknown role gets the default role's."""
    return ROLE_PAGES.get(role, ROLE_PAGES[DEFAULT_ROLE])
