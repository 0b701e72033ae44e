"""The ``lastmile`` command: ``plan <stack> [--json|--arm]``, ``diff BASE.json HEAD.json``, ``verify <stack>``,
``permissions <stack>``, ``audit PATH``."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Optional, Sequence

from ..errors import LastMileError

#: The environment variable that may hold the APIM subscription key for `lastmile verify`.
KEY_ENV = "LASTMILE_SUBSCRIPTION_KEY"


def _today(value: Optional[str]) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise LastMileError("--today", value, "expected a date as YYYY-MM-DD") from None


def _plan(args: argparse.Namespace) -> int:
    from .api_versions import check_installed, retirements
    from .contract import check_plan
    from .plan import plan_stack, render_text

    today = _today(args.today)
    # An SDK that sends other API versions than the contract facts describe makes every check below meaningless.
    problems = check_installed()
    for problem in problems:
        sys.stderr.write(f"lastmile: error: {problem}\n")
    if problems:
        return 1
    project_dir = Path(args.project_dir) if args.project_dir else None
    result = plan_stack(args.stack, project_dir)
    if args.arm:
        from .arm_template import to_template

        sys.stdout.write(json.dumps(to_template(result), indent=2) + "\n")
    elif args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_text(result))
    refused = check_plan(result.registrations)
    for finding in refused:
        sys.stderr.write(f"lastmile: Azure would refuse: {finding}\n")
    if args.outputs:
        from .secret_expiry import expiring
        from .verify import read_outputs

        for item in expiring(read_outputs(args.outputs, sys.stdin), today):
            sys.stderr.write(f"lastmile: warning: {item}\n")
    retiring = retirements((r.type for r in result.registrations if r.custom), today)
    for item in retiring:
        sys.stderr.write(f"lastmile: {'Azure would refuse' if item.retired else 'warning'}: {item}\n")
    return 1 if refused or any(item.retired for item in retiring) else 0


def _diff(args: argparse.Namespace) -> int:
    from .diff import diff_plans, load_plan, render

    base, head = load_plan(args.base), load_plan(args.head)
    result = diff_plans(base, head)
    sys.stdout.write(render(result, base, head, markdown=args.markdown))
    return 1 if args.exit_code and not result.empty else 0


def _subscription_key(args: argparse.Namespace) -> Optional[str]:
    from .verify import check_subscription_key

    if args.subscription_key:
        return check_subscription_key(args.subscription_key, "--subscription-key")
    return check_subscription_key(os.environ.get(KEY_ENV), KEY_ENV)


def _verify(args: argparse.Namespace) -> int:
    from .verify import check_path, check_stack, check_timeout, mask, read_outputs, render, verify

    # Every option first, then the outputs, and only then the first request.
    check_stack(args.stack)
    path, timeout, key = check_path(args.path), check_timeout(args.timeout), _subscription_key(args)
    if args.outputs == "-" and (sys.stdin is None or sys.stdin.isatty()):
        raise LastMileError("--outputs", "-", f"pipe the outputs in: pulumi stack output --json --stack {args.stack} | lastmile verify {args.stack}")
    checks = verify(read_outputs(args.outputs, sys.stdin), path=path, subscription_key=key, timeout=timeout)
    sys.stdout.write(mask(render(args.stack, checks), [key]))
    return 0 if all(c.ok for c in checks) else 1


def _permissions(args: argparse.Namespace) -> int:
    from .permissions import render, requirements
    from .plan import plan_stack

    result = plan_stack(args.stack, Path(args.project_dir) if args.project_dir else None)
    sys.stdout.write(render(args.stack, requirements(result.registrations)))
    return 0


def _audit(args: argparse.Namespace) -> int:
    from .audit.report import as_json, as_text, audit

    try:
        found = audit(args.path)
    except (LastMileError, OSError, UnicodeError, ValueError, RecursionError) as exc:
        # Exit 2: the input could not be read (1 means credentials were found).
        print(f"lastmile: error: {str(exc) or type(exc).__name__}", file=sys.stderr)
        return 2
    sys.stdout.write(as_json(found) if args.json else as_text(args.path, found))
    return 1 if found else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lastmile", description="apim-lastmile: offline plans, plan diffs and post-deploy proof.")
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="run the program for a stack under mocks and print what it declares")
    plan.add_argument("stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    shape = plan.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the plan as stable JSON")
    shape.add_argument("--arm", action="store_true",
                       help="print the plan's Azure resources as an ARM deployment template (for ARM scanners and Azure Policy)")
    plan.add_argument("--project-dir", help="the directory with Pulumi.yaml (default: this one or a parent)")
    plan.add_argument("--today", help="the date API version retirements and secret expiries are judged against, YYYY-MM-DD "
                                      "(default: today)")
    plan.add_argument("--outputs", help="the deployed stack's `pulumi stack output --json` (a file, or - for stdin): warn "
                                        "30 days before its Key Vault secrets expire")
    plan.set_defaults(func=_plan)

    permissions = sub.add_parser("permissions", help="the Azure roles and Graph permissions the deployer needs for a stack")
    permissions.add_argument("stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    permissions.add_argument("--project-dir", help="the directory with Pulumi.yaml (default: this one or a parent)")
    permissions.set_defaults(func=_permissions)

    diff = sub.add_parser("diff", help="compare two `plan --json` files: resources added/removed/changed, policy diffs")
    diff.add_argument("base", help="plan JSON of the base branch")
    diff.add_argument("head", help="plan JSON of the pull request")
    diff.add_argument("--markdown", action="store_true", help="Markdown for a pull-request comment")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when the plans differ")
    diff.set_defaults(func=_diff)

    verify = sub.add_parser("verify", help="after deploy: direct calls to each function get 401 (network identity-only) "
                                           "or no connection / 403 (gateway-ip, private); calls through APIM succeed")
    verify.add_argument("stack", help="stack name (shown in the report)")
    verify.add_argument("--outputs", default="-", help="file with `pulumi stack output --json` (default: stdin)")
    verify.add_argument("--path", default="", help="path under each function/API to call, e.g. /health (default: the base URL)")
    verify.add_argument("--subscription-key", help="APIM subscription key (default: $LASTMILE_SUBSCRIPTION_KEY)")
    verify.add_argument("--timeout", type=float, default=15.0, help="seconds per call (default 15)")
    verify.set_defaults(func=_verify)

    audit = sub.add_parser("audit", help="every credential an existing gateway's policies and backends send, and the "
                                         "passwordless way out (exit 0 none, 1 found, 2 unreadable input)")
    audit.add_argument("path", help="an APIOps extractor artifacts folder, an ARM template or export, or policy XML files "
                                    "(one, or a folder of them)")
    audit.add_argument("--json", action="store_true", help="stable JSON: credential, source, document, line, replacement")
    audit.set_defaults(func=_audit)
    return parser


def _secrets(argv: Sequence[str]) -> list[str]:
    """Every value that may be the subscription key: after ``--subscription-key`` (or a prefix argparse accepts) and
    in the environment, so that no message, not even argparse's, prints it."""
    found = [os.environ.get(KEY_ENV) or ""]
    for i, token in enumerate(argv):
        option, eq, value = str(token).partition("=")
        if len(option) >= 3 and "--subscription-key".startswith(option):
            found.append(value if eq else (str(argv[i + 1]) if i + 1 < len(argv) else ""))
    return [s for s in found if s]


def _masked(text: str, secrets: list[str]) -> str:
    from .verify import mask

    return mask(text, secrets)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    secrets = _secrets(argv)
    parser = build_parser()
    # argparse prints its own errors (exit 2) and --help (exit 0); catch the text so it can be masked too.
    said, printed = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(printed):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        sys.stdout.write(_masked(printed.getvalue(), secrets))
        sys.stderr.write(_masked(said.getvalue(), secrets))
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return args.func(args)
    except (LastMileError, OSError, UnicodeError, ValueError, RecursionError) as exc:
        print(f"lastmile: error: {_masked(str(exc) or type(exc).__name__, secrets)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
