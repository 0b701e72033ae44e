"""Landing-zone readiness that is ours to choose per stack: zone redundancy (on in prod)."""

from __future__ import annotations

import pytest

from apim_lastmile import Gateway, LastMileError, SecuredFunctionBackend
from helpers import registered, run, stack_plan

PLAN = "azure-native:web:AppServicePlan"
ACCOUNT = "azure-native:storage:StorageAccount"


def test_prod_is_zone_redundant_and_dev_is_not():
    prod, dev = stack_plan("prod"), stack_plan("dev")
    for plan in prod.of_type(PLAN):
        assert plan.plain_inputs["zoneRedundant"] is True, plan.name
    for account in prod.of_type(ACCOUNT):  # the function host storage and the Data Lake account
        assert account.plain_inputs["sku"] == {"name": "Standard_ZRS"}, account.name
    assert {p.plain_inputs["zoneRedundant"] for p in dev.of_type(PLAN)} == {False}
    assert {a.plain_inputs["sku"]["name"] for a in dev.of_type(ACCOUNT)} == {"Standard_LRS"}


def _backend(**extra):
    def body():
        gateway = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso"})
        SecuredFunctionBackend("orders", {"gateway": gateway.ref, "resource_group_name": "rg", "api_path": "orders", **extra})
    return body


def test_zone_redundancy_is_refused_for_an_adopted_app_and_must_be_a_switch():
    with pytest.raises(LastMileError) as err:
        run(_backend(zone_redundant=True, function_app_name="func-legacy"))
    assert str(err.value).startswith("zone_redundant: got True; only for a function app this backend creates")
    assert not any(r.name.startswith("orders") for r in registered())
    with pytest.raises(LastMileError) as err:
        run(_backend(zone_redundant="yes"))
    assert str(err.value).startswith("zone_redundant: got 'yes'; expected True or False")


def test_zone_redundant_backend_writes_the_plan_and_zrs_storage():
    plan = run(_backend(zone_redundant=True))
    assert plan.one(PLAN).plain_inputs["zoneRedundant"] is True
    assert plan.one(ACCOUNT).plain_inputs["sku"] == {"name": "Standard_ZRS"}


# ---- the landing zone's own policies as the judge ---------------------------------------------------------------------
# ALZ's default assignments and the Microsoft cloud security benchmark (../shared/azure-policy), evaluated by
# tools/azure_policy.py against the plans' ARM templates (`lastmile plan <stack> --arm`).

import functools  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from apim_lastmile.tools import arm_template, landing_zone as lz  # noqa: E402
from helpers import REPO  # noqa: E402

POLICIES = REPO.parent / "shared" / "azure-policy"
#: The plan's clock (the Rotating mock): the secret is written then, so its expiry is judged from then.
WRITTEN = datetime(2026, 1, 1, tzinfo=timezone.utc)
GROUP = {"name": "rg-lastmile", "location": "westeurope"}


@functools.lru_cache(maxsize=None)
def _zone():
    if not (POLICIES / "README.md").is_file():
        pytest.fail(f"the Azure Policy definitions are not at {POLICIES}: put shared/ beside the repo")
    return lz.load_landing_zone(POLICIES)


@functools.lru_cache(maxsize=None)
def _resources(stack):
    return tuple(arm_template.template_resources(arm_template.to_template(stack_plan(stack))))


def verdicts(stack, archetype=lz.CORP, resources=None):
    """The verdicts on ``resources`` (default: the stack's template, judged once per process: the evaluator runs
    every rule on every resource, and under coverage that is the suite's most expensive loop)."""
    if resources is None:
        return _stack_verdicts(stack, archetype)
    return lz.judge(list(resources), lz.rules_reaching(_zone().rules, archetype), now=WRITTEN, resource_group=GROUP)


@functools.lru_cache(maxsize=None)
def _stack_verdicts(stack, archetype):
    return tuple(lz.judge(list(_resources(stack)), lz.rules_reaching(_zone().rules, archetype), now=WRITTEN, resource_group=GROUP))


def blocking(found):
    return sorted({(v.rule.definition_id.rsplit("/", 1)[-1], v.resource_type, v.resource_name) for v in found if v.blocks})


def test_prod_meets_every_default_deny_of_the_corp_archetype():
    found = verdicts("prod")
    assert not [v for v in found if v.outcome.value in ("error", "unreadable")]
    assert blocking(found) == []


def test_dev_meets_the_landing_zones_defaults_and_is_refused_by_corp_only_for_public_access():
    """dev is an Online (or sandbox) stack: Consumption has no virtual network, so its function apps and storage
    accounts are public (Easy Auth and keyless storage guard them). Corp's Deny-Public-Endpoints refuses exactly those."""
    # Corp's rules are Landing Zones' and root's plus Corp's own: dev's Landing Zones verdicts are the others.
    corp = verdicts("dev")
    assert {r.definition_id for r in lz.rules_reaching(_zone().rules, lz.LANDING_ZONES)} <= {r.definition_id for r in lz.rules_reaching(_zone().rules, lz.CORP)}
    assert blocking([v for v in corp if v.rule.management_group != lz.CORP]) == []
    refused = {(rule, kind) for rule, kind, _ in blocking(corp)}
    assert refused == {("b2982f36-99f2-4db5-8eff-283140c09693", "Microsoft.Storage/storageAccounts"),
                       ("969ac98b-88a8-449f-883c-2e9adb123127", "Microsoft.Web/sites"),
                       ("1b5ef780-c53c-4a64-87f3-bb9c8c8094ba", "Microsoft.Web/sites")}


@pytest.mark.parametrize("arm_type, undo, refused_by", [
    ("Microsoft.KeyVault/vaults", lambda p: p.pop("publicNetworkAccess"), "405c5871-3e91-4644-8a63-58e19d68ff5b"),
    ("Microsoft.KeyVault/vaults/secrets", lambda p: p.pop("contentType"), "75262d3e-ba4a-4f43-85f8-9f72c090e5e3"),
    ("Microsoft.KeyVault/vaults/secrets", lambda p: p["attributes"].update(exp=int(WRITTEN.timestamp()) + 91 * 86400),
     "342e8053-e12e-4c44-be01-c3c2f318400f"),
    ("Microsoft.Network/virtualNetworks/subnets", lambda p: p.pop("networkSecurityGroup"), "Deny-Subnet-Without-Nsg"),
    ("Microsoft.Storage/storageAccounts", lambda p: p.update(publicNetworkAccess="Enabled"), "b2982f36-99f2-4db5-8eff-283140c09693"),
    ("Microsoft.Web/sites", lambda p: p.pop("publicNetworkAccess"), "969ac98b-88a8-449f-883c-2e9adb123127"),
])
def test_the_judge_refuses_prod_once_a_guardrail_it_meets_is_undone(arm_type, undo, refused_by):
    import copy

    target = copy.deepcopy(next(r for r in _resources("prod") if r["type"] == arm_type))
    assert blocking(verdicts("prod", resources=[target])) == []  # as deployed: meets the rule
    undo(target["properties"])
    # Rules judge one resource at a time: the undone one alone is enough.
    assert (refused_by, arm_type, target["name"]) in blocking(verdicts("prod", resources=[target]))


# ---- the README's table ------------------------------------------------------------------------------------------------

#: Where a stack does not meet a policy: the archetype it belongs in, or the exemption to file (category Mitigated)
#: and why it is safe. Keyed by definition (last segment of its id).
WHERE_IT_CANNOT = {
    "b2982f36-99f2-4db5-8eff-283140c09693": "dev: an Online or sandbox landing zone (Consumption has no network; the accounts take Entra tokens only)",
    "969ac98b-88a8-449f-883c-2e9adb123127": "dev: an Online or sandbox landing zone (Easy Auth answers 401 to all but the gateway's identity)",
    "1b5ef780-c53c-4a64-87f3-bb9c8c8094ba": "dev: as above (this rule reads every site, function apps included)",
    "94de2ad3-e0c1-4caf-ad78-5d47bbc83d3d": "nothing to file: Azure adds the platform's DDoS plan to the network on each PUT; `pulumi refresh` shows it as drift",
    "a6abeaec-4d90-4a02-805f-6b26c4d3fbe9": "Mitigated: the vault has no public access; APIM reads named values as a trusted service, Microsoft's documented way for a firewalled vault",
    "c15dcc82-b93c-4dcb-9332-fbf121685b54": "Mitigated: the API policy authenticates every call (managed-identity token, or basic auth from Key Vault); the rule reads only the backend entity's credentials",
    "73ef9241-5d81-4cd4-b483-8443d1730fe5": "Mitigated (prod): StandardV2 sends backend traffic into its network by outbound integration, a v2 tier the rule does not list; dev: Online or sandbox",
    "549814b6-3212-4203-bdc8-1548d342fb67": "Mitigated: deprecated by Microsoft; every call we send uses API 2024-05-01",
    "2a1a9cdf-e04d-429a-8416-3bfb72a1b26f": "dev: Online or sandbox (public accounts)",
    "db4f9b05-5ffd-4b34-b714-3c710dbb3fd6": "dev: Online or sandbox (public accounts)",
    "34c877ad-507e-4c82-993e-3452a6e0ad3c": "dev: Online or sandbox (public accounts)",
    "Deny-Storage-NetworkAclsBypass": "dev: Online or sandbox (public accounts)",
    "a06d0189-92e8-4dba-b0c4-08d7669fce7d": "dev: Online or sandbox (public accounts)",
    "6fac406b-40ca-413b-bf8e-0bf964659c25": "Mitigated: Microsoft-managed keys; the accounts hold the function package and host leases, or data whose owner chooses the key",
    "4733ea7b-a883-42fe-8cac-97454c2a9e4a": "Mitigated: Azure encrypts at rest once; a second layer can be chosen only when an account is created (not offered yet)",
    "Deny-Storage-ServicesEncryption": "Mitigated: blob and file encryption are always on; queue and table key types can be set only at creation, and nothing stores queues or tables",
    "Deny-Subnet-Without-Udr": "Mitigated: no route table; the gateway's and the apps' traffic to Azure services must not be forced through an appliance",
    "7bca8353-aa3b-429b-904a-9229c4385837": "Audit only: default outbound access is left on (delegated subnets; not verified without it)",
    "Audit-PrivateLinkDnsZones": "Audit only: the gateway makes its own privatelink zones, linked to its own network; a Corp zone's central zones are not used yet",
}


def _types_in(condition, found):
    if isinstance(condition, dict):
        if condition.get("field") == "type":
            for op in ("equals", "in", "like"):
                value = condition.get(op)
                found.update(v.lower() for v in ([value] if isinstance(value, str) else value or []) if isinstance(v, str))
        for value in condition.values():
            _types_in(value, found)
    elif isinstance(condition, list):
        for value in condition:
            _types_in(value, found)
    return found


def _cell(stack, rule, found_by_stack):
    types = _types_in(rule.policy_rule["if"], set())
    deployed = {r["type"].lower() for r in _resources(stack)} | {"microsoft.keyvault.data/vaults/secrets"}
    if types and not types & deployed:
        return "n/a"
    outcomes = sorted({v.outcome.value for v in found_by_stack[stack] if v.rule == rule and v.outcome.value != "existence-check"})
    counts = {o: sum(1 for v in found_by_stack[stack] if v.rule == rule and v.outcome.value == o) for o in outcomes}
    return ", ".join(f"{o} ({n})" for o, n in counts.items()) or "meets it"


def landing_zone_table() -> str:
    found = {stack: verdicts(stack) for stack in ("dev", "prod")}
    rows, seen = [], set()
    for rule in lz.rules_reaching(_zone().rules, lz.CORP):
        enforced = rule.enforced and rule.effect in ("deny", "append", "modify")
        flagged = any(v.rule == rule and v.outcome.value in ("refused", "audited", "modified") for f in found.values() for v in f)
        types = _types_in(rule.policy_rule["if"], set())
        ours = {r["type"].lower() for s in found for r in _resources(s)} | {"microsoft.keyvault.data/vaults/secrets"}
        if not (enforced and types & ours) and not flagged:
            continue
        short = rule.definition_id.rsplit("/", 1)[-1]
        key = (short, rule.assignment)
        if key in seen:
            continue
        seen.add(key)
        effect = rule.effect if rule.enforcement_mode == "Default" else f"{rule.effect}, not enforced (DoNotEnforce)"
        cells = [_cell(s, rule, found) for s in ("dev", "prod")]
        unmet = any(c.split(" (")[0] in ("refused", "audited", "modified") for c in cells)
        rows.append((not enforced, rule.management_group, rule.display_name, short, rule.assignment, effect, *cells,
                     WHERE_IT_CANNOT.get(short, "") if unmet else ""))
    lines = ["| Policy | ALZ assignment (group) | Effect | dev | prod | Where a stack does not meet it |", "|---|---|---|---|---|---|"]
    for _, group, name, short, assignment, effect, dev, prod, where in sorted(rows):
        lines.append(f"| {name} (`{short}`) | {assignment} ({group}) | {effect} | {dev} | {prod} | {where} |")
    return "\n".join(lines)


def test_every_unmet_policy_has_its_archetype_or_exemption_and_no_reason_is_stale():
    table = landing_zone_table()
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        unmet = any(c.split(" (")[0] in ("refused", "audited", "modified") for c in cells[3:5])
        assert bool(cells[5]) == unmet, line
    used = set(re.findall(r"\(`([^`]+)`\)", table))
    assert set(WHERE_IT_CANNOT) <= used, f"reasons for policies no row needs: {set(WHERE_IT_CANNOT) - used}"


def test_the_readmes_landing_zone_table_is_the_measured_one():
    readme = (REPO / "README.md").read_text()
    start, end = "<!-- landing-zone-table: generated by tests/test_landing_zone.py -->", "<!-- /landing-zone-table -->"
    assert start in readme and end in readme
    shown = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert shown == landing_zone_table(), "README's landing-zone table is stale: print tests/test_landing_zone.landing_zone_table()"


# ---- the secret's expiry, ahead of time -----------------------------------------------------------------------------

@pytest.mark.parametrize("today, said", [
    ("2026-01-15", None),
    ("2026-03-01", None),  # 31 days before: not yet
    ("2026-03-02", "expires on 2026-04-01 (in 30 days)"),
    ("2026-04-05", "expired on 2026-04-01 (4 days ago)"),
])
def test_lastmile_plan_warns_before_a_deployed_secret_expires(today, said, tmp_path, capsys, cached_plans):
    from apim_lastmile.tools import cli

    outputs = json.loads(json.dumps(stack_plan("prod").outputs, default=str))
    assert outputs["secret_backends"]["erp"]["secret_expires"] == "2026-04-01T00:00:00Z"  # written 2026-01-01 + 90 days
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    code = cli.main(["plan", "prod", "--project-dir", str(REPO), "--today", today, "--outputs", str(tmp_path / "outputs.json")])
    err = capsys.readouterr().err
    assert code == 0
    if said is None:
        assert "Key Vault secret" not in err
    else:
        assert f"lastmile: warning: the Key Vault secret of secret backend 'erp' {said}: run `pulumi up`" in err


def test_expiry_outputs_that_are_not_times_are_refused():
    from apim_lastmile.errors import LastMileError
    from apim_lastmile.tools.secret_expiry import expiring

    with pytest.raises(LastMileError, match=r"outputs.secret_backends.erp.secret_expires: got 'soon'"):
        expiring({"secret_backends": {"erp": {"secret_expires": "soon"}}}, datetime(2026, 1, 1).date())
    assert expiring({"secret_backends": {"old": {"api_url": "https://x"}}}, datetime(2026, 1, 1).date()) == []


def test_the_judges_type_shortcut_gives_the_verdicts_of_judging_every_resource(monkeypatch):
    rules = lz.rules_reaching(_zone().rules, lz.CORP)
    quick = lz.judge(list(_resources("dev")), rules, now=WRITTEN, resource_group=GROUP)
    assert sum(lz._guarding_types(r.policy_rule) is not None for r in rules) > len(rules) // 2  # the shortcut is taken
    monkeypatch.setattr(lz, "_guarding_types", lambda rule: None)
    assert lz.judge(list(_resources("dev")), rules, now=WRITTEN, resource_group=GROUP) == quick
