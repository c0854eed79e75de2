"""``python -m nbrun copy SRC DST [--project P]``: copy runs between stores (see
:func:`nbrun.copy`). ``python -m nbrun check DIR``: list damaged history chunks (see
:func:`nbrun.check`); the exit status is 1 when anything is damaged.
``python -m nbrun sweep sweep.yaml [--project P] [--dir D]``: create a sweep from a W&B sweep
YAML and print its id and the agent command; ``python -m nbrun agent [entity/][project/]ID
[--count N] [--dir D]``: run trials of a sweep (rule 57; exit status 2 for a bad YAML, config
or sweep id)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

import nbrun

#: exit status of a bad sweep YAML, config or id (as argparse's usage errors)
BAD_INPUT = 2


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
    _sweep_parsers(sub)
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args.dir)
    if args.command == "sweep":
        return _sweep(Path(args.file), args.project, args.dir)
    if args.command == "agent":
        return _agent(args.sweep_id, args.count, args.project, args.dir)
    try:
        copied = nbrun.copy(args.src, args.dst, project=args.project)
    except nbrun.Error as exc:
        print(f"nbrun copy: {exc}", file=sys.stderr)
        return 1
    for path in copied:
        print(path)
    print(f"copied {len(copied)} run(s)", file=sys.stderr)
    return 0


def _sweep_parsers(sub: Any) -> None:
    sw = sub.add_parser(
        "sweep",
        help="create a sweep from a W&B sweep YAML; prints its id and the agent command",
        description="FILE is a W&B sweep config (method, metric, parameters, program, ...).",
    )
    sw.add_argument("file")
    sw.add_argument("--project", default=None, help="default: the YAML's project, else init's")
    sw.add_argument("--dir", default=None, help="the store: a folder or a postgresql:// URL")
    ag = sub.add_parser(
        "agent",
        help="run trials of a sweep (its program, with its command) until done or --count",
        description="SWEEP_ID is ID, project/ID or entity/project/ID, as `sweep` printed it.",
    )
    ag.add_argument("sweep_id")
    ag.add_argument("--count", type=int, default=None, help="at most this many trials")
    ag.add_argument("--project", default=None, help="the sweep's project when ID has none")
    ag.add_argument("--dir", default=None, help="the store: a folder or a postgresql:// URL")


def _load_yaml(path: Path) -> dict[str, Any]:
    """The sweep config in ``path``: a mapping, else :class:`nbrun.UsageError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise nbrun.UsageError(
            f"cannot read sweep config {str(path)!r}: {exc.strerror or exc}; give the path of "
            "a sweep YAML file"
        ) from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).replace("\n", " ")
        raise nbrun.UsageError(
            f"sweep config {str(path)!r} is not valid YAML{where}: {problem}; fix the file "
            "(a sweep config is a mapping: method:, metric:, parameters:, program:)"
        ) from None
    if not isinstance(config, dict):
        raise nbrun.UsageError(
            f"sweep config {str(path)!r} must be a YAML mapping (method:, parameters:, ...), "
            f"got {type(config).__name__}"
        )
    return config


def _sweep(path: Path, project: str | None, where: str | None) -> int:
    try:
        config = _load_yaml(path)
        project = project or config.get("project")
        sweep_id = nbrun.sweep(config, project=project, dir=where)
        # a bare id: the project nbrun.sweep chose (env, git root), found in the store
        full = nbrun.Api(where).sweep(sweep_id if project is None else f"{project}/{sweep_id}")
    except nbrun.Error as exc:
        print(f"nbrun sweep: {exc}", file=sys.stderr)
        return BAD_INPUT
    print(f"Created sweep with ID: {sweep_id}")
    print(f"Run sweep agent with: python -m nbrun agent {full.project}/{full.id}")
    return 0


def _agent(sweep_id: str, count: int | None, project: str | None, where: str | None) -> int:
    if count is not None and count < 1:
        print(f"nbrun agent: --count must be a positive number, got {count}", file=sys.stderr)
        return BAD_INPUT
    try:
        nbrun.agent(sweep_id, count=count, project=project, dir=where)
    except nbrun.Error as exc:
        print(f"nbrun agent: {exc}", file=sys.stderr)
        return BAD_INPUT
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
