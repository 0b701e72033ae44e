"""`lastmile audit`: every credential a gateway sends on its last mile, measured on 146 real-world policy documents
labelled by hand (tests/audit_corpus, drawn from ../shared/realworld-policies), on an APIOps folder, an ARM template
and hostile input."""

from __future__ import annotations

import functools
import json
from collections import Counter

import pytest

from apim_lastmile.errors import LastMileError
from apim_lastmile.tools import cli
from apim_lastmile.tools.audit import inputs
from apim_lastmile.tools.audit.detector import CREDENTIALS, SOURCES, detect
from apim_lastmile.tools.audit.reading import parse
from apim_lastmile.tools.audit.report import audit
from helpers import REPO

CORPUS = REPO.parent / "shared" / "realworld-policies"
SAMPLE = REPO / "examples" / "audit-apiops"


@functools.lru_cache(maxsize=None)
def labels() -> dict:
    found = {}
    for file in sorted((REPO / "tests" / "audit_corpus").glob("labels-*.json")):
        found.update(json.loads(file.read_text()))
    return found


@functools.lru_cache(maxsize=None)
def _found(name: str) -> tuple:
    """The audit's findings on one corpus document (read once per process: the corpus tests share them)."""
    return tuple(detect(name, parse((CORPUS / name).read_bytes(), name)))


def test_the_labels_cover_every_document_with_known_kinds():
    documents = sorted(p.name for p in CORPUS.glob("*.xml"))
    assert len(documents) == 146 and sorted(labels()) == documents
    for name, entry in labels().items():
        for finding in entry["findings"]:
            assert finding["credential"] in CREDENTIALS and finding["source"] in SOURCES, (name, finding)


def test_the_real_world_documents_give_exactly_their_labelled_findings():
    """Each document's findings (credential, line, source) are the ones labelled by hand; precision and recall over
    the corpus are measured too (the acceptance asks for 95% of each)."""
    wrong, hit, got_total, want_total = [], 0, 0, 0
    for path in sorted(CORPUS.glob("*.xml")):
        got = Counter((f.credential, f.line, f.source) for f in _found(path.name))
        want = Counter((f["credential"], f["line"], f["source"]) for f in labels()[path.name]["findings"])
        hit += sum((got & want).values())
        got_total += sum(got.values())
        want_total += sum(want.values())
        if got != want:
            wrong.append(f"{path.name}: found {sorted(got)}, labelled {sorted(want)}")
    assert want_total >= 30  # the corpus carries credentials of every kind but a few
    assert hit / got_total >= 0.95 and hit / want_total >= 0.95, (hit, got_total, want_total)
    assert not wrong, "\n".join(wrong)


def test_the_sample_apiops_folder(capsys):
    assert cli.main(["audit", str(SAMPLE), "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)["findings"]
    assert all(set(r) == {"credential", "source", "document", "line", "replacement"} for r in rows)
    assert [(r["credential"], r["source"], r["document"], r["line"]) for r in rows] == [
        ("basic-auth", "key-vault-named-value", "apis/erp/policy.xml", 4),
        ("authorization-header", "named-value", "apis/lake/policy.xml", 7),  # SharedKey from a plain named value
        ("function-key", "secret-named-value", "apis/orders/policy.xml", 5),
        ("function-key", "unknown", "backends/legacy-func/backendInformation.json", 5),  # the backend entity's key
        ("api-key", "unknown", "policyFragments/static-token/policy.xml", 2),  # once, though the erp API includes it
    ]
    replacements = {r["document"]: r["replacement"] for r in rows}
    assert replacements["apis/lake/policy.xml"] == "EntraBackend audience 'storage' with 'Storage Blob Data Reader'"
    assert replacements["apis/orders/policy.xml"].startswith("SecuredFunctionBackend adopting the app")
    assert replacements["apis/erp/policy.xml"].startswith("KeyVaultSecretBackend")
    assert cli.main(["audit", str(SAMPLE)]) == 1
    text = capsys.readouterr().out
    assert text.startswith(f"{SAMPLE}: 5 credentials on the last mile") and "to func-orders.azurewebsites.net:" in text


def test_an_arm_template_of_a_gateway(tmp_path, capsys):
    policy = ('<policies><inbound><base /><set-query-parameter name="code" exists-action="override">'
              '<value>{{orders-code}}</value></set-query-parameter></inbound></policies>')
    template = {"resources": [
        {"type": "Microsoft.ApiManagement/service", "name": "apim", "resources": [
            {"type": "namedValues", "name": "orders-code", "properties": {"displayName": "orders-code", "secret": True}}]},
        {"type": "Microsoft.ApiManagement/service/apis", "name": "apim/orders",
         "properties": {"serviceUrl": "https://func-orders.azurewebsites.net/api"}},
        {"type": "Microsoft.ApiManagement/service/apis/policies", "name": "apim/orders/policy",
         "properties": {"format": "rawxml", "value": policy}},
        {"type": "Microsoft.ApiManagement/service/backends", "name": "[concat(parameters('apim'), '/lake')]",
         "properties": {"url": "https://contosolake.blob.core.windows.net/raw?sv=2022-11-02&sig={{lake-sas}}"}},
    ]}
    (tmp_path / "gateway.json").write_text(json.dumps(template, indent=2))
    found = [(f.credential, f.source, f.document) for f in audit(str(tmp_path / "gateway.json"))]
    assert found == [("sas-token", "unknown", "gateway.json#[concat(parameters('apim'), '/lake')]"),
                     ("function-key", "secret-named-value", "gateway.json#apim/orders/policy")]


@pytest.mark.parametrize("policy", [
    '<policies><inbound><set-header name="api-key" exists-action="delete" /></inbound></policies>',
    '<policies><inbound><!-- <set-header name="api-key"><value>{{key}}</value></set-header> --></inbound></policies>',
    '<policies><inbound><set-header name="Authorization" exists-action="override"><value>@(context.Request.Headers'
    '.GetValueOrDefault("Authorization",""))</value></set-header></inbound></policies>',
    '<policies><inbound><authentication-managed-identity resource="https://storage.azure.com/" output-token-variable-name="t" />'
    '<set-header name="Authorization" exists-action="override"><value>@("Bearer " + (string)context.Variables["t"])</value>'
    '</set-header></inbound></policies>',
    '<policies><inbound><set-header name="X-CSRF-Token" exists-action="override"><value>Fetch</value></set-header></inbound></policies>',
    '<policies><inbound><send-request mode="new" response-variable-name="r"><set-url>https://login.example.com/oauth/token?code=abc'
    '</set-url></send-request></inbound></policies>',
    '<policies><outbound><return-response><set-body>https://x.blob.core.windows.net/c/b?sig=abc</set-body></return-response>'
    '</outbound></policies>',
    '<policies><inbound><authentication-basic username="@(context.Subscription.Id)" password="@(context.Subscription.Key)" />'
    '</inbound></policies>',
])
def test_what_is_not_a_credential_the_gateway_holds(policy):
    """Deleted headers, comments, the caller's own credentials, managed-identity tokens, protocol values, OAuth
    authorization codes and SAS URLs returned to the caller."""
    assert detect("doc.xml", parse(policy.encode(), "doc.xml")) == []


@pytest.mark.parametrize("policy, credential, source", [
    ('<policies><inbound><set-header name="x-functions-key"><value>abc123</value></set-header></inbound></policies>',
     "function-key", "literal"),
    ('<policies><inbound><set-backend-service base-url="https://f.azurewebsites.net/api?code={{k}}" /></inbound></policies>',
     "function-key", "unknown"),
    ('<policies><inbound><rewrite-uri template="/c/b?sv=2022&amp;sig=Zm9v" /></inbound></policies>', "sas-token", "literal"),
    ('<policies><inbound><set-header name="Ocp-Apim-Subscription-Key"><value>{{partner}}</value></set-header></inbound></policies>',
     "api-key", "unknown"),
    ('<policies><inbound><set-header name="Authorization"><value>Bearer eyJhbGciOi</value></set-header></inbound></policies>',
     "authorization-header", "literal"),
    ('<policies><inbound><set-header name="Authorization"><value>@("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes('
     '"u:{{p}}")))</value></set-header></inbound></policies>', "basic-auth", "unknown"),
    ('<policies><inbound><authentication-certificate thumbprint="ABCDEF" /></inbound></policies>', "client-certificate", "unknown"),
    # Written to hide: a header name built in an expression, a percent-encoded parameter name.
    ('<policies><inbound><set-header name=\'@("x-functions" + "-key")\'><value>{{k}}</value></set-header></inbound></policies>',
     "function-key", "unknown"),
    ('<policies><inbound><rewrite-uri template="/api/run?%63ode={{k}}" /></inbound></policies>', "function-key", "unknown"),
    ('<policies><inbound><send-request mode="new" response-variable-name="t"><set-url>https://login.microsoftonline.com/x/oauth2/'
     'v2.0/token</set-url><set-body>client_id=a&amp;client_secret={{s}}&amp;grant_type=client_credentials</set-body>'
     '</send-request></inbound></policies>', "authorization-header", "unknown"),
])
def test_each_kind_of_credential_and_its_source(policy, credential, source):
    [found] = detect("doc.xml", parse(policy.encode(), "doc.xml"))
    assert (found.credential, found.source) == (credential, source)


@pytest.mark.parametrize("content, phrase", [
    (b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><policies>&x;</policies>',
     "no document type declaration"),
    (b'<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><policies>&b;</policies>',
     "no document type declaration"),
    (b"<policies><inbound>", "unreadable"),
    (b"\xff\xfe<policies/>", "UTF-8"),
])
def test_hostile_or_broken_documents_are_refused_with_exit_2(tmp_path, capsys, content, phrase):
    (tmp_path / "p.xml").write_bytes(content)
    assert cli.main(["audit", str(tmp_path / "p.xml")]) == 2
    assert phrase in capsys.readouterr().err


def test_a_link_leaving_the_folder_and_too_many_files_are_refused(tmp_path, monkeypatch, capsys):
    outside = tmp_path / "outside.xml"
    outside.write_text("<policies/>")
    folder = tmp_path / "gateway"
    folder.mkdir()
    (folder / "a.xml").symlink_to(outside)
    assert cli.main(["audit", str(folder)]) == 2
    assert "leaves the folder" in capsys.readouterr().err
    (folder / "a.xml").unlink()
    for i in range(4):
        (folder / f"{i}.xml").write_text("<policies/>")
    monkeypatch.setattr(inputs, "MAX_FILES", 3)
    assert cli.main(["audit", str(folder)]) == 2
    assert "at most 3 files" in capsys.readouterr().err
    monkeypatch.setattr(inputs, "MAX_FILES", 10)
    assert cli.main(["audit", str(folder)]) == 0
    assert "no credential on the last mile" in capsys.readouterr().out


def test_a_missing_path_or_a_json_that_is_no_template():
    with pytest.raises(LastMileError, match="no such file or folder"):
        audit("/nonexistent/gateway")


def test_not_a_template(tmp_path):
    (tmp_path / "x.json").write_text('{"name": "not a template"}')
    with pytest.raises(LastMileError, match="expected an ARM template or export"):
        audit(str(tmp_path / "x.json"))


def test_the_policy_pack_and_the_audit_agree_on_every_corpus_document():
    """The pack enforces on the audit's detector: on each real-world document, it reports a violation exactly where
    the audit finds a literal credential or a function key, and hands the Key Vault check exactly the named values
    the audit's findings draw on."""
    import sys

    sys.path.insert(0, str(REPO / "policypack"))
    from credentials import inspect_policy
    from lastmile_audit.apim_reading import parse_policy

    disagree = []
    for path in sorted(CORPUS.glob("*.xml")):
        violations, named = inspect_policy(parse_policy(path.read_text(encoding="utf-8-sig"), "rawxml"))
        named = set(named)
        found = _found(path.name)
        enforced = [f for f in found if f.source == "literal" or f.credential == "function-key"]
        if bool(violations) != bool(enforced) or named != {n for f in found for n in f.named_values}:
            disagree.append(f"{path.name}: pack {violations} {sorted(named)}; audit {found}")
    assert not disagree, "\n".join(disagree)


def test_our_own_stacks_send_no_credential_but_the_key_vault_backends_password():
    """Dogfood: with the stack's named values known (as an APIOps export would show them), the only credential any
    policy of either stack sends is the legacy service's basic-auth password, from a Key Vault named value; the
    backend entities store none."""
    from apim_lastmile.tools.arm_template import template_resources, to_template
    from apim_lastmile.tools.audit.detector import backend_findings
    from helpers import stack_plan

    for stack, legacy in (("dev", "legacy"), ("prod", "erp")):
        plan = stack_plan(stack)
        kinds = {nv.plain_inputs["displayName"]: "key-vault-named-value" if nv.plain_inputs.get("keyVault") else
                 "secret-named-value" if nv.plain_inputs.get("secret") else "named-value"
                 for nv in plan.of_type("azure-native:apimanagement:NamedValue")}
        found = {name: [(f.credential, f.source) for f in detect(name, parse(xml.encode(), name), named_values=kinds)]
                 for name, xml in plan.policies().items()}
        assert found == {name: ([("basic-auth", "key-vault-named-value")] if name == f"{legacy}-policy" else [])
                         for name in found}, (stack, found)
        for resource in template_resources(to_template(plan)):
            if resource["type"] == "Microsoft.ApiManagement/service/backends":
                props = resource["properties"]
                assert backend_findings(resource["name"], props.get("url", ""), props.get("credentials") or {}, 0) == []


def test_a_logger_that_sends_telemetry_with_a_key_is_a_finding(tmp_path):
    """APIOps extracts loggers to loggers/<name>/loggerInformation.json, their credential as a Logger-Credentials
    named value; a logger with the gateway's identity (identityClientId) sends no key."""
    def logger(name, credentials):
        (tmp_path / "loggers" / name).mkdir(parents=True)
        (tmp_path / "loggers" / name / "loggerInformation.json").write_text(json.dumps(
            {"properties": {"loggerType": "applicationInsights", "credentials": credentials}}, indent=2))

    (tmp_path / "namedValues" / "Logger-Credentials--61a").mkdir(parents=True)
    (tmp_path / "namedValues" / "Logger-Credentials--61a" / "namedValueInformation.json").write_text(
        json.dumps({"properties": {"displayName": "Logger-Credentials--61a", "secret": True}}))
    logger("appinsights", {"instrumentationKey": "{{Logger-Credentials--61a}}"})
    logger("events", {"name": "apim-events", "connectionString": "Endpoint=sb://ns-logs.servicebus.windows.net/;"
                                                                  "SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0"})
    logger("keyless", {"connectionString": "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x/",
                       "identityClientId": "SystemAssigned"})
    found = audit(str(tmp_path))
    assert [(f.credential, f.source, f.document, f.line, f.target) for f in found] == [
        ("telemetry-key", "secret-named-value", "loggers/appinsights/loggerInformation.json", 4, "Application Insights"),
        ("telemetry-key", "literal", "loggers/events/loggerInformation.json", 4, "ns-logs.servicebus.windows.net")]
    assert found[0].replacement.startswith("Gateway(telemetry=...): a logger with the gateway's managed identity")
    assert "Azure Event Hubs Data Sender" in found[1].replacement
    template = {"resources": [{"type": "Microsoft.ApiManagement/service/loggers", "name": "apim/appinsights",
                               "properties": {"loggerType": "applicationInsights", "credentials": {"instrumentationKey": "abc"}}}]}
    (tmp_path / "gateway.json").write_text(json.dumps(template))
    assert [(f.credential, f.source) for f in audit(str(tmp_path / "gateway.json"))] == [("telemetry-key", "literal")]
