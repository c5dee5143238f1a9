"""The mass-removal guard (DESIGN.md 4.3): an extract that would remove 10 or more of the
current participants at the sites it covers, or 20% or more of them, is almost always a
filtered or wrong export. It is stored only when the coordinator types how many it removes.

Pure: the page and the command line show `MassRemoval.sentences()` before anything is
stored, and the store applies the very same rule again inside the commit's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

MIN_COUNT = 10
MIN_SHARE = 0.20


@dataclass(frozen=True)
class MassRemoval:
    trial: str
    per_site: dict[str, tuple[int, int]]  # site -> (removed, current participants)

    @property
    def count(self) -> int:
        return sum(removed for removed, _ in self.per_site.values())

    def sentences(self) -> list[str]:
        """One plain sentence per site: 'This removes 164 of 168 EMC participants of PUMP.'"""
        return [
            f"This removes {removed} of {current} {site} participants of {self.trial}."
            for site, (removed, current) in self.per_site.items()
            if removed
        ]

    def refusal(self, typed: int | None) -> str:
        said = " ".join(self.sentences())
        if typed is None:
            ask = f"If that is right, type the number of participants it removes ({self.count}) to confirm"
        else:
            ask = f"You confirmed {typed}, but it removes {self.count}: look at the file again, or confirm {self.count}"
        return (
            f"{said} An extract is a full snapshot, so a filtered or wrong export removes participants. "
            f"{ask} (--confirm-removals {self.count} on the command line). Nothing was stored."
        )


def mass_removal(trial: str, current: pd.DataFrame, incoming_ids: Iterable[str]) -> MassRemoval | None:
    """The removal an extract makes when it replaces `current` (site, participant_id of the
    current participants at the sites it covers), or None when it is below both limits."""
    if current.empty:
        return None
    removed = ~current["participant_id"].isin(set(incoming_ids))
    total = int(removed.sum())
    if total == 0 or (total < MIN_COUNT and total / len(current) < MIN_SHARE):
        return None
    per_site = {
        str(site): (int(group_removed.sum()), len(group_removed))
        for site, group_removed in removed.groupby(current["site"].to_numpy(), sort=True)
    }
    return MassRemoval(trial, per_site)


def check_confirmation(removal: MassRemoval | None, typed: int | None) -> str | None:
    """The refusal when a mass removal is not confirmed with its exact number, else None."""
    if removal is None or typed == removal.count:
        return None
    return removal.refusal(typed)
