import os, re
from app.extensions import db
from app.testing import make_app, seed_municipality, seed_system_admin, recorded_statements
from tests import test_query_counts as q

WANT = os.environ.get("DUMP", "WorkspaceView.case").split(",")

def test_dump(tmp_path):
    app = make_app(tmp_path)
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha"), "beta": seed_municipality(app, "beta", "Beta"), "sysadmin": seed_system_admin(app)}
    rows = q._seed(app)
    q._grow(app, rows, q.GROWTH)
    paths = q._paths(app, rows)
    v = q.Visitor(app)
    with app.app_context():
        for ep in WANT:
            v.become(q.PAGES[ep].role)
            path = paths[ep][0][1]
            v.count(path)
            def req():
                db.session.remove()
                v.client.get(path, headers=v.headers)
            st = recorded_statements(app, req)
            print(f"\n=== {ep} {path}: {len(st)}")
            for s in st:
                print("  -", re.sub(r"\s+", " ", s)[:400])
