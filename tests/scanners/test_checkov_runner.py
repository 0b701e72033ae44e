"""The checkov runner: one real scan of two small hand-written ARM templates, and its guards against a checkov that
fails, is stale, or scanned less than it was given (the guards against a fake checkov, which costs no cold start)."""

from __future__ import annotations

import json
import stat

import pytest

from scanners import checkov_scan
from scanners.checkov_scan import CheckovError, CheckovNotInstalled, scan

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
SECRET = "Microsoft.KeyVault/vaults/secrets"


def template(*resources):
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": list(resources)}


def secret(name, **extra):
    properties = {"value": "not-a-secret", **extra.pop("properties", {})}
    return {"type": SECRET, "apiVersion": "2023-07-01", "name": name, **extra, "properties": properties}


TEMPLATES = {
    "bare": template(secret("kv/bare")),
    "dressed": template(
        secret("kv/dressed", properties={"contentType": "text/plain", "attributes": {"exp": 1893456000}}),
        secret("kv/excused", properties={"contentType": "text/plain"},
               metadata={"checkov": ["CKV_AZURE_41: rotated by the pipeline, expiry set there"]}),
    ),
}


@pytest.fixture
def scanned(checkov_results):
    """The real scan (scanners/conftest.py: the same checkov run as the stacks' templates)."""
    folder, results = checkov_results
    return folder, {name: results[name] for name in TEMPLATES}


def by_resource(findings):
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(f.resource, set()).add(f.check_id)
    return out


def test_every_template_gets_its_own_result(scanned):
    _, results = scanned
    assert set(results) == {"bare", "dressed"}
    bare = {f.resource for kind in ("failed", "skipped", "passed") for f in getattr(results["bare"], kind)}
    dressed = {f.resource for kind in ("failed", "skipped", "passed") for f in getattr(results["dressed"], kind)}
    assert bare == {f"{SECRET}.kv/bare"}
    assert dressed == {f"{SECRET}.kv/dressed", f"{SECRET}.kv/excused"}


def test_a_secret_without_expiry_or_content_type_fails_41_and_114(scanned):
    tmp, results = scanned
    bare = results["bare"]
    assert by_resource(bare.failed) == {f"{SECRET}.kv/bare": {"CKV_AZURE_41", "CKV_AZURE_114"}}
    assert bare.passed == [] and bare.skipped == []
    [f41] = [f for f in bare.failed if f.check_id == "CKV_AZURE_41"]
    assert f41.name == "Ensure that the expiration date is set on all secrets"
    assert f41.suppress_comment is None
    # The line range is the resource's, in the file the runner wrote.
    lines = (tmp / "bare.json").read_text().splitlines()
    first, last = f41.lines
    assert 1 < first < last <= len(lines)
    block = "\n".join(lines[first - 1:last])
    assert '"name": "kv/bare"' in block and lines[first - 1].strip() == "{" and lines[last - 1].strip() in ("}", "},")


def test_a_secret_with_expiry_and_content_type_passes_41_and_114(scanned):
    _, results = scanned
    dressed = results["dressed"]
    assert by_resource(dressed.passed)[f"{SECRET}.kv/dressed"] == {"CKV_AZURE_41", "CKV_AZURE_114"}
    assert f"{SECRET}.kv/dressed" not in by_resource(dressed.failed)


def test_a_check_excused_in_the_resource_metadata_is_skipped_with_its_reason(scanned):
    _, results = scanned
    dressed = results["dressed"]
    assert dressed.failed == []
    [skip] = dressed.skipped
    assert (skip.check_id, skip.resource) == ("CKV_AZURE_41", f"{SECRET}.kv/excused")
    assert skip.suppress_comment == "rotated by the pipeline, expiry set there"
    assert by_resource(dressed.passed)[f"{SECRET}.kv/excused"] == {"CKV_AZURE_114"}


def test_without_the_checkov_venv_the_error_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(checkov_scan, "CHECKOV", tmp_path / "nowhere" / "checkov")
    with pytest.raises(CheckovNotInstalled) as e:
        scan(TEMPLATES, tmp_path)
    assert "python3 -m venv .venv-checkov && .venv-checkov/bin/pip install -q -r tests/scanners/checkov-requirements.txt" \
        in str(e.value)


@pytest.mark.parametrize("name, bad", [
    ("no-schema", {"contentVersion": "1.0.0.0", "resources": []}),
    ("no-version", {"$schema": SCHEMA, "resources": []}),
    ("../escape", template()),
    ("", template()),
])
def test_a_template_checkov_would_ignore_or_a_name_that_is_not_a_file_stem_is_refused(tmp_path, name, bad):
    with pytest.raises(ValueError):
        scan({name: bad}, tmp_path)
    assert list(tmp_path.iterdir()) == []


# A stand-in for checkov: records its argv and environment, prints a canned report, exits with a given code.
FAKE = """#!/bin/sh
printf '%s\\n' "$@" > "{out}/argv"
env > "{out}/env"
cat "{out}/report.json"
exit {code}
"""


def fake_checkov(monkeypatch, tmp_path, report, code=0):
    out = tmp_path / "fake"
    out.mkdir()
    (out / "report.json").write_text(json.dumps(report))
    exe = out / "checkov"
    exe.write_text(FAKE.format(out=out, code=code))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(checkov_scan, "CHECKOV", exe)
    return out


def report(resource_count=1, version=checkov_scan.VERSION, parsing_errors=()):
    return {"check_type": "arm",
            "results": {"passed_checks": [], "failed_checks": [], "skipped_checks": [],
                        "parsing_errors": list(parsing_errors)},
            "summary": {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": len(parsing_errors),
                        "resource_count": resource_count, "checkov_version": version}}


def test_the_run_is_offline_and_ignores_checkov_settings_in_the_environment(monkeypatch, tmp_path):
    out = fake_checkov(monkeypatch, tmp_path, report())
    monkeypatch.setenv("BC_API_KEY", "would-upload")
    monkeypatch.setenv("CKV_SKIP_CHECK", "CKV_AZURE_41")
    assert scan({"bare": TEMPLATES["bare"]}, tmp_path)["bare"].failed == []
    argv = (out / "argv").read_text().split("\n")
    assert "--skip-download" in argv and argv[argv.index("--framework") + 1] == "arm"
    assert argv[argv.index("-f") + 1] == str((tmp_path / "bare.json").resolve())
    env = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines() if "=" in line)
    assert env["CKV_SKIP_PACKAGE_UPDATE_CHECK"] == "true" and env["HOME"] == str(tmp_path.resolve())
    assert "BC_API_KEY" not in env and "CKV_SKIP_CHECK" not in env


@pytest.mark.parametrize("case, rep, code, message", [
    ("crash", report(), 2, "exited 2"),
    ("stale", report(version="3.0.0"), 0, "pinned"),
    ("unparsed", report(parsing_errors=["bare.json"]), 0, "could not parse"),
    ("unscanned", report(resource_count=0), 0, "scanned 0 resources, the templates hold 1"),
    ("no results at all", report(resource_count=0)["summary"], 0, "scanned 0 resources"),
])
def test_a_failed_stale_or_partial_scan_raises(monkeypatch, tmp_path, case, rep, code, message):
    fake_checkov(monkeypatch, tmp_path, rep, code)
    with pytest.raises(CheckovError, match=message):
        scan({"bare": TEMPLATES["bare"]}, tmp_path)


def test_the_fake_report_passes_the_guards_when_it_matches(monkeypatch, tmp_path):
    """The control for the test above: the same canned report, right count and version, raises nothing."""
    fake_checkov(monkeypatch, tmp_path, report())
    assert scan({"bare": TEMPLATES["bare"]}, tmp_path)["bare"].failed == []


def test_child_resources_are_counted_like_checkov_counts_them():
    nested = template({"type": "Microsoft.KeyVault/vaults", "name": "kv",
                       "resources": [{"type": "secrets", "name": "s"}, {"type": "secrets", "name": "t"}]},
                      secret("kv/u"))
    assert checkov_scan._count_resources(nested) == 4
