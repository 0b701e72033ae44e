"""Run checkov over ARM templates, from its own venv, and return what it found per template.

checkov cannot live in ``.venv`` (it pins ``packaging<24``; pulumi and pytest need newer), so it is installed into
``.venv-checkov`` from the pinned ``checkov-requirements.txt`` beside this module and run as a subprocess: once per
:func:`scan`, over every template given. It runs offline: ``--skip-download`` (no platform policy metadata or
guidelines) and ``CKV_SKIP_PACKAGE_UPDATE_CHECK`` (no version check against pypi.org, no cache in ``~/.cache``).

Import it as ``from scanners.checkov_scan import scan`` (tests/ is on sys.path).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
REQUIREMENTS = Path(__file__).with_name("checkov-requirements.txt")
INSTALL = ("python3 -m venv .venv-checkov && "
           ".venv-checkov/bin/pip install -q -r tests/scanners/checkov-requirements.txt")
#: The pinned version, read from the requirements file: a .venv-checkov left from an older pin is refused.
VERSION = re.search(r"^checkov==(\S+)$", REQUIREMENTS.read_text(), re.MULTILINE).group(1)

#: Same flags for every scan. --soft-fail: exit 0 when checks fail, so any other exit code is checkov's own error.
#: Not --quiet: it drops skipped_checks (and passed_checks) from the JSON.
ARGS = ["--framework", "arm", "--output", "json", "--skip-download", "--compact", "--soft-fail"]
#: Inherited variables that configure checkov (BC_API_KEY would upload results, CKV_SKIP_CHECK would hide checks).
_SCRUB = ("BC_", "CKV_", "CHECKOV_", "PRISMA_")
_ENV = {
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",  # else: GET https://pypi.org/pypi/checkov/json at import, cache in ~
    "BC_SKIP_MAPPING": "TRUE",                # same as --skip-download for the platform's policy-id mapping
    "ANSI_COLORS_DISABLED": "1",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class CheckovNotInstalled(RuntimeError):
    pass


class CheckovError(RuntimeError):
    pass


@dataclass(frozen=True)
class Finding:
    check_id: str
    name: str
    #: checkov's address of the resource: "<type>.<name>", e.g. "Microsoft.KeyVault/vaults/secrets.kv/s".
    resource: str
    #: First and last line of the resource in the written <template>.json.
    lines: tuple[int, int]
    #: The reason given in the resource's metadata.checkov (skipped checks only).
    suppress_comment: str | None = None


@dataclass
class TemplateScan:
    failed: list[Finding] = field(default_factory=list)
    skipped: list[Finding] = field(default_factory=list)
    passed: list[Finding] = field(default_factory=list)


def scan(templates: dict[str, dict[str, Any]], tmp_dir: Path | str) -> dict[str, TemplateScan]:
    """Write each template to ``<tmp_dir>/<name>.json``, run checkov once over all of them, and return per name its
    failed, skipped (with the suppress comment) and passed checks. Every name is in the result, if only with empty
    lists. Raises :class:`CheckovNotInstalled` without .venv-checkov, :class:`CheckovError` if checkov fails or did not
    scan every resource given, ``ValueError`` for a name that is not a plain file stem or a template checkov would
    ignore."""
    if not os.access(CHECKOV, os.X_OK):
        raise CheckovNotInstalled(f"checkov is not installed at {CHECKOV}; from {REPO} run: {INSTALL}")
    tmp_dir = Path(tmp_dir).resolve()
    paths: dict[Path, str] = {}
    expected = 0
    for name, template in templates.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"template name {name!r}: use letters, digits, '.', '_', '-' (it names the file)")
        # checkov ignores, silently, a file without these two keys (checkov/arm/parser/parser.py load()).
        if not {"$schema", "contentVersion"} <= template.keys() or not isinstance(template.get("resources", []), list):
            raise ValueError(f"template {name!r}: checkov scans only templates with $schema and contentVersion and "
                             "a list of resources")
        path = tmp_dir / f"{name}.json"
        path.write_text(json.dumps(template, indent=2))
        paths[path] = name
        expected += _count_resources(template)
    results = {name: TemplateScan() for name in templates}
    if not templates:
        return results

    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    # HOME and cwd in tmp_dir: checkov reads .checkov.yaml from both, and writes nothing else there.
    env |= _ENV | {"HOME": str(tmp_dir)}
    proc = subprocess.run([str(CHECKOV), *ARGS, "-f", *map(str, paths)], cwd=tmp_dir, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise CheckovError(f"checkov exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise CheckovError(f"checkov's output is not JSON ({e}):\n{proc.stdout[:2000]}\n{proc.stderr[-2000:]}") from e
    # One framework: one report object; with nothing to report, only its summary.
    summary = report.get("summary", report)
    checks = report.get("results", {})
    if summary.get("checkov_version") != VERSION:
        raise CheckovError(f"checkov {summary.get('checkov_version')} in .venv-checkov, pinned {VERSION}: "
                           f"rm -rf .venv-checkov && {INSTALL}")
    if checks.get("parsing_errors"):
        raise CheckovError(f"checkov could not parse {checks['parsing_errors']}:\n{proc.stderr[-4000:]}")
    if summary.get("resource_count") != expected:
        raise CheckovError(f"checkov scanned {summary.get('resource_count')} resources, the templates hold {expected} "
                           "(a resource without a literal type and name, or two with the same type and name?)")

    for kind in ("failed", "skipped", "passed"):
        for record in checks.get(f"{kind}_checks", []):
            name = paths.get(Path(record["file_abs_path"]).resolve())
            if name is None:
                raise CheckovError(f"checkov reported a file it was not given: {record['file_abs_path']}")
            comment = record["check_result"].get("suppress_comment")
            getattr(results[name], kind).append(Finding(
                check_id=record["check_id"],
                name=record["check_name"],
                resource=record["resource"],
                lines=tuple(record["file_line_range"]),
                suppress_comment=comment.strip() if comment is not None else None,
            ))
    return results


def _count_resources(node: Any) -> int:
    """The resources checkov counts: those in ``resources``, and the child resources in theirs, at any depth."""
    if isinstance(node, list):
        return sum(_count_resources(item) for item in node)
    if not isinstance(node, dict):
        return 0
    count = 0
    for key, value in node.items():
        if key == "resources" and isinstance(value, list):
            count += sum(1 for r in value if isinstance(r, dict) and "type" in r and "name" in r)
        count += _count_resources(value)
    return count
