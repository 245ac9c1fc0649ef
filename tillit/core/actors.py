"""Who is acting. Every service and selector takes an ``Actor``; interfaces build it."""

from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["staff", "api_client", "system", "data_subject"]


@dataclass(frozen=True, slots=True)
class Actor:
    """The staff member, API client, system job or data subject behind an action.

    ``role`` is a role key from the policy file; ``user_id`` is the staff user the action is
    attributed to (an API client acts for its owner). ``label`` is a non-personal description
    for audit records ("api:crm-sync", "system:sweep").
    """

    kind: ActorKind
    role: str | None
    user_id: int | None
    label: str

    @classmethod
    def system(cls, job: str) -> "Actor":
        return cls(kind="system", role=None, user_id=None, label=f"system:{job}")
