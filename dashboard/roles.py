"""Who sees which pages. A role is a name; its pages are listed here, in menu order."""

ROLES = {
    "director": "Programme director",
    "coordinator": "Trial coordinator",
    "committee": "Steering committee",
}
DEFAULT_ROLE = "director"

ROLE_PAGES = {
    "director": ["overview"],
    "coordinator": ["overview"],
    "committee": ["overview"],
}


def pages_for(role: str) -> list[str]:
    """The pages a role may open; an unknown role gets the default role's pages."""
    return ROLE_PAGES.get(role, ROLE_PAGES[DEFAULT_ROLE])
