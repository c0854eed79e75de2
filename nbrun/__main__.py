"""``python -m nbrun copy SRC DST [--project P]``: copy runs between stores (see
:func:`nbrun.copy`)."""

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
    args = parser.parse_args(argv)
    try:
        copied = nbrun.copy(args.src, args.dst, project=args.project)
    except nbrun.Error as exc:
        print(f"nbrun copy: {exc}", file=sys.stderr)
        return 1
    for path in copied:
        print(path)
    print(f"copied {len(copied)} run(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
