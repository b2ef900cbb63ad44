"""An application's lists of rows read several at once (app.domain.related): one statement,
and the same objects, values and order as each list read on its own — on SQLite and, in CI's
PostgreSQL pass, on PostgreSQL (their JSON aggregates differ: the values must not)."""

from __future__ import annotations

import datetime as dt

import pytest
from issued_kit import issue_directly, supersede
from sqlalchemy import Integer, LargeBinary, String, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.domain import access, issuing, memo, payments, related
from app.extensions import db
from app.models import Application, ApplicationDocument, Notification, Payment
from app.testing import enable_service, file_application, recorded_statements

SERVICE = "residence-certificate"
KINDS = (access.DOCUMENTS, issuing.ISSUED, payments.PAYMENTS, access.NOTIFICATIONS)
AT = dt.datetime(2026, 11, 30, 9, 15, 7, 120000)


@pytest.fixture
def filed(app) -> int:
    """An application with rows of every kind, chosen to catch what a JSON round trip can
    lose: Armenian text, NULLs, booleans, nested JSON, timestamps with and without a fraction
    of a second, ties in the first column of an order (payments: same time, the newer id
    first), and rows out of their id order (issued documents ordered by sequence)."""
    alpha = app.seeded["alpha"]
    enable_service(app, alpha, SERVICE)
    application_id = file_application(app, SERVICE, applicant_name="Աննա Սարգսյան")
    other = file_application(app, SERVICE)
    first = issue_directly(app, application_id, title="Տեղեկանք «բնակության»", signed=True)
    second = issue_directly(app, application_id)
    supersede(app, first, second)
    issue_directly(app, other)  # another application's rows are not its
    with app.app_context():
        clerk = alpha["users"]["clerk"]
        for n in range(3):
            db.session.add(
                ApplicationDocument(
                    application_id=application_id,
                    municipality_id=alpha["id"],
                    requirement_key="identity",
                    original_name=f"անձնագիր-{n}.pdf",
                    content_type="application/pdf",
                    size=10 + n,
                    sha256=f"{n}" * 64,
                    storage_key=f"k/{n}",
                    uploaded_by_id=clerk if n else None,
                    uploaded_at=AT.replace(microsecond=0) if n == 1 else AT,
                )
            )
        for n, status in enumerate(("paid", "failed", "due")):
            db.session.add(
                Payment(
                    municipality_id=alpha["id"],
                    application_id=application_id,
                    provider="test",
                    reference=f"HPTEST{n:014d}",
                    amount=1500 + n,
                    status=status,
                    items=[{"label": {"hy": "Տուրք"}, "amount": 1500}] if n != 1 else [],
                    details={"gateway": {"code": n, "ok": n == 0, "note": None}} if n != 2 else {},
                    # The last two share a time: the newer id comes first.
                    created_at=AT if n else AT - dt.timedelta(days=1),
                    paid_at=AT if status == "paid" else None,
                )
            )
        for n in range(2):
            db.session.add(
                Notification(
                    municipality_id=alpha["id"],
                    kind="status",
                    channel="email" if n else "inapp",
                    recipient_address="anna@example.com" if n else None,
                    language="hy",
                    subject=f"Ձեր դիմումը {n}",
                    body='Տող 1\nՏող 2 "մեջբերում" \\ ',
                    application_id=application_id,
                    status="sent",
                    attempts=n,
                    sent_at=AT if n else None,
                )
            )
        db.session.commit()
    return application_id


def _columns(instance) -> dict:
    return {a.key: getattr(instance, a.key) for a in sa_inspect(type(instance)).column_attrs}


def _load(application_id: int) -> Application:
    return db.session.execute(select(Application).where(Application.id == application_id)).scalar_one()


def test_several_lists_are_read_in_one_statement_as_each_alone_reads_them(app, filed):
    with app.app_context():
        application = _load(filed)
        alone: dict[str, list] = {}
        one_by_one = recorded_statements(
            app,
            lambda: alone.update(
                {k.name: [_columns(o) for o in related.rows(db.session, application, k)] for k in KINDS}
            ),
        )
        assert len(one_by_one) == len(KINDS)
        db.session.rollback()
        db.session.expunge_all()

        application = _load(filed)
        statements = recorded_statements(app, lambda: related.prefetch(db.session, application, KINDS))
        assert len(statements) == 1
        together: dict[str, list] = {}
        read_after = recorded_statements(
            app,
            lambda: together.update(
                {k.name: [_columns(o) for o in related.rows(db.session, application, k)] for k in KINDS}
            ),
        )
        assert read_after == []
    assert together == alone
    # Every kind had rows to compare, and the ties and NULLs the fixture made are there.
    assert [len(alone[k.name]) for k in KINDS] == [3, 2, 3, 2]
    assert [p["reference"] for p in alone["payments"]] == [
        "HPTEST00000000000002",
        "HPTEST00000000000001",
        "HPTEST00000000000000",
    ]
    assert alone["issued"][0]["signed"] is True and alone["issued"][1]["signed"] is False
    assert alone["payments"][2]["details"] == {"gateway": {"code": 0, "ok": True, "note": None}}


def test_the_lists_are_the_sessions_own_objects(app, filed):
    """A row the session holds already is that object (with what it holds, its expired
    attributes filled), and a row read together behaves as one loaded: it can be changed and
    saved."""
    with app.app_context():
        application = _load(filed)
        held = db.session.execute(select(Payment).where(Payment.application_id == filed)).scalars().first()
        other = db.session.execute(select(Notification).where(Notification.application_id == filed)).scalars().first()
        db.session.expire(other)  # as a rollback leaves what the session holds
        # Filled from the row read together, not read again on its own.
        assert len(recorded_statements(app, lambda: related.prefetch(db.session, application, KINDS))) == 1
        assert any(p is held for p in payments.payments_of_application(db.session, application))
        assert any(n is other for n in access.notifications_of(db.session, application))
        assert recorded_statements(app, lambda: other.subject) == []
        document = access.documents_of(db.session, application)[0]
        assert sa_inspect(document).persistent and not sa_inspect(document).modified
        document.original_name = "renamed.pdf"
        db.session.commit()
        assert (
            db.session.execute(
                select(ApplicationDocument.original_name).where(ApplicationDocument.id == document.id)
            ).scalar_one()
            == "renamed.pdf"
        )


def test_a_remembered_list_is_not_used_once_anything_changes(app, filed):
    with app.app_context():
        application = _load(filed)
        related.prefetch(db.session, application, KINDS)
        assert len(access.notifications_of(db.session, application)) == 2
        db.session.add(
            Notification(
                municipality_id=application.municipality_id,
                kind="status",
                channel="inapp",
                language="hy",
                subject="new",
                body="x",
                application_id=filed,
                status="queued",
            )
        )
        # Pending: read afresh (which flushes it), and forgotten with the flush.
        assert len(access.notifications_of(db.session, application)) == 3
        assert not memo.known(db.session, ("related", "notifications", filed))


def test_kinds_already_read_and_a_single_kind_are_not_read_again(app, filed):
    with app.app_context():
        application = _load(filed)
        access.documents_of(db.session, application)
        # Documents are remembered: one kind left, which its own function reads when asked.
        assert (
            recorded_statements(
                app, lambda: related.prefetch(db.session, application, (access.DOCUMENTS, issuing.ISSUED))
            )
            == []
        )
        assert len(recorded_statements(app, lambda: issuing.documents_of(db.session, application))) == 1


def test_a_kind_that_could_not_come_back_whole_is_refused_when_declared():
    class Base(DeclarativeBase):
        pass

    class Blob(Base):
        __tablename__ = "blob"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        application_id: Mapped[int] = mapped_column(Integer)
        name: Mapped[str | None] = mapped_column(String(10))
        content: Mapped[bytes] = mapped_column(LargeBinary)

    with pytest.raises(related.UnsupportedColumn, match=r"blobs: Blob.content"):
        related.Kind("blobs", Blob, lambda municipality_id, application_id: select(Blob), (("id", False),))
    # Ordered by a column that may be NULL: SQLite and PostgreSQL put NULLs apart.
    with pytest.raises(related.UnsupportedColumn, match=r"payments: ordered by Payment.paid_at"):
        related.Kind("payments", Payment, payments._payments_statement, (("paid_at", True),))
