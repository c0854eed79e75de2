"""``python -m nbrun copy SRC DST [--project P]``: copy runs between stores (see
:func:`nbrun.copy`). ``python -m nbrun check DIR``: list damaged history chunks (see
:func:`nbrun.check`); the exit status is 1 when anything is damaged."""

from __future__ import annotations

import argparse
import sys

import nbrun


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m nbrun", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cp = sub.add_parser(
        "copy",
        help="copy runs (with lineage, archives, artifacts and files) from SRC to DST",
        description="SRC and DST are run folders or postgresql:// URLs.",
    )
    cp.add_argument("src")
    cp.add_argument("dst")
    cp.add_argument("--project", default=None, help="only this project (default: all)")
    ck = sub.add_parser(
        "check",
        help="list damaged history chunks and run the database's integrity check",
        description="DIR is a run folder or a postgresql:// URL. Exit status 1: damage found.",
    )
    ck.add_argument("dir")
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args.dir)
    try:
        copied = nbrun.copy(args.src, args.dst, project=args.project)
    except nbrun.Error as exc:
        print(f"nbrun copy: {exc}", file=sys.stderr)
        return 1
    for path in copied:
        print(path)
    print(f"copied {len(copied)} run(s)", file=sys.stderr)
    return 0


def _check(where: str) -> int:
    try:
        found = nbrun.check(where)
    except nbrun.Error as exc:
        print(f"nbrun check: {exc}", file=sys.stderr)
        return 1
    for chunk in found.damaged:
        print(chunk)
    unverified: dict[str, int] = {}
    for chunk in found.unverified:
        run = f"{chunk.project}/{chunk.run_id}"
        unverified[run] = unverified.get(run, 0) + 1
    for run, n in unverified.items():
        print(f"unverified: run {run}: {n} chunk(s) written before checksums")
    print(f"integrity_check: {found.integrity}")
    print(
        f"{found.store}: "
        + ("ok" if found.ok else f"DAMAGED ({len(found.damaged)} damaged chunk(s))"),
        file=sys.stderr,
    )
    return 0 if found.ok else 1


if __name__ == "__main__":
    sys.exit(main())
