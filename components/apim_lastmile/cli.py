"""The ``lastmile`` command: ``lastmile plan <stack> [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from .errors import LastMileError


def _plan(args: argparse.Namespace) -> int:
    from .plan import plan_stack, render_text

    project_dir = Path(args.project_dir) if args.project_dir else None
    result = plan_stack(args.stack, project_dir)
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_text(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lastmile", description="apim-lastmile: offline plans of the environment program.")
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="run the program for a stack under mocks and print what it declares")
    plan.add_argument("stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    plan.add_argument("--json", action="store_true", help="print the plan as stable JSON")
    plan.add_argument("--project-dir", help="the directory with Pulumi.yaml (default: this one or a parent)")
    plan.set_defaults(func=_plan)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (LastMileError, FileNotFoundError) as exc:
        print(f"lastmile: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
