"""The ``Output`` template of a service: found, checked and rendered to HTML for the issued PDF.

A service's :class:`~app.domain.declarations.Output` holds inline Jinja text (``template``)
or names a file (``template_file``) relative to the plug-in's package or the definition
file (``RegisteredService.base_path``). Templates run in Jinja's sandbox with autoescaping:
form values typed by citizens are text, never markup, and a template can reach nothing but
the context it is handed (app.domain.issuing builds it; docs/plugins.md lists it).

The registry checks the syntax at start-up (:func:`syntax_problem`), so a typo stops a
development start or disables the plug-in in production. What only shows while rendering (a
filter applied to the wrong type, a missing attribute of a missing value) raises
:class:`OutputTemplateError`, which names the plug-in, the service and the template: the
decision is refused with that message and nothing is written.

Compiled templates are cached per source (files also per modification time), so rendering
inside the decision's transaction costs a dictionary look-up and the render itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from flask_babel import lazy_gettext as _l
from jinja2.sandbox import SandboxedEnvironment

from app.domain.declarations import Output
from app.domain.errors import WorkflowError

log = logging.getLogger(__name__)

# One sandboxed environment for every output template: autoescaped (the result is HTML that
# fpdf2 lays out), missing names render empty (templates guard optional values with
# ``| default``), no loader (sources are read here, never by a template's ``include``).
_ENV = SandboxedEnvironment(autoescape=True, undefined=jinja2.Undefined, auto_reload=False)
_CACHE: dict[tuple[str, ...], jinja2.Template] = {}
_LOCK = threading.Lock()
_MAX_CACHED = 256


class OutputTemplateError(WorkflowError):
    """A service's output template cannot be found, read, parsed or rendered.

    ``str()`` is for the staff member whose decision was refused; ``detail`` (also logged)
    names the plug-in, service, template and Jinja's own message for the administrator."""

    default_message = _l(
        "The decision was not recorded: the document template of this service has an error. "
        "Tell the system administrator; nothing was changed."
    )

    def __init__(self, plugin: str, service_key: str, template: str, problem: str) -> None:
        self.plugin = plugin
        self.service_key = service_key
        self.template = template
        self.problem = problem
        self.detail = f"plug-in {plugin!r}, service {service_key!r}, output template {template!r}: {problem}"
        super().__init__(
            _l(
                "The decision was not recorded: the document template of this service has an error "
                "(plug-in %(plugin)s, service %(service)s, template %(template)s). Tell the system "
                "administrator; nothing was changed.",
                plugin=plugin,
                service=service_key,
                template=template,
            )
        )


def template_name(output: Output) -> str:
    """How errors name the template: its file, or ``<inline>``."""
    return output.template_file or "<inline>"


def source_of(output: Output, base_path: Path | None) -> tuple[str, tuple[str, ...]]:
    """The template text and its cache key. Raises ``OSError`` when the file cannot be read
    and ``ValueError`` when it lies outside ``base_path``."""
    if not output.template_file:
        return output.template, ("inline", output.template)
    if base_path is None:
        raise ValueError("the service has no folder to find its template_file in")
    base = base_path.resolve()
    path = (base / output.template_file).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"template_file {output.template_file!r} points outside {base}")
    stat = path.stat()
    text = path.read_text(encoding="utf-8")
    return text, ("file", str(path), str(stat.st_mtime_ns), str(stat.st_size))


def syntax_problem(output: Output, base_path: Path | None) -> str | None:
    """What is wrong with the template's syntax (a sentence for the declaration check), or
    ``None`` when it parses. A missing file is the registry's own check."""
    try:
        text, _key = source_of(output, base_path)
    except (OSError, ValueError):
        return None
    try:
        _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"output template {template_name(output)!r} has a syntax error on line {exc.lineno}: {exc.message}"
    return None


def _compiled(text: str, key: tuple[str, ...]) -> jinja2.Template:
    with _LOCK:
        template = _CACHE.get(key)
    if template is not None:
        return template
    template = _ENV.from_string(text)
    with _LOCK:
        if len(_CACHE) >= _MAX_CACHED:
            _CACHE.clear()
        _CACHE[key] = template
    return template


def render(output: Output, base_path: Path | None, context: Mapping[str, Any], *, plugin: str, service_key: str) -> str:
    """The template rendered with ``context``; :class:`OutputTemplateError` on any failure."""
    name = template_name(output)
    try:
        text, key = source_of(output, base_path)
    except (OSError, ValueError) as exc:
        raise _failed(plugin, service_key, name, f"cannot be read: {exc}") from exc
    try:
        return _compiled(text, key).render(dict(context))
    except jinja2.TemplateSyntaxError as exc:
        raise _failed(plugin, service_key, name, f"syntax error on line {exc.lineno}: {exc.message}") from exc
    except Exception as exc:  # a template may fail in any way its filters and tests can
        raise _failed(plugin, service_key, name, f"{type(exc).__name__}: {exc}") from exc


def _failed(plugin: str, service_key: str, name: str, problem: str) -> OutputTemplateError:
    error = OutputTemplateError(plugin, service_key, name, problem)
    log.error("cannot render the issued document: %s", error.detail)
    return error


__all__ = ["OutputTemplateError", "render", "source_of", "syntax_problem", "template_name"]
