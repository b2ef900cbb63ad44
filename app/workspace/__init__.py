"""Back-office audience: the inbox and case pages of clerks, specialists, heads and auditors."""

from __future__ import annotations

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l

from app.workspace.payments import PaymentsView
from app.workspace.questions import QuestionsView, open_questions
from app.workspace.reports import StaffReportsView
from app.workspace.substitutes import SubstitutesView
from app.workspace.views import WorkspaceView


def init_app(app: Flask, appbuilder: AppBuilder) -> None:
    # The menu name is a stable identifier (permissions hang on it); the label is translated.
    appbuilder.add_view(
        WorkspaceView, "Inbox", label=_l("Inbox"), icon="fa-tasks", category="Office", category_label=_l("Office")
    )
    # Reached from the account menu and the inbox; it uses the workspace's permissions.
    appbuilder.add_view_no_menu(SubstitutesView)
    # Recording, waiving and printing payments from the case page (app.workspace.payments).
    appbuilder.add_view_no_menu(PaymentsView)
    # Citizens' questions (app.workspace.questions); the workspace's permissions, its own menu item.
    appbuilder.add_view(QuestionsView, "Questions", label=_l("Questions"), icon="fa-comments", category="Office")
    # Staff reports (app.workspace.reports): its own permissions, for heads, municipal admins and auditors.
    appbuilder.add_view(StaffReportsView, "Reports", label=_l("Reports"), icon="fa-bar-chart", category="Office")
    # The inbox links to it with the number of questions waiting for an answer.
    app.jinja_env.globals["workspace_open_questions"] = open_questions
