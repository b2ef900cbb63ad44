"""The permission the workspace's views share.

The inbox, case, questions, payments and substitutes views are one desk: a role may use all of
it or none, so they hang on one permission name. Each declares the same permissions, because
Flask-AppBuilder, as it registers a view, deletes that name's permissions the view does not
declare (and logs "Refused to delete permission view ..." when a role holds one).
"""

from __future__ import annotations

NAME = "Workspace"
PERMISSIONS = frozenset({"can_act", "can_document", "can_list", "can_show"})
