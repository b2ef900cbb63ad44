"""Errors of the case-handling domain (workflow, deadlines, tracking numbers).

Kept free of models and of the plug-in machinery so :mod:`app.sdk` can re-export
:class:`TransitionVetoed` without an import cycle. Messages are lazy translations: they are
rendered in the language of whoever finally reads them, not of the code that raised them.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l


class WorkflowError(Exception):
    """Base class: the action was refused and nothing was written.

    ``str(error)`` is a complete sentence for the person who tried; views show it as is.
    """

    default_message: Any = _l("This action is not possible.")

    def __init__(self, message: Any = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)

    def __str__(self) -> str:
        return str(self.message)


class NotAllowed(WorkflowError):
    """The actor may not do this (wrong role, department, municipality, or own work)."""

    default_message = _l("You are not allowed to do this.")


class InvalidAction(WorkflowError):
    """The action does not fit the application's state or lacks what it needs (a reason)."""

    default_message = _l("This action is not possible for this application now.")


class ChangedMeanwhile(WorkflowError):
    """Someone else changed the application between loading it and acting on it."""

    default_message = _l("This application was changed by someone else meanwhile; reload it and try again.")


class ServiceUnavailable(WorkflowError):
    """The service (key and version) the application was filed under is no longer installed."""

    default_message = _l("The service of this application is not installed any more; ask the system administrator.")


class TransitionVetoed(WorkflowError):
    """Raise from a ``before_transition`` hook to refuse the action.

    Give a message for the person who tried, in their language (``app.sdk.gettext``)::

        raise TransitionVetoed(gettext("Attach the fee receipt before approving."))

    Nothing is written; the caller sees the message.
    """

    default_message = _l("A plug-in refused this action.")


__all__ = ["ChangedMeanwhile", "InvalidAction", "NotAllowed", "ServiceUnavailable", "TransitionVetoed", "WorkflowError"]


class HookFailed(RuntimeError):
    """A plug-in's hook raised or answered with something of the wrong shape. The message
    names the plug-in and the hook; it is for the log and the administrator, not the clerk
    (who is shown a generic message). Raised by :class:`app.plugins.host.PluginHost`."""

    def __init__(self, plugin: str, hook: str, problem: str):
        self.plugin = plugin
        self.hook = hook
        super().__init__(f"plug-in {plugin!r}, hook {hook}(): {problem}")
