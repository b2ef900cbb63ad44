"""What ``flask hamaynk check`` reports: every problem and warning of every plug-in,
definition file and builder service, one sentence each, plus the department codes a
municipality lacks for the steps of code and file services.

Nothing here prints or exits; :mod:`app.cli` does. Errors make ``check`` exit 1; warnings
are things that work but are probably a mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import access
from app.models import Department, Municipality
from app.plugins.host import PluginHost
from app.plugins.registry import DeclarationError

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    level: str  # ERROR or WARNING
    plugin: str
    origin: str
    message: str

    def line(self) -> str:
        if self.level == ERROR:
            return f"ERROR {self.plugin} ({self.origin}): {self.message}"
        return f"warning: {self.plugin} ({self.origin}): {self.message}"


def plugin_findings(host: PluginHost) -> list[Finding]:
    """One finding per problem of every plug-in record (a disabled plug-in may have many)
    and per warning, sorted by plug-in."""
    findings: list[Finding] = []
    for record in sorted(host.records.values(), key=lambda r: r.name):
        problems = list(record.problems)
        if record.error and not problems:
            # Builder records keep their problems as one joined text.
            findings.append(Finding(ERROR, record.name, record.origin, record.error))
        for problem in problems:
            if isinstance(problem, DeclarationError):
                where = f"service {problem.service!r}: " if problem.service else ""
                findings += [Finding(ERROR, record.name, record.origin, where + item) for item in problem.items]
            else:
                findings.append(Finding(ERROR, record.name, record.origin, getattr(problem, "problem", str(problem))))
        findings += [Finding(WARNING, record.name, record.origin, w) for w in record.warnings]
    return findings


def department_findings(session: Session, host: PluginHost) -> list[Finding]:
    """A warning for every municipality lacking a department code that a step of a code or
    file service names (the builder picks departments from the municipality's own list):
    that municipality cannot offer the service until it adds such a department."""
    municipalities = (
        session.execute(
            access.unscoped(select(Municipality), reason="department codes of every municipality").order_by(
                Municipality.code
            )
        )
        .scalars()
        .all()
    )
    rows = session.execute(
        access.unscoped(select(Department.municipality_id, Department.code), reason="department codes")
    ).all()
    codes: dict[int, set[str]] = {}
    for municipality_id, code in rows:
        codes.setdefault(municipality_id, set()).add(code)
    findings: list[Finding] = []
    for registered in host.registry.latest():
        if registered.source == "builder":
            continue
        record = host.records.get(registered.plugin)
        origin = record.origin if record is not None else registered.source
        for step in registered.service.steps:
            if step.department is None:
                continue
            lacking = [m.code for m in municipalities if step.department not in codes.get(m.id, set())]
            if not lacking:
                continue
            if len(lacking) == len(municipalities):
                who = "no municipality has"
            else:
                who = f"municipality(-ies) {', '.join(lacking)} lack"
            findings.append(
                Finding(
                    WARNING,
                    registered.plugin,
                    origin,
                    f"service {registered.key!r} v{registered.version}, step {step.key!r}: {who} a department "
                    f"with code {step.department!r}; such a municipality cannot offer the service until it adds one",
                )
            )
    return findings
