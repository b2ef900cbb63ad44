"""``python3 -m bench generate|run|smoke`` (see bench/README.md)."""

from __future__ import annotations

import argparse
import sys


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="fill a fresh database with S applications and everything around them")
    gen.add_argument("--database-url", required=True, help="a SQLite file path/URL or a PostgreSQL URL")
    gen.add_argument("--size", type=int, default=1_000_000, help="applications (default 1,000,000)")
    gen.add_argument("--seed", type=int, default=1, help="random seed (same seed + size + --today = same rows)")
    gen.add_argument("--today", help="the office's date the history ends on (YYYY-MM-DD; default today)")
    gen.add_argument("--force", action="store_true", help="replace an existing database")
    gen.add_argument("--no-stats", action="store_true", help="skip rebuilding the dashboard's statistics")

    run = sub.add_parser("run", help="measure the pages of a generated database; print a table, save JSON")
    run.add_argument("--database-url", required=True)
    run.add_argument("--requests", "-k", type=int, default=30, help="timed requests per page (default 30)")
    run.add_argument("--threads", type=int, default=4, help="threads of the contended approve (default 4)")
    run.add_argument("--only", action="append", default=[], help="measure only pages whose name contains this")
    run.add_argument("--results", default=None, help="folder for the JSON (default bench/results)")

    smoke = sub.add_parser("smoke", help="CI: generate + run at a small size on SQLite and PostgreSQL")
    smoke.add_argument("--size", type=int, default=10_000)
    smoke.add_argument("--requests", "-k", type=int, default=10)
    smoke.add_argument("--workdir", default=None, help="where the SQLite file goes (default: a temporary folder)")
    smoke.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/hamaynk_bench_smoke",
        help="the PostgreSQL database to (re)create; 'none' skips PostgreSQL",
    )
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "generate":
        from bench.generate import main as generate_main

        return generate_main(args)
    if args.command == "run":
        from bench.runner import main as run_main

        return run_main(args)
    from bench.runner import smoke

    return smoke(args)


if __name__ == "__main__":
    sys.exit(main())
