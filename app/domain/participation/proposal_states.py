"""A citizen proposal's states, shared by the proposals module and the polls that put
proposals to a budget vote (polls cannot import the proposals module: it imports them).

1. ``open``: collecting support; enough support moves it to ``review``.
2. ``review``: staff decide ``feasible`` (at a reviewed cost) or ``unfeasible`` (with a reason).
3. ``feasible``: may be put to a budget vote; publishing the vote makes it ``in_vote``, so one
   project is never on two ballots at once.
4. ``in_vote``: when the vote is counted, the funded projects become ``funded`` and the others
   ``feasible`` again (a later budget may fund them); a cancelled vote returns them all.
5. ``withdrawn``: the author took it back while it was still collecting support.
"""

from __future__ import annotations

OPEN = "open"
REVIEW = "review"
FEASIBLE = "feasible"
UNFEASIBLE = "unfeasible"
IN_VOTE = "in_vote"
FUNDED = "funded"
WITHDRAWN = "withdrawn"
STATUSES = (OPEN, REVIEW, FEASIBLE, UNFEASIBLE, IN_VOTE, FUNDED, WITHDRAWN)

__all__ = ["FEASIBLE", "FUNDED", "IN_VOTE", "OPEN", "REVIEW", "STATUSES", "UNFEASIBLE", "WITHDRAWN"]
