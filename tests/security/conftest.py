"""The hostile suite's server: the whole app served by waitress on 127.0.0.1 (a real HTTP
server, real cookies and CSRF tokens, not the test client), on a database of its own (SQLite
file, or a PostgreSQL database next to HAMAYNK_TEST_DATABASE_URL when the suite runs on
PostgreSQL) and local file storage, with mail going to a real SMTP server (aiosmtpd).

Seeded once per test process: municipalities alpha and beta, each with staff in every role,
the residence certificate enabled, an application with a document and an issued document, a
payment, a substitution and a citizen's question with an attachment, and participation rows of
every kind (:func:`_seed_participation`); citizens A and B, each with an online application, a
draft with a payment and a question with an attachment.
``victims`` names, per owner, the ids of those rows by URL parameter name and the markers
(names, file names, contents) that must never show up for anyone else.
"""

from __future__ import annotations

import io
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from issued_kit import issue_directly
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.testing import (
    PASSWORD,
    SmtpInbox,
    apply,
    ask_question,
    create_database,
    drop_database,
    enable_service,
    make_app,
    make_citizen,
    make_pdf,
    seed_municipality,
    seed_system_admin,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# CI's reduced counts (docs/security.md); HAMAYNK_HOSTILE_FULL=1 runs everything everywhere.
FULL = bool(os.environ.get("HAMAYNK_HOSTILE_FULL"))


def as_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    """The roles a role-by-role test runs as: all of them, unless HAMAYNK_HOSTILE_ROLES (a
    comma list) names fewer. CI's PostgreSQL pass sets it: its SQLite pass has already run
    every role against the same pages, and the second pass is after the database's own 500s.
    A role left out is not collected (so not reported as skipped); naming none fails."""
    wanted = os.environ.get("HAMAYNK_HOSTILE_ROLES", "")
    if FULL or not wanted:
        return roles
    chosen = tuple(role for role in roles if role in {w.strip() for w in wanted.split(",")})
    if not chosen:
        raise ValueError(f"HAMAYNK_HOSTILE_ROLES={wanted!r} names none of {roles}")
    return chosen


STAFF_ROLES = ("municipal_admin", "clerk", "specialist", "head", "auditor")
SERVICE = "residence-certificate"
CSRF_RE = re.compile(
    r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"|<input[^>]*value="([^"]+)"[^>]*name="csrf_token"'
)


def csrf_token(session: requests.Session, base: str, *pages: str) -> str:
    """A CSRF token of ``session``'s own, scraped from the first page that has a form."""
    for page in (*pages, "/account/profile", "/workspace/", "/", "/account/login", "/login/"):
        response = session.get(base + page, timeout=30)
        match = CSRF_RE.search(response.text)
        if match:
            return match.group(1) or match.group(2)
    raise AssertionError("no page offered a CSRF token")


@dataclass
class Live:
    app: Any
    base: str
    smtp: SmtpInbox
    # owner ("alpha", "beta", "citizen_a", "citizen_b") -> URL parameter name -> value
    victims: dict[str, dict[str, Any]]
    # owner -> texts (str) and contents (bytes) only the owner and their municipality may see
    markers: dict[str, list[str | bytes]]
    _sessions: dict[tuple[str, str], requests.Session] = field(default_factory=dict)
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    def reset_limits(self) -> None:
        """Every rate-limit counter back to zero. The server is shared by the whole suite (in a
        thread of this process, so its memory counters are reachable here): a test that needs
        a limit's first attempts, or every page answering, must not inherit another test's
        count from the same address."""
        from app.extensions import limiter

        with self.app.app_context():
            limiter.reset()

    def username(self, role: str, municipality: str = "alpha") -> str | None:
        if municipality not in self.app.seeded:
            self.playground(municipality)  # its accounts exist before anyone signs in
        if role == "anonymous":
            return None
        if role == "system_admin":
            return "sysadmin"
        if role == "citizen_a":
            return "citizen.a@example.com"
        if role == "citizen_c" and municipality not in ("alpha", "gamma"):
            return f"citizen.{municipality}@example.com"  # a playground's resident (:meth:`playground`)
        if role in ("citizen_b", "citizen_c"):
            return f"citizen.{role[-1]}@example.com"
        return f"{municipality}.{role}"

    def login(self, role: str, municipality: str = "alpha") -> requests.Session:
        """A fresh session signed in through the real sign-in form (its CSRF token scraped)."""
        session = requests.Session()
        username = self.username(role, municipality)
        if username is None:
            return session
        path = "/account/login" if role.startswith("citizen") else "/login/"
        token = csrf_token(session, self.base, path)
        response = session.post(
            self.url(path),
            data={"username": username, "email": username, "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        # A refused staff sign-in answers 302 too (back to the form): only a redirect elsewhere
        # is a signed-in session, and a test that goes on signed out would prove nothing.
        location = response.headers.get("Location", "")
        assert response.status_code in (302, 303) and "/login" not in location, (
            f"signing in as {username} failed: {response.status_code} {location}"
        )
        return session

    def playground(self, code: str) -> dict[str, Any]:
        """Municipality ``code``'s rows (seeded on first use), whose staff and resident citizen
        (role ``citizen_c``) a test may fuzz, inject into and break: tests that need intact
        accounts and services after the fuzzers ran take a playground of their own."""
        if code not in self.victims:
            self.victims[code] = _seed_playground(self.app, code)
        return self.victims[code]

    def session(self, role: str, municipality: str = "alpha") -> requests.Session:
        """The shared signed-in session of ``role`` (tests that sign out use :meth:`login`)."""
        key = (role, municipality)
        if key not in self._sessions:
            self._sessions[key] = self.login(role, municipality)
        return self._sessions[key]

    def token(self, role: str, municipality: str = "alpha") -> str | None:
        username = self.username(role, municipality)
        if username is None:
            return None
        key = (role, municipality)
        if key not in self._tokens:
            response = requests.post(
                self.url("/api/v1/security/login"),
                json={"username": username, "password": PASSWORD, "provider": "db"},
                timeout=30,
            )
            assert response.status_code == 200, f"API sign-in as {username}: {response.status_code}"
            self._tokens[key] = response.json()["access_token"]
        return self._tokens[key]


def _server_database(tmp_path) -> tuple[str, Any]:
    """The URL of the server's own database and a cleanup: the suite's other tests empty
    their (the worker's) database between tests, which must not happen under the server."""
    url = os.environ.get("HAMAYNK_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        from sqlalchemy.engine import make_url

        name = f"{make_url(url).database}_hostile"
        return create_database(url, name), lambda: drop_database(url, name)
    return f"sqlite:///{tmp_path / 'hostile.sqlite3'}", lambda: None


def _document(text: str, filename: str) -> FileStorage:
    return FileStorage(stream=io.BytesIO(make_pdf(text)), filename=filename, content_type="application/pdf")


def _seed_municipality_rows(app, code: str) -> dict[str, Any]:
    """An application of ``code``'s with a document, an issued document, a payment, a
    substitution and a question with an attachment; their ids by URL parameter name."""
    import datetime as dt

    from app.extensions import db
    from app.models import Application, Payment, QuestionAttachment, QuestionMessage, Substitution
    from app.sdk import office_today

    seeded = app.seeded[code]
    filed = apply(
        app,
        SERVICE,
        municipality=code,
        applicant_name=f"Victim{code.title()} Applicant",
        data={"address": f"{code.title()} Secret Street 1", "purpose": "bank", "copies": "1"},
        documents={"identity": [_document(f"DOCCONTENT-{code}", f"{code}-secret-passport.pdf")]},
    )
    issued = issue_directly(app, filed.id, content=make_pdf(f"ISSUEDCONTENT-{code}"))
    asker = make_citizen(app, f"{code}.asker@example.com", name=f"Asker{code.title()} Person")
    question_id = ask_question(
        app,
        asker,
        municipality=code,
        subject=f"Secret question of {code}",
        files=[_document(f"ATTACHMENT-{code}", f"{code}-secret-note.pdf")],
    )
    with app.app_context():
        application = db.session.get(Application, filed.id)
        assert application is not None
        substitution = Substitution(
            municipality_id=seeded["id"],
            absent_id=seeded["users"]["specialist"],
            substitute_id=seeded["users"]["head"],
            starts_on=office_today(),
            ends_on=office_today() + dt.timedelta(days=3),
        )
        payment = Payment(
            municipality_id=seeded["id"],
            application_id=filed.id,
            user_id=seeded["users"]["clerk"],
            provider="test",
            reference=f"HP{code.upper()}000000000000000001",
            amount=1000,
            status="paid",
            receipt_number=f"{code.upper()}-1",
        )
        db.session.add_all([substitution, payment])
        db.session.commit()
        attachment_id = db.session.execute(
            select(QuestionAttachment.id)
            .join(QuestionMessage, QuestionMessage.id == QuestionAttachment.message_id)
            .where(QuestionMessage.question_id == question_id)
        ).scalar_one()
        rows = {
            "application_id": filed.id,
            "document_id": application.documents[0].id,
            "issued_id": issued.id,
            "tracking_number": filed.tracking_number,
            "payment_id": payment.id,
            "reference": payment.reference,
            "substitution_id": substitution.id,
            "question_id": question_id,
            "attachment_id": attachment_id,
            "user_id": seeded["users"]["clerk"],
            "municipality_id": seeded["id"],
            "department_id": seeded["departments"]["urban_planning"],
            "code": code,
        }
    return {**rows, **_seed_participation(app, code)}


def _seed_poll(app, code: str) -> tuple[int, int]:
    """A draft poll of ``code``'s with an attachment (app.admin.polls): its id and the file's."""
    import datetime as dt

    from app.domain.participation import files as participation_files
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.models.participation import Poll, PollOption, PollQuestion

    with app.app_context():
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        poll = Poll(
            municipality_id=app.seeded[code]["id"],
            title={"hy": f"Secret poll of {code}"},
            opens_at=now + dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=8),
        )
        db.session.add(poll)
        db.session.flush()
        question = PollQuestion(poll_id=poll.id, position=0, text={"hy": "Հարց"}, max_choices=1)
        db.session.add(question)
        db.session.flush()
        for position in (0, 1):
            db.session.add(PollOption(poll_id=poll.id, question_id=question.id, position=position, text={"hy": "Ա"}))
        [stored] = participation_files.store(
            db.session,
            get_storage(app),
            municipality_id=poll.municipality_id,
            owner=("poll", poll.id),
            uploads=[_document(f"POLLFILE-{code}", f"{code}-secret-poll.pdf")],
            kind="document",
        )
        db.session.commit()
        return poll.id, stored.id


def _seed_participation(app, code: str) -> dict[str, Any]:
    """Participation rows of ``code``'s (one of each kind, with files): a settlement, a
    verified resident and a citizen whose residency was revoked, a draft poll with an
    attachment, an open poll, a draft budget vote, an open consultation with a file, a comment
    and a hidden comment, a draft consultation with a file, an open proposal and a withdrawn
    one, each with a photo. Their ids by URL parameter name (``_variants``: the other rows of
    a kind, for discovering every form); the ``secret`` texts are in :func:`_markers`."""
    import datetime as dt

    from poll_kit import budget_spec, published

    from app.domain.participation import files as participation_files
    from app.domain.participation import polls
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.models.participation import Consultation, ConsultationComment, Proposal, Residency, Settlement
    from app.testing import actor_for, make_png

    seeded = app.seeded[code]
    mid = seeded["id"]
    poll_id, poll_file_id = _seed_poll(app, code)
    open_poll_id = published(app, seeded)
    resident = make_citizen(app, f"resident.{code}@example.com", name=f"Resident{code.title()} Person")
    revoked = make_citizen(app, f"revoked.{code}@example.com", name=f"Revoked{code.title()} Person")
    with app.app_context():
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        storage = get_storage(app)
        settlement = Settlement(municipality_id=mid, code=f"{code}-village", name_hy=f"{code} village")
        db.session.add(settlement)
        db.session.flush()
        for user_id, reason in ((resident, None), (revoked, f"RevokeReason of {code}")):
            db.session.add(
                Residency(
                    municipality_id=mid,
                    user_id=user_id,
                    settlement_id=settlement.id,
                    method="office",
                    document_kind="passport",
                    verified_at=now - dt.timedelta(days=1),
                    expires_at=now + dt.timedelta(days=365),
                    revoked_at=now if reason else None,
                    revoke_reason=reason,
                )
            )
        admin = actor_for(seeded["users"]["municipal_admin"])
        budget = polls.create(
            db.session,
            admin,
            mid,
            budget_spec([100, 200], 250, opens_at=now + dt.timedelta(days=1), closes_at=now + dt.timedelta(days=9)),
            kind="budget",
        )
        budget.title = {"hy": f"Secret budget of {code}"}
        consultations = {}
        for status, title in (
            ("published", f"Open consultation of {code}"),
            ("draft", f"Secret consultation of {code}"),
        ):
            row = Consultation(
                municipality_id=mid,
                title={"hy": title},
                body={"hy": f"{title}: body"},
                opens_at=now - dt.timedelta(days=1),
                closes_at=now + dt.timedelta(days=9),
                status=status,
                created_by_id=admin.user_id,
            )
            db.session.add(row)
            db.session.flush()
            [stored] = participation_files.store(
                db.session,
                storage,
                municipality_id=mid,
                owner=("consultation", row.id),
                uploads=[_document(f"CONSULTFILE-{code}-{status}", f"{code}-{status}-consultation.pdf")],
                kind="document",
            )
            consultations[status] = (row.id, stored.id)
        open_id = consultations["published"][0]
        comments = []
        for body, hidden in ((f"Visible comment of {code}", False), (f"Hidden comment of {code}", True)):
            comment = ConsultationComment(
                municipality_id=mid,
                consultation_id=open_id,
                user_id=resident,
                body=body,
                hidden_at=now if hidden else None,
                hidden_by_id=admin.user_id if hidden else None,
                hide_reason="Off topic" if hidden else None,
            )
            db.session.add(comment)
            db.session.flush()
            comments.append(comment.id)
        proposals = {}
        for status, title in (("open", f"Open proposal of {code}"), ("withdrawn", f"Withdrawn proposal of {code}")):
            proposal = Proposal(
                municipality_id=mid,
                user_id=resident,
                title=title,
                description=f"{title}: description",
                cost_estimate=1000,
                settlement_id=settlement.id,
                status=status,
            )
            db.session.add(proposal)
            db.session.flush()
            [photo] = participation_files.store(
                db.session,
                storage,
                municipality_id=mid,
                owner=("proposal", proposal.id),
                uploads=[
                    FileStorage(io.BytesIO(make_png()), filename=f"{code}-{status}-photo.png", content_type="image/png")
                ],
                kind="photo",
            )
            proposals[status] = (proposal.id, photo.id)
        db.session.commit()
        return {
            "poll_id": poll_id,
            "file_id": poll_file_id,
            "settlement_id": settlement.id,
            "resident_user_id": revoked,
            "consultation_id": open_id,
            "consultation_file_id": consultations["published"][1],
            "comment_id": comments[1],
            "proposal_id": proposals["withdrawn"][0],
            "proposal_file_id": proposals["withdrawn"][1],
            "_variants": [
                {"poll_id": open_poll_id},
                {"poll_id": budget.id},
                {"consultation_id": consultations["draft"][0], "consultation_file_id": consultations["draft"][1]},
                {"comment_id": comments[0], "resident_user_id": resident},
                {"proposal_id": proposals["open"][0], "proposal_file_id": proposals["open"][1]},
            ],
        }


def _seed_citizen_rows(app, letter: str) -> dict[str, Any]:
    """Citizen ``letter``'s online application (with a document), draft with a payment and
    question with an attachment, in alpha; the texts are the markers :func:`_markers` names."""
    from citizen_kit import CitizenTexts, seed_citizen_rows

    up = letter.upper()
    texts = CitizenTexts(
        email=f"citizen.{letter}@example.com",
        name=f"Citizen{up} Secretname",
        address=f"Citizen{up} Hidden Lane 5",
        draft_address=f"Draft{up} Street",
        reference=f"CIT{up}REFERENCE00001",
        question=f"Private question of citizen {letter}",
        question_body="Only the asker may read this.",
        document=_document(f"CITDOC-{letter}", f"citizen-{letter}-passport.pdf"),
        attachment=_document(f"CITATTACH-{letter}", f"citizen-{letter}-note.pdf"),
        issued_content=make_pdf(f"CITISSUED-{letter}"),
    )
    return seed_citizen_rows(app, texts)


def _markers(owner: str, rows: dict[str, Any]) -> list[str | bytes]:
    if owner.startswith("citizen_"):
        letter = owner[-1]
        up = letter.upper()
        return [
            f"Citizen{up} Secretname",
            f"Citizen{up} Hidden Lane",
            f"Draft{up} Street",
            f"citizen-{letter}-passport",
            f"citizen-{letter}-note",
            f"Private question of citizen {letter}",
            rows["tracking_number"],
            f"CITDOC-{letter}".encode(),
            f"CITATTACH-{letter}".encode(),
            f"CITISSUED-{letter}".encode(),
        ]
    return [
        f"Victim{owner.title()} Applicant",
        f"{owner.title()} Secret Street",
        f"{owner}-secret-passport",
        f"{owner}-secret-note",
        f"Secret question of {owner}",
        f"Asker{owner.title()} Person",
        rows["tracking_number"],
        f"DOCCONTENT-{owner}".encode(),
        f"ATTACHMENT-{owner}".encode(),
        f"ISSUEDCONTENT-{owner}".encode(),
        f"Secret poll of {owner}",
        f"{owner}-secret-poll",
        f"POLLFILE-{owner}".encode(),
        f"Secret budget of {owner}",
        f"Hidden comment of {owner}",
        f"RevokeReason of {owner}",
        f"Secret consultation of {owner}",
        f"{owner}-draft-consultation",
        f"CONSULTFILE-{owner}-draft".encode(),
        f"Withdrawn proposal of {owner}",
        f"{owner}-withdrawn-photo",
    ]


def _seed_playground(app, code: str) -> dict[str, Any]:
    """Municipality ``code`` with staff in every role, the residence certificate enabled, an
    application, participation rows of each kind, and a citizen (citizen C for gamma,
    ``citizen.<code>@example.com`` otherwise) who is a verified resident of it."""
    import datetime as dt

    from app.extensions import db
    from app.models.participation import Residency

    app.seeded[code] = seed_municipality(app, code, code.title())
    enable_service(app, code, SERVICE)
    email = "citizen.c@example.com" if code == "gamma" else f"citizen.{code}@example.com"
    citizen = make_citizen(app, email, name=f"Citizen {code.title()}")
    rows = {
        "application_id": apply(app, SERVICE, municipality=code).id,
        **app.seeded[code],
        **_seed_participation(app, code),
        "citizen_id": citizen,
    }
    with app.app_context():
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        db.session.add(
            Residency(
                municipality_id=rows["id"],
                user_id=citizen,
                settlement_id=rows["settlement_id"],
                method="office",
                document_kind="passport",
                verified_at=now - dt.timedelta(days=1),
                expires_at=now + dt.timedelta(days=365),
            )
        )
        db.session.commit()
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(app, threads: int = 6):
    """Serve ``app`` with waitress on a free loopback port; returns (base URL, stop)."""
    from waitress.server import create_server

    port = free_port()
    limit = app.config.get("MAX_CONTENT_LENGTH") or 1024**3
    server = create_server(app, host="127.0.0.1", port=port, threads=threads, max_request_body_size=limit)
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:
            # Closing the listening socket under the running select() loop ends it this way.
            if not stopping.is_set():
                raise

    def stop() -> None:
        stopping.set()
        server.close()

    thread = threading.Thread(target=run, daemon=True, name="hostile-waitress")
    thread.start()
    return f"http://127.0.0.1:{port}", stop


@pytest.fixture(scope="session")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    smtp = SmtpInbox()
    smtp.start()
    url, cleanup = _server_database(tmp)
    app = make_app(
        tmp,
        SQLALCHEMY_DATABASE_URI=url,
        TESTING=False,
        # A real server's protections: CSRF on every form, and the sign-in limits raised only so
        # far that the suite's own few dozen sign-ins from one address get through.
        WTF_CSRF_ENABLED=True,
        HAMAYNK_LIMIT_LOGIN="300 per minute",
        HAMAYNK_SMTP_HOST="127.0.0.1",
        HAMAYNK_SMTP_PORT=smtp.port,
    )
    app.seeded = {
        "alpha": seed_municipality(app, "alpha", "Alpha"),
        "beta": seed_municipality(app, "beta", "Beta"),
        "sysadmin": seed_system_admin(app),
    }
    for code in ("alpha", "beta"):
        enable_service(app, code, SERVICE)
    victims = {code: _seed_municipality_rows(app, code) for code in ("alpha", "beta")}
    for letter in ("a", "b"):
        victims[f"citizen_{letter}"] = _seed_citizen_rows(app, letter)
    markers = {owner: _markers(owner, rows) for owner, rows in victims.items()}
    # Gamma's staff and citizen C fuzz: whatever they manage to change is theirs, never the
    # victims' above. Other tests inject and upload in playgrounds of their own (Live.playground).
    victims["gamma"] = _seed_playground(app, "gamma")
    victims["citizen_c"] = {"user_id": victims["gamma"]["citizen_id"]}
    base, stop = serve(app)
    yield Live(app=app, base=base, smtp=smtp, victims=victims, markers=markers)
    stop()
    smtp.stop()
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    cleanup()
