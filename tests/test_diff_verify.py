"""`lastmile diff` (plan JSON in, resource and policy changes out) and `lastmile verify` (against local servers)."""

from __future__ import annotations

import io
import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from apim_lastmile.errors import LastMileError
from apim_lastmile.tools.cli import main
from apim_lastmile.tools.verify import verify

from helpers import LoopbackServer

REPO = Path(__file__).resolve().parents[1]


# --- diff ---------------------------------------------------------------------------------------------------

def plan_json(project: Path, tmp_path: Path, name: str, capsys) -> Path:
    assert main(["plan", "dev", "--json", "--project-dir", str(project)]) == 0
    out = tmp_path / f"{name}.json"
    out.write_text(capsys.readouterr().out)
    return out


@pytest.fixture
def changed_project(tmp_path):
    """The repo's program with one change in dev: the Key Vault backend's legacy service moved to another path."""
    project = tmp_path / "head"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, project / name)
    (project / "stacks").mkdir()
    dev = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())
    [legacy] = dev["config"]["apim-lastmile:secretBackends"]
    assert legacy["backendUrl"] == "https://httpbin.org/basic-auth/lastmile"
    legacy["backendUrl"] = "https://httpbin.org/basic-auth/lastmile-v2"
    (project / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump(dev))
    return project


def test_diff_of_an_unchanged_plan_is_empty(tmp_path, capsys, cached_plans):
    base = plan_json(REPO, tmp_path, "base", capsys)
    head = plan_json(REPO, tmp_path, "head", capsys)
    assert main(["diff", str(base), str(head), "--exit-code"]) == 0
    assert capsys.readouterr().out == "lastmile diff: dev (base) -> dev (head)\nNo changes.\n"


def test_a_moved_backend_is_exactly_its_backend_entitys_url(tmp_path, changed_project, capsys, cached_plans):
    """The policy routes to the backend entity (and its circuit breaker), so a backend that moves changes the entity's
    URL and no policy."""
    base = plan_json(REPO, tmp_path, "base", capsys)
    head = plan_json(changed_project, tmp_path, "head", capsys)
    assert main(["diff", str(base), str(head), "--exit-code"]) == 1
    out = capsys.readouterr().out
    assert "Resources: 0 added, 0 removed, 1 changed; policies: 0 changed" in out
    assert "~ azure-native:apimanagement:Backend  legacy-backend  (inputs.url)" in out


def test_diff_prints_exactly_the_changed_policy(tmp_path, capsys, cached_plans):
    base = json.loads(plan_json(REPO, tmp_path, "base", capsys).read_text())
    head = json.loads(json.dumps(base))
    old, new = 'backend-id="legacy"', 'backend-id="legacy-v2"'
    head["policies"]["legacy-policy"] = head["policies"]["legacy-policy"].replace(old, new)
    [policy] = [r for r in head["resources"] if r["name"] == "legacy-policy"]
    policy["inputs"]["value"] = policy["inputs"]["value"].replace(old, new)
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "h.json").write_text(json.dumps(head))
    assert main(["diff", str(tmp_path / "b.json"), str(tmp_path / "h.json"), "--exit-code"]) == 1
    out = capsys.readouterr().out
    assert "Resources: 0 added, 0 removed, 1 changed; policies: 1 changed" in out
    assert "~ azure-native:apimanagement:ApiPolicy  legacy-policy  (inputs.value)" in out
    assert out.count("\nPolicy ") == 1 and "\nPolicy legacy-policy:\n" in out
    policy_part = out.split("Policy legacy-policy:\n", 1)[1]
    assert policy_part.startswith("--- base/legacy-policy\n+++ head/legacy-policy\n@@")
    removed = [l for l in policy_part.splitlines() if l.startswith("-") and not l.startswith("---")]
    added = [l for l in policy_part.splitlines() if l.startswith("+") and not l.startswith("+++")]
    assert len(removed) == len(added) == 1
    assert old in removed[0] and new in added[0]


def test_diff_markdown_and_added_resources(tmp_path, capsys, cached_plans):
    base = json.loads(plan_json(REPO, tmp_path, "base", capsys).read_text())
    head = json.loads(json.dumps(base))
    extra = dict(head["resources"][0], urn=head["resources"][0]["urn"] + "-copy", name="copy")
    head["resources"].append(extra)
    removed = head["resources"].pop(0)
    head["policies"]["new-policy"] = "<policies>\n  <inbound/>\n</policies>\n"
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "h.json").write_text(json.dumps(head))
    assert main(["diff", str(tmp_path / "b.json"), str(tmp_path / "h.json"), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### lastmile diff")
    assert f"+ {extra['type']}  copy" in out and f"- {removed['type']}  {removed['name']}" in out
    assert "```diff\n--- /dev/null\n+++ head/new-policy" in out


def test_diff_refuses_what_is_not_a_plan(tmp_path, capsys):
    (tmp_path / "x.json").write_text('{"stack": "dev"}')
    (tmp_path / "y.json").write_text("not json")
    assert main(["diff", str(tmp_path / "x.json"), str(tmp_path / "x.json")]) == 1
    assert "lastmile plan <stack> --json" in capsys.readouterr().err
    assert main(["diff", str(tmp_path / "y.json"), str(tmp_path / "x.json")]) == 1
    assert "y.json" in capsys.readouterr().err


# --- verify against local servers ---------------------------------------------------------------------------

class Server(LoopbackServer):
    """A loopback HTTP server answering every GET with a fixed status; it records the requests it saw."""

    def __init__(self, status: int, location: str | None = None):
        self.status, self.location = status, location

        def answer(handler):
            handler.send_response(status)
            if location:
                handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        super().__init__(answer)


@pytest.fixture
def servers():
    made = []

    def make(status, location=None):
        made.append(Server(status, location))
        return made[-1]

    yield make
    for server in made:
        server.close()


def outputs(function: str, gateway: str) -> dict:
    return {"gateway_url": gateway, "function_backends": {"orders": {"function_url": f"{function}/api", "api_url": f"{gateway}/orders"}}}


def run_verify(monkeypatch, capsys, data, *extra):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(data)))
    code = main(["verify", "dev", *extra])
    return code, capsys.readouterr().out


def test_verify_passes_when_the_function_refuses_anonymous_and_the_gateway_gets_through(servers, monkeypatch, capsys):
    function, gateway = servers(401), servers(200)
    code, out = run_verify(monkeypatch, capsys, outputs(function.url, gateway.url), "--path", "/health", "--subscription-key", "k-123")
    assert code == 0, out
    assert "2 checks, 0 failed" in out and "FAILED" not in out
    assert function.seen[0][0] == "/api/health" and "Authorization" not in function.seen[0][1]
    assert gateway.seen[0][0] == "/orders/health" and gateway.seen[0][1]["Ocp-Apim-Subscription-Key"] == "k-123"
    assert "Ocp-Apim-Subscription-Key" not in function.seen[0][1], "the key goes to the gateway only"


def test_verify_fails_when_the_function_answers_an_anonymous_call(servers, monkeypatch, capsys):
    code, out = run_verify(monkeypatch, capsys, outputs(servers(200).url, servers(200).url))
    assert code == 1
    assert "FAILED orders / function, anonymous: the function answered 200 to an anonymous call" in out
    assert "2 checks, 1 failed" in out


def test_verify_fails_when_the_gateway_gets_401(servers, monkeypatch, capsys):
    monkeypatch.setenv("LASTMILE_SUBSCRIPTION_KEY", "from-env")
    gateway = servers(401)
    code, out = run_verify(monkeypatch, capsys, outputs(servers(401).url, gateway.url))
    assert code == 1
    assert "FAILED orders / through the gateway: 401: the function refused the gateway's token" in out
    assert gateway.seen[0][1]["Ocp-Apim-Subscription-Key"] == "from-env"


def test_verify_explains_a_401_without_subscription_key(servers, monkeypatch, capsys):
    monkeypatch.delenv("LASTMILE_SUBSCRIPTION_KEY", raising=False)
    code, out = run_verify(monkeypatch, capsys, outputs(servers(401).url, servers(401).url))
    assert code == 1 and "no subscription key was sent" in out


def test_verify_calls_every_replica_anonymously_too(servers, monkeypatch, capsys):
    function, replica, open_replica, gateway = servers(401), servers(401), servers(200), servers(200)
    data = outputs(function.url, gateway.url)
    data["function_backends"]["orders"]["replica_function_urls"] = [f"{replica.url}/api", f"{open_replica.url}/api"]
    code, out = run_verify(monkeypatch, capsys, data, "--path", "/health", "--subscription-key", "k-123")
    assert code == 1 and "4 checks, 1 failed" in out
    assert "FAILED orders (replica 2) / function, anonymous: the function answered 200 to an anonymous call" in out
    assert replica.seen[0][0] == "/api/health" and "Ocp-Apim-Subscription-Key" not in replica.seen[0][1]
    data["function_backends"]["orders"]["replica_function_urls"] = "https://one.example.net/api"
    with pytest.raises(LastMileError, match=r"^outputs\.function_backends\.orders\.replica_function_urls:"):
        verify(data, timeout=1)


def test_verify_treats_a_login_redirect_as_a_failure(servers, monkeypatch, capsys):
    function = servers(302, location="https://login.microsoftonline.com/")
    code, out = run_verify(monkeypatch, capsys, outputs(function.url, servers(200).url))
    assert code == 1 and "302 redirect" in out


def test_verify_reports_an_unreachable_function(servers, monkeypatch, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    code, out = run_verify(monkeypatch, capsys, outputs(closed, servers(200).url), "--timeout", "2")
    assert code == 1 and "no answer" in out


def test_verify_calls_nothing_but_https_or_loopback():
    checks = verify(outputs("http://func.example.net", "http://apim.example.net"), timeout=1)
    assert [c.ok for c in checks] == [False, False]
    assert all("only https://" in c.why for c in checks)


def test_verify_reads_a_file_and_refuses_non_stack_outputs(tmp_path, servers, capsys):
    path = tmp_path / "out.json"
    path.write_text(json.dumps({"gateway_url": "https://x"}))
    assert main(["verify", "dev", "--outputs", str(path)]) == 1
    assert "function_backends" in capsys.readouterr().err
    path.write_text(json.dumps(outputs(servers(401).url, servers(204).url)))
    assert main(["verify", "dev", "--outputs", str(path)]) == 0
    assert "lastmile verify: stack dev" in capsys.readouterr().out
    path.write_text("{")
    assert main(["verify", "dev", "--outputs", str(path)]) == 1
    assert "pulumi stack output --json" in capsys.readouterr().err
