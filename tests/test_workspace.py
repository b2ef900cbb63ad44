"""The back-office workspace over HTTP: every built-in service walked to approval by the right
people, corrections, rejections, conflicts, documents, personal data, tenant isolation,
hostile input, and a list page whose cost does not grow with the number of applications."""

from __future__ import annotations

import datetime as dt
import io
import re
from re import _parser as sre_parse

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app import testing
from app.domain import casefile as case
from app.domain import statuses, workflow
from app.domain.activations import set_activation
from app.domain.declarations import pick
from app.domain.documents import store_documents
from app.domain.roles import ROLE_BY_KEY
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, ApplicationDocument, AuditEvent, TransitionRecord
from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, add_staff, count_statements, login, make_pdf, make_png

RESIDENCE = "residence-certificate"


# -- sample data for any declaration ------------------------------------------------------


def regex_sample(pattern: str, high: bool = False) -> str:
    """A string matching ``pattern``: the lowest (or highest) branch, range end and count."""

    def build(items) -> str:
        out = []
        for op, av in items:
            name = str(op)
            if name == "LITERAL":
                out.append(chr(av))
            elif name == "ANY":
                out.append("a")
            elif name == "IN":
                options = [(str(o), a) for o, a in av if str(o) != "NEGATE"]
                o, a = options[-1] if high else options[0]
                if o == "LITERAL":
                    out.append(chr(a))
                elif o == "RANGE":
                    out.append(chr(a[1] if high else a[0]))
                else:
                    out.append("1" if "DIGIT" in str(a) else "a")
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, top, sub = av
                out.append(build(sub) * max(low, 1 if top else 0))
            elif name == "SUBPATTERN":
                out.append(build(av[-1]))
            elif name == "BRANCH":
                out.append(build(av[1][-1] if high else av[1][0]))
            elif name == "CATEGORY":
                out.append("1" if "DIGIT" in str(av) else "a")
        return "".join(out)

    return build(sre_parse.parse(pattern))


def candidates(spec) -> list:
    """Values to try for a field, most ordinary first."""
    if spec.type == "choice":
        return [c.value for c in spec.choices]
    if spec.type == "multichoice":
        return [[c.value] for c in spec.choices]
    if spec.type == "boolean":
        return [""]
    if spec.type in ("integer", "decimal"):
        low = spec.min_value if spec.min_value is not None else 1
        high = spec.max_value if spec.max_value is not None else low + 10
        return [str(int(low)), str(int(high)), str(int((low + high) / 2))]
    if spec.type == "date":
        today = dt.date.today()
        return [(today + dt.timedelta(days=d)).isoformat() for d in (30, 60, -365 * 4, -365 * 20, -400, 10)]
    if spec.type == "psn":
        return ["1234567890"]
    if spec.type == "email":
        return ["applicant@example.com"]
    if spec.type == "phone":
        return ["+37491123456"]
    if spec.pattern:
        return [regex_sample(spec.pattern), regex_sample(spec.pattern, high=True)]
    text = "Sample text for the case page"[: spec.max_length or None]
    # Examples in the help text ("e.g. 07-001-0123-0045") satisfy plug-in checks the
    # declaration cannot express.
    examples = [w.strip(".,;:()") for w in pick(spec.help, "en").split() if any(c.isdigit() for c in w)]
    return [text, *examples]


def sample_data(service, app) -> dict:
    """Valid form data for any declaration, found by trying each field's candidates."""
    raw: dict = {}
    errors: dict = {}
    for _attempt in range(8):
        data, errors = plugin_runtime.validate_application_data(service, raw, app)
        if not errors:
            return data
        for name in errors:
            spec = service.field(name)
            if spec is None:
                continue
            options = candidates(spec)
            current = raw.get(name)
            raw[name] = options[(options.index(current) + 1) % len(options)] if current in options else options[0]
    raise AssertionError(f"no valid sample data for {service.key}: {errors}")


# -- people and applications ---------------------------------------------------------------


def enable_all(app, municipality_key: str = "alpha") -> None:
    municipality = app.seeded[municipality_key]
    with app.app_context():
        registry = plugin_runtime.registry(app)
        for registered in registry.latest():
            set_activation(
                db.session,
                registry,
                municipality["id"],
                registered.key,
                enabled=True,
                fee_override=None,
                deadline_override=None,
                department_id=None,
                actor_id=None,
            )
        db.session.commit()


def staff(app, municipality_key: str, role_key: str, department: str | None, n: int = 0) -> tuple[int, str]:
    """(user id, username) of a staff member with one role in one department, made on demand."""
    municipality = app.seeded[municipality_key]
    username = f"{municipality['code']}.{role_key}.{department or 'none'}.{n}"
    return add_staff(app, municipality, username, [ROLE_BY_KEY[role_key]], department), username


def file_application(
    app, service_key: str, municipality_key: str = "alpha", data: dict | None = None, **applicant
) -> int:
    service = plugin_runtime.registry(app).get(service_key).service
    applicant.setdefault("applicant_name", "Արմեն Պետրոսյան")
    return testing.file_application(
        app, service_key, municipality_key, data=data if data is not None else sample_data(service, app), **applicant
    )


def state(app, application_id: int) -> dict:
    with app.app_context():
        a = db.session.get(Application, application_id)
        history = db.session.execute(
            select(
                TransitionRecord.action, TransitionRecord.step_key, TransitionRecord.actor_id, TransitionRecord.comment
            )
            .where(TransitionRecord.application_id == application_id)
            .order_by(TransitionRecord.id)
        ).all()
        return {
            "status": a.status,
            "step": a.current_step,
            "version": a.version,
            "assignee_id": a.assignee_id,
            "due_at": a.due_at,
            "history": [tuple(h) for h in history],
        }


def post(client, app, application_id: int, action: str, version=None, **form):
    if version is None:
        version = state(app, application_id)["version"]
    # Already confirmed: the confirmation step of a rejection or final approval has its own test
    # (tests/test_corrections.py); here every post is the act itself.
    return client.post(
        f"/workspace/applications/{application_id}/{action}", data={"version": version, "confirmed": "1", **form}
    )


def text_of(response) -> str:
    return response.get_data(as_text=True)


def as_user(client, username: str) -> None:
    login(client, username, PASSWORD)
    english(client)


def english(client) -> None:
    # Messages are checked in English; the default language is Armenian.
    client.get("/lang/en")


@pytest.fixture
def alpha(app):
    enable_all(app, "alpha")
    enable_all(app, "beta")
    return app.seeded["alpha"]


def step_worker(app, step, avoid: set[int]) -> tuple[int, str]:
    """Someone with the step's role in its department who did not do the earlier work."""
    for n in range(3):
        user_id, username = staff(app, "alpha", step.role, step.department, n)
        if user_id not in avoid:
            return user_id, username
    raise AssertionError("no colleague left")


# -- walking every built-in service ------------------------------------------------------------


def test_every_builtin_service_is_approved_step_by_step_through_the_workspace(app, alpha, client):
    with app.app_context():
        services = [r.service for r in plugin_runtime.registry(app).latest()]
    assert len(services) >= 7
    for service in services:
        application_id = file_application(app, service.key)
        approvers: list[tuple[str, int]] = []
        for _guard in range(len(service.steps) + 1):
            current = state(app, application_id)
            if current["status"] == statuses.APPROVED:
                break
            step = service.step(current["step"])
            user_id, username = step_worker(app, step, {uid for _key, uid in approvers} | {alpha["users"]["clerk"]})
            as_user(client, username)
            inbox = text_of(client.get("/workspace/?tab=mine"))
            assert f'data-application="{application_id}"' in inbox, (service.key, step.key)
            page = client.get(f"/workspace/applications/{application_id}")
            assert page.status_code == 200
            assert f"/workspace/applications/{application_id}/approve" in text_of(page)
            response = post(client, app, application_id, "approve", comment=f"ok {step.key}")
            assert response.status_code == 303, (service.key, step.key, text_of(response)[:500])
            approvers.append((step.key, user_id))
        final = state(app, application_id)
        assert final["status"] == statuses.APPROVED, service.key
        route = [s.key for s in service.route(sample_data(service, app))]
        assert [h[0] for h in final["history"]] == ["submit"] + ["approve"] * len(route)
        assert [(h[1], h[2]) for h in final["history"][1:]] == approvers
        assert [h[3] for h in final["history"][1:]] == [f"ok {key}" for key in route]
        # The history is on the page, with who did it.
        timeline = text_of(client.get(f"/workspace/applications/{application_id}"))
        assert timeline.count('data-action="approve"') == len(route)
        assert "/approve" not in timeline  # nothing left to approve


def test_the_case_page_renders_every_service_generically_in_the_readers_language(app, alpha, client, login_as):
    login_as("clerk")
    with app.app_context():
        services = [r.service for r in plugin_runtime.registry(app).latest()]
    for service in services:
        with app.app_context():
            data = sample_data(service, app)
        application_id = file_application(app, service.key, data=data)
        for lang in ("hy", "en", "ru"):
            client.get(f"/lang/{lang}")
            page = client.get(f"/workspace/applications/{application_id}")
            assert page.status_code == 200, (service.key, lang)
            html = text_of(page)
            assert pick(service.title, lang).replace("'", "&#39;") in html
            for spec in service.fields:
                if data.get(spec.name) in (None, "", []):
                    continue
                assert pick(spec.label, lang).replace("'", "&#39;").replace('"', "&#34;") in html, (
                    service.key,
                    spec.name,
                    lang,
                )
                if spec.type == "choice":
                    chosen = next(c for c in spec.choices if c.value == data[spec.name])
                    cell = re.search(rf'data-field="{spec.name}">(.*?)</dd>', html, re.S).group(1)
                    assert cell.strip() == pick(chosen.label, lang).replace("'", "&#39;").replace('"', "&#34;"), (
                        service.key,
                        spec.name,
                    )
    client.get("/lang/hy")


# -- corrections, rejections, conflicts ---------------------------------------------------------


def test_return_for_correction_then_resubmit_then_approve(app, alpha, client):
    application_id = file_application(app, RESIDENCE)
    _registrar_id, registrar = staff(app, "alpha", "specialist", "civil_registry")
    as_user(client, registrar)
    before = state(app, application_id)
    empty = post(client, app, application_id, "return", what_to_fix="   ")
    assert empty.status_code == 400 and "correct" in text_of(empty)
    assert state(app, application_id) == before
    assert post(client, app, application_id, "return", what_to_fix="Attach a readable passport scan").status_code == 303
    returned = state(app, application_id)
    assert returned["status"] == statuses.RETURNED
    page = text_of(client.get(f"/workspace/applications/{application_id}"))
    assert "Attach a readable passport scan" in page and "/approve" not in page

    as_user(client, "alpha.clerk")  # the front office hands the correction back
    assert "/resubmit" in text_of(client.get(f"/workspace/applications/{application_id}"))
    assert post(client, app, application_id, "resubmit", comment="New scan brought in").status_code == 303
    assert state(app, application_id)["status"] == statuses.IN_REVIEW

    as_user(client, registrar)
    assert post(client, app, application_id, "approve").status_code == 303
    _head_id, head = staff(app, "alpha", "head", "civil_registry")
    as_user(client, head)
    assert post(client, app, application_id, "approve").status_code == 303
    final = state(app, application_id)
    assert final["status"] == statuses.APPROVED
    assert [h[0] for h in final["history"]] == ["submit", "return", "resubmit", "approve", "approve"]


def test_a_rejection_needs_a_reason_and_closes_the_case(app, alpha, client):
    application_id = file_application(app, RESIDENCE)
    _rid, registrar = staff(app, "alpha", "specialist", "civil_registry")
    as_user(client, registrar)
    post(client, app, application_id, "approve")
    _hid, head = staff(app, "alpha", "head", "civil_registry")
    as_user(client, head)
    before = state(app, application_id)
    missing = post(client, app, application_id, "reject", reason="")
    assert missing.status_code == 400 and state(app, application_id) == before
    assert post(client, app, application_id, "reject", reason="Not registered at this address").status_code == 303
    after = state(app, application_id)
    assert after["status"] == statuses.REJECTED and after["history"][-1][0] == "reject"
    page = text_of(client.get(f"/workspace/applications/{application_id}"))
    assert "Not registered at this address" in page
    assert not re.search(r'/workspace/applications/\d+/(approve|reject|return|reassign|extend)"', page)


def test_two_people_acting_on_the_same_version_one_wins_the_other_gets_409(app, alpha, client):
    application_id = file_application(app, RESIDENCE)
    _rid, registrar = staff(app, "alpha", "specialist", "civil_registry")
    as_user(client, registrar)
    seen = state(app, application_id)["version"]
    first = post(client, app, application_id, "approve", version=seen)
    assert first.status_code == 303
    after_first = state(app, application_id)
    second = post(client, app, application_id, "return", version=seen, what_to_fix="Fix it")
    assert second.status_code == 409
    assert "meanwhile" in text_of(second) and "Reload" in text_of(second)
    assert state(app, application_id) == after_first
    # A forged future version is just as stale.
    assert post(client, app, application_id, "approve", version=after_first["version"] + 7).status_code == 409
    assert state(app, application_id) == after_first


def test_numbers_are_ascii_digits_only_anything_else_is_400_not_500(app, alpha, client):
    application_id = file_application(app, RESIDENCE)
    _rid, registrar = staff(app, "alpha", "specialist", "civil_registry")
    as_user(client, registrar)
    before = state(app, application_id)
    # The version the reader saw, written in Arabic-Indic digits: int() would read it as that number.
    arabic_indic = str(before["version"]).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for version in ("²", arabic_indic, "9" * 5000):
        response = post(client, app, application_id, "approve", version=version)
        assert response.status_code == 400, version
    assert post(client, app, application_id, "reassign", assignee_id="²").status_code == 400
    assert state(app, application_id) == before


def test_the_second_head_signing_an_approved_application_gets_409_not_400(app, alpha, client):
    """Both heads opened the signature step; the first signed, which approved the application."""
    application_id = file_application(app, RESIDENCE)
    _rid, registrar = staff(app, "alpha", "specialist", "civil_registry")
    as_user(client, registrar)
    assert post(client, app, application_id, "approve").status_code == 303
    seen = state(app, application_id)["version"]
    _h1, first_head = staff(app, "alpha", "head", "civil_registry", 0)
    _h2, second_head = staff(app, "alpha", "head", "civil_registry", 1)
    as_user(client, first_head)
    assert post(client, app, application_id, "approve", version=seen).status_code == 303
    approved = state(app, application_id)
    assert approved["status"] == statuses.APPROVED
    as_user(client, second_head)
    second = post(client, app, application_id, "approve", version=seen)
    assert second.status_code == 409
    assert "meanwhile" in text_of(second) and "not possible while" not in text_of(second)
    assert state(app, application_id) == approved


def test_acting_without_the_role_or_department_is_refused_with_403_and_changes_nothing(app, alpha, client, login_as):
    application_id = file_application(app, RESIDENCE)
    before = state(app, application_id)
    login_as("specialist")  # urban planning, not the civil registry
    english(client)
    response = post(client, app, application_id, "approve")
    assert response.status_code == 403 and "civil_registry" not in text_of(response).split("<main")[0]
    assert state(app, application_id) == before
    login_as("auditor")  # reads only: FAB refuses the action endpoint itself
    assert post(client, app, application_id, "approve").status_code in (302, 403)
    assert state(app, application_id) == before
    page = text_of(client.get(f"/workspace/applications/{application_id}"))
    assert "/approve" not in page and "/comment" not in page


def test_comment_reassign_and_extend(app, alpha, client, login_as):
    application_id = file_application(app, RESIDENCE)
    first_id, first = staff(app, "alpha", "specialist", "civil_registry", 0)
    second_id, _second = staff(app, "alpha", "specialist", "civil_registry", 1)
    _head_id, head = staff(app, "alpha", "head", "civil_registry")
    as_user(client, head)
    page = text_of(client.get(f"/workspace/applications/{application_id}"))
    assert f'<option value="{first_id}">' in page and f'<option value="{second_id}">' in page
    assert f'<option value="{alpha["users"]["specialist"]}">' not in page  # urban planning
    assert post(client, app, application_id, "reassign", assignee_id=second_id, reason="Holiday").status_code == 303
    assert state(app, application_id)["assignee_id"] == second_id
    as_user(client, _second)
    assert f'data-application="{application_id}"' in text_of(client.get("/workspace/?tab=mine"))
    as_user(client, first)
    assert f'data-application="{application_id}"' not in text_of(client.get("/workspace/?tab=mine"))
    assert f'data-application="{application_id}"' in text_of(client.get("/workspace/?tab=department"))

    as_user(client, head)
    due = state(app, application_id)["due_at"]
    assert post(client, app, application_id, "extend", days="abc", reason="x").status_code == 400
    assert post(client, app, application_id, "extend", days="0", reason="x").status_code == 400
    assert post(client, app, application_id, "extend", days="3", reason="").status_code == 400
    assert state(app, application_id)["due_at"] == due
    assert post(client, app, application_id, "extend", days="3", reason="Waiting for the registry").status_code == 303
    assert state(app, application_id)["due_at"] > due

    login_as("clerk")
    assert post(client, app, application_id, "comment", comment="Applicant called").status_code == 303
    assert post(client, app, application_id, "comment", comment="").status_code == 400
    history = state(app, application_id)["history"]
    assert [h[0] for h in history] == ["submit", "reassign", "extend", "comment"]
    assert history[-1][3] == "Applicant called" and history[-1][2] == alpha["users"]["clerk"]


# -- hostile input ------------------------------------------------------------------------------


def test_hostile_ids_versions_and_assignees(app, alpha, client, login_as):
    application_id = file_application(app, RESIDENCE)
    beta_specialist, _ = staff(app, "beta", "specialist", "civil_registry")
    _head_id, head = staff(app, "alpha", "head", "civil_registry")
    as_user(client, head)
    before = state(app, application_id)
    for path in (
        "/workspace/applications/abc",
        "/workspace/applications/-1",
        "/workspace/applications/1e3",
        f"/workspace/applications/{2**64}",
        f"/workspace/applications/{2**63}",
        "/workspace/applications/999999",
    ):
        assert client.get(path).status_code == 404, path
        assert client.post(path + "/approve", data={"version": 1}).status_code in (404, 405), path
    assert client.post(f"/workspace/applications/{2**70}/approve", data={"version": 1}).status_code == 404
    assert client.post(f"/workspace/applications/{application_id}/delete", data={"version": 1}).status_code == 404
    assert client.get(f"/workspace/applications/{application_id}/documents/{2**66}").status_code == 404
    for version in ("", "abc", "-1", "1.5", "9" * 40):
        response = post(client, app, application_id, "extend", version=version, days="1", reason="x")
        assert response.status_code == 400, version
    assert (
        client.post(f"/workspace/applications/{application_id}/extend", data={"days": "1", "reason": "x"}).status_code
        == 400
    )
    forged = post(client, app, application_id, "reassign", assignee_id=beta_specialist)
    assert forged.status_code == 400 and "cannot work on this step" in text_of(forged)
    assert post(client, app, application_id, "reassign", assignee_id="abc").status_code == 400
    assert post(client, app, application_id, "reassign", assignee_id=str(2**70)).status_code == 400
    assert post(client, app, application_id, "extend", days="2", reason="x" * 6000).status_code == 400
    assert state(app, application_id) == before


def test_a_bad_cursor_gives_page_one_with_a_message(app, alpha, client, login_as):
    ids = [file_application(app, RESIDENCE) for _ in range(3)]
    login_as("clerk")
    english(client)
    for cursor in ("garbage", "W251bGwsIDEsICJuIl0", "a" * 5000, "%00", "WyIyMDI2LTAxLTAxIiwgMSwgIm4iXQ.forged"):
        response = client.get("/workspace/", query_string={"tab": "all", "cursor": cursor})
        assert response.status_code == 200
        html = text_of(response)
        assert "damaged" in html
        assert all(f'data-application="{i}"' in html for i in ids)
    odd = client.get(
        "/workspace/",
        query_string={
            "tab": "nonsense",
            "status": "bogus",
            "service": "x" * 500,
            "from": "2026-13-45",
            "to": "yesterday",
        },
    )
    assert odd.status_code == 200


# -- tenant isolation ---------------------------------------------------------------------------

ROLES = ("municipal_admin", "clerk", "specialist", "head", "auditor")


def add_document(app, application_id: int, requirement_key: str, data: bytes, filename: str) -> int:
    with app.app_context():
        application = db.session.get(Application, application_id)
        service = workflow.service_of(application, plugin_runtime.registry(app))
        requirement = service.document(requirement_key)
        rows = store_documents(
            db.session,
            get_storage(app),
            application,
            requirement,
            [FileStorage(stream=io.BytesIO(data), filename=filename)],
        )
        db.session.commit()
        return rows[0].id


def test_alpha_staff_get_404_for_everything_of_beta_and_never_see_it_listed(app, alpha, client, login_as):
    beta_id = file_application(
        app, RESIDENCE, "beta", applicant_name="Beta Person", applicant_psn="5555555555", applicant_phone="+37491555555"
    )
    beta_doc = add_document(app, beta_id, "identity", make_pdf(), "passport.pdf")
    with app.app_context():
        beta_tracking = db.session.get(Application, beta_id).tracking_number
    alpha_id = file_application(app, RESIDENCE, "alpha", applicant_name="Alpha Person")
    before = state(app, beta_id)
    endpoints = [
        ("get", f"/workspace/applications/{beta_id}"),
        ("get", f"/workspace/applications/{beta_id}/documents/{beta_doc}"),
        ("get", f"/workspace/applications/{beta_id}/documents/{beta_doc}/preview"),
        ("get", f"/workspace/applications/{alpha_id}/documents/{beta_doc}"),  # alpha's case, beta's file
        ("get", f"/workspace/applications/{alpha_id}/documents/{beta_doc}/preview"),
    ]
    actions = ["approve", "reject", "return", "comment", "reassign", "extend", "resubmit", "withdraw"]
    extra_staff = [
        staff(app, "alpha", "specialist", "civil_registry")[1],
        staff(app, "alpha", "head", "civil_registry")[1],
    ]
    for who in [*ROLES, *extra_staff]:
        if who in ROLES:
            login_as(who)
        else:
            as_user(client, who)
        for _method, path in endpoints:
            # Auditors may not open documents at all, so FAB refuses those endpoints first.
            expected = (302, 403) if who == "auditor" and "/documents/" in path else (404,)
            assert client.get(path).status_code in expected, (who, path)
        for action in actions:
            response = client.post(
                f"/workspace/applications/{beta_id}/{action}",
                data={
                    "version": before["version"],
                    "comment": "x",
                    "reason": "x",
                    "what_to_fix": "x",
                    "days": "1",
                    "assignee_id": str(app.seeded["beta"]["users"]["specialist"]),
                },
            )
            expected = (302, 403) if who == "auditor" else (404,)  # auditors may not post at all
            assert response.status_code in expected, (who, action, response.status_code)
        for tab in ("mine", "department", "all"):
            for q in ("", beta_tracking, beta_tracking.lower().replace("-", " "), "Beta", "5555555555", "091 555 555"):
                html = text_of(client.get("/workspace/", query_string={"tab": tab, "q": q}))
                assert f'data-application="{beta_id}"' not in html and "Beta Person" not in html, (who, tab, q)
    assert state(app, beta_id) == before
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count(AuditEvent.id)).where(AuditEvent.action.like("document.%"))
            ).scalar_one()
            == 0
        )


def test_citizens_have_no_workspace(app, alpha, client, login_as):
    application_id = file_application(app, RESIDENCE)
    login_as("citizen")
    assert client.get("/workspace/").status_code in (302, 403)
    assert client.get(f"/workspace/applications/{application_id}").status_code in (302, 403)
    assert "Արմեն" not in text_of(client.get(f"/workspace/applications/{application_id}", follow_redirects=True))


def test_tabs_follow_the_role(app, alpha, client, login_as):
    login_as("auditor")
    html = text_of(client.get("/workspace/"))
    assert "tab=all" in html and "tab=mine" not in html and "tab=department" not in html
    _sid, specialist = staff(app, "alpha", "specialist", "civil_registry")
    as_user(client, specialist)
    html = text_of(client.get("/workspace/"))
    assert "tab=mine" in html and "tab=department" in html and "tab=all" not in html
    # Asking for a tab the role does not have shows the default one, not someone else's list.
    application_id = file_application(app, "trade-permit")
    assert f'data-application="{application_id}"' not in text_of(client.get("/workspace/?tab=all"))
    # System administrators see every municipality's list, with personal data masked.
    beta_id = file_application(app, RESIDENCE, "beta", applicant_psn="5555555555")
    login_as("system_admin")
    html = text_of(client.get("/workspace/?tab=all"))
    assert f'data-application="{application_id}"' in html and f'data-application="{beta_id}"' in html
    page = text_of(client.get(f"/workspace/applications/{beta_id}"))
    assert "5555555555" not in page and "/approve" not in page


# -- documents and personal data -----------------------------------------------------------------


def test_documents_download_and_preview_with_safe_headers_and_an_audit_trail(app, alpha, client, login_as):
    application_id = file_application(app, RESIDENCE, applicant_psn="1234567890")
    pdf = make_pdf()
    pdf_id = add_document(app, application_id, "identity", pdf, 'Անձնագիր "copy".pdf')
    png_id = add_document(app, application_id, "power_of_attorney", make_png(), "scan")
    specialist_id, specialist = staff(app, "alpha", "specialist", "civil_registry")
    as_user(client, specialist)

    response = client.get(f"/workspace/applications/{application_id}/documents/{pdf_id}")
    assert response.status_code == 200 and response.data == pdf
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert "filename*=UTF-8''%D4%B1%D5%B6%D5%B1%D5%B6%D5%A1%D5%A3%D5%AB%D6%80%20%22copy%22.pdf" in disposition
    assert re.search(r'filename="[A-Za-z0-9._ -]+\.pdf"', disposition)

    preview = client.get(f"/workspace/applications/{application_id}/documents/{png_id}/preview")
    assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/png"
    assert (
        preview.headers["Content-Disposition"].startswith("inline; ")
        and "scan.png" in preview.headers["Content-Disposition"]
    )
    # The preview's own policy, narrowed by app.headers so no other site can frame it.
    assert (
        preview.headers["Content-Security-Policy"]
        == "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
    )
    assert preview.headers["X-Content-Type-Options"] == "nosniff"

    with app.app_context():
        events = db.session.execute(
            select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.municipality_id, AuditEvent.object_id)
            .order_by(AuditEvent.id)
            .where(AuditEvent.action.like("document.%"))
        ).all()
    assert [tuple(e) for e in events] == [
        ("document.download", specialist_id, alpha["id"], str(pdf_id)),
        ("document.view", specialist_id, alpha["id"], str(png_id)),
    ]

    # Auditors see that documents exist and see personal data masked, but cannot open files.
    login_as("auditor")
    page = text_of(client.get(f"/workspace/applications/{application_id}"))
    assert "1234567890" not in page and "\u2022" * 8 + "90" in page
    assert f"/documents/{pdf_id}" not in page
    assert client.get(f"/workspace/applications/{application_id}/documents/{pdf_id}").status_code in (302, 403)
    assert client.get(f"/workspace/applications/{application_id}/documents/{png_id}/preview").status_code in (302, 403)
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count(AuditEvent.id)).where(AuditEvent.action.like("document.%"))
            ).scalar_one()
            == 2
        )
    as_user(client, specialist)
    assert "1234567890" in text_of(client.get(f"/workspace/applications/{application_id}"))


def test_only_pdf_and_images_are_previewed(app, alpha, client):
    application_id = file_application(app, RESIDENCE)
    import zipfile

    from app.domain.storage import new_key

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", '<?xml version="1.0"?><w:document/>')
    body = buffer.getvalue()
    with app.app_context():
        # No built-in checklist line takes office documents; a plug-in's may.
        key = new_key()
        get_storage(app).put(key, io.BytesIO(body))
        row = ApplicationDocument(
            application_id=application_id,
            municipality_id=alpha["id"],
            requirement_key="identity",
            original_name="plan.docx",
            content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            size=len(body),
            sha256="0" * 64,
            storage_key=key,
        )
        db.session.add(row)
        db.session.commit()
        doc_id = row.id
    _uid, username = staff(app, "alpha", "specialist", "civil_registry")
    as_user(client, username)
    assert client.get(f"/workspace/applications/{application_id}/documents/{doc_id}/preview").status_code == 404
    download = client.get(f"/workspace/applications/{application_id}/documents/{doc_id}")
    assert download.status_code == 200 and download.data == body
    assert download.headers["Content-Disposition"].startswith('attachment; filename="plan.docx"')
    assert "/preview" not in text_of(client.get(f"/workspace/applications/{application_id}"))


def test_personal_fields_are_masked_for_auditors_only(app, alpha, client, login_as):
    with app.app_context():
        service = plugin_runtime.registry(app).get("kindergarten-enrolment").service
        data = sample_data(service, app)
    personal = [f for f in service.fields if f.personal and data.get(f.name) not in (None, "", [])]
    assert personal
    application_id = file_application(app, service.key, data=data)
    login_as("auditor")
    english(client)
    html = text_of(client.get(f"/workspace/applications/{application_id}"))
    with app.test_request_context():
        shown = {spec.name: case.display_value(spec, data[spec.name], "en") for spec in personal}
    for spec in personal:
        assert f'data-field="{spec.name}">{case.mask(shown[spec.name])}' in html
        assert shown[spec.name] not in html
    login_as("clerk")
    english(client)
    html = text_of(client.get(f"/workspace/applications/{application_id}"))
    for spec in personal:
        assert f'data-field="{spec.name}">{shown[spec.name]}' in html


# -- the list page's cost ------------------------------------------------------------------------


def test_the_inbox_costs_the_same_number_of_queries_at_5_and_50_applications_and_pages_by_keyset(
    app, alpha, client, login_as
):
    ids = [file_application(app, RESIDENCE, applicant_name=f"Person {n}") for n in range(5)]
    login_as("head")

    def fetch():
        response = client.get("/workspace/?tab=all")
        assert response.status_code == 200

    fetch()  # warm caches that every first request fills
    at_five = count_statements(app, fetch)
    ids += [file_application(app, RESIDENCE, applicant_name=f"Person {n}") for n in range(5, 50)]
    at_fifty = count_statements(app, fetch)
    assert at_five == at_fifty
    for tab in ("mine", "department"):
        url = f"/workspace/?tab={tab}"
        assert count_statements(app, lambda url=url: client.get(url)) == count_statements(
            app, lambda url=url: client.get(url)
        )
    with app.app_context():
        # Different due dates, so the order is by due date first.
        rows = db.session.execute(select(Application).where(Application.id.in_(ids))).scalars().all()
        for row in rows:
            row.due_at = row.due_at + dt.timedelta(days=row.id % 4)
        db.session.commit()
        expected = [a.id for a in sorted(rows, key=lambda a: (a.due_at, a.id))]
    # pytest-flask keeps one app context (so one session) around every request of this test;
    # in production each request starts with a fresh session. Forget the rows it still holds.
    db.session.expire_all()

    seen, url, pages = [], "/workspace/?tab=all", []
    while url:
        html = text_of(client.get(url))
        page_ids = [int(i) for i in re.findall(r'data-application="(\d+)"', html)]
        pages.append(page_ids)
        seen += page_ids
        match = re.search(r'href="([^"]+)" rel="next"', html)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert seen == expected and [len(p) for p in pages] == [25, 25]
    back = re.search(r'href="([^"]+)" rel="prev"', html).group(1).replace("&amp;", "&")
    assert [int(i) for i in re.findall(r'data-application="(\d+)"', text_of(client.get(back)))] == pages[0]
    assert 'rel="prev"' not in text_of(client.get("/workspace/?tab=all"))


def test_search_and_filters_in_the_inbox(app, alpha, client, login_as):
    one = file_application(
        app, RESIDENCE, applicant_name="Սոնա Գրիգորյան", applicant_psn="1111111111", applicant_phone="+37491000001"
    )
    two = file_application(app, "trade-permit", applicant_name="Aram Petrosyan")
    with app.app_context():
        tracking = db.session.get(Application, one).tracking_number
        late = db.session.get(Application, two)
        late.due_at = dt.date(2020, 1, 6)
        db.session.commit()
    login_as("clerk")

    def found(**query):
        html = text_of(client.get("/workspace/", query_string={"tab": "all", **query}))
        return {int(i) for i in re.findall(r'data-application="(\d+)"', html)}

    assert found() == {one, two}
    assert found(q=tracking.lower().replace("-", " ")) == {one}
    assert found(q=tracking[:-2]) == {one}  # without its check character: completed
    assert found(q=tracking[:-3]) == set()  # another number: no near matches
    assert found(q="111 111 1111") == {one}
    assert found(q="091 000 001") == {one}
    assert found(q="Գրիգոր") == {one}
    assert found(q="aram") == {two}
    assert found(q="%") == set()
    assert found(service="trade-permit") == {two}
    assert found(status=statuses.SUBMITTED) == {one, two}
    assert found(overdue="1") == {two}
    today = dt.date.today().isoformat()
    assert found(**{"from": today, "to": today}) == {one, two}
    assert found(**{"from": "2001-01-01", "to": "2001-12-31"}) == set()
