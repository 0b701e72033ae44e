"""The ``lastmile`` command: ``plan <stack> [--json]``, ``diff BASE.json HEAD.json``, ``verify <stack>``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from .errors import LastMileError


def _plan(args: argparse.Namespace) -> int:
    from .plan import plan_stack, render_text

    from .contract import check_plan

    project_dir = Path(args.project_dir) if args.project_dir else None
    result = plan_stack(args.stack, project_dir)
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_text(result))
    refused = check_plan(result.registrations)
    for finding in refused:
        sys.stderr.write(f"lastmile: Azure would refuse: {finding}\n")
    return 1 if refused else 0


def _diff(args: argparse.Namespace) -> int:
    from .diff import diff_plans, load_plan, render

    base, head = load_plan(args.base), load_plan(args.head)
    result = diff_plans(base, head)
    sys.stdout.write(render(result, base, head, markdown=args.markdown))
    return 1 if args.exit_code and not result.empty else 0


def _verify(args: argparse.Namespace) -> int:
    from .verify import read_outputs, render, verify

    if args.outputs == "-" and sys.stdin.isatty():
        raise LastMileError("--outputs", "-", f"pipe the outputs in: pulumi stack output --json --stack {args.stack} | lastmile verify {args.stack}")
    key = args.subscription_key or os.environ.get("LASTMILE_SUBSCRIPTION_KEY")
    checks = verify(read_outputs(args.outputs, sys.stdin), path=args.path, subscription_key=key, timeout=args.timeout)
    sys.stdout.write(render(args.stack, checks))
    return 0 if all(c.ok for c in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lastmile", description="apim-lastmile: offline plans, plan diffs and post-deploy proof.")
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="run the program for a stack under mocks and print what it declares")
    plan.add_argument("stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    plan.add_argument("--json", action="store_true", help="print the plan as stable JSON")
    plan.add_argument("--project-dir", help="the directory with Pulumi.yaml (default: this one or a parent)")
    plan.set_defaults(func=_plan)

    diff = sub.add_parser("diff", help="compare two `plan --json` files: resources added/removed/changed, policy diffs")
    diff.add_argument("base", help="plan JSON of the base branch")
    diff.add_argument("head", help="plan JSON of the pull request")
    diff.add_argument("--markdown", action="store_true", help="Markdown for a pull-request comment")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when the plans differ")
    diff.set_defaults(func=_diff)

    verify = sub.add_parser("verify", help="after deploy: direct calls to each function get 401, calls through APIM succeed")
    verify.add_argument("stack", help="stack name (shown in the report)")
    verify.add_argument("--outputs", default="-", help="file with `pulumi stack output --json` (default: stdin)")
    verify.add_argument("--path", default="", help="path under each function/API to call, e.g. /health (default: the base URL)")
    verify.add_argument("--subscription-key", help="APIM subscription key (default: $LASTMILE_SUBSCRIPTION_KEY)")
    verify.add_argument("--timeout", type=float, default=15.0, help="seconds per call (default 15)")
    verify.set_defaults(func=_verify)
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
