"""How the offline plan scales with the number of function backends, against the SDK's own floor.

    python benchmarks/plan_scale.py [--repeat 3] [--sizes 1 10 100]

For each size N it runs, in a fresh interpreter each time (best of --repeat):
- "ours": Gateway + N SecuredFunctionBackend components under the library's mocks;
- "bare": the same resources (same types, counts and the inputs that matter) declared directly with
  pulumi-azure-native, pulumi-azuread and pulumi-random classes, no components, no validation, no policy
  rendering, under the same mocks: the SDK's own cost per resource, the floor.
It also prints the bare import time of the modules both use. Speed is measured here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "components"))

MODULES = ("pulumi", "pulumi_azure_native.apimanagement", "pulumi_azure_native.web", "pulumi_azure_native.storage",
           "pulumi_azure_native.authorization", "pulumi_azure_native.managedidentity", "pulumi_azuread", "pulumi_random",
           "lxml.etree", "pydantic")
PRINCIPAL = "11111111-1111-4111-8111-111111111111"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def ours(n: int) -> None:
    from apim_lastmile import Gateway, SecuredFunctionBackend

    gw = Gateway("bench", {"resource_group_name": "rg", "publisher_email": "a@b.co", "publisher_name": "n"})
    for i in range(n):
        SecuredFunctionBackend(f"fn{i}", {"gateway": gw.ref, "resource_group_name": "rg", "api_path": f"fn{i}"})


def bare(n: int) -> None:
    import pulumi
    import pulumi_azuread as azuread
    import pulumi_random as random
    from pulumi_azure_native import apimanagement, authorization, storage, web

    suffix = random.RandomString("bench-suffix", length=6, special=False, upper=False)
    apim = apimanagement.ApiManagementService(
        "bench-apim", service_name=pulumi.Output.concat("apim-bench-", suffix.result), resource_group_name="rg",
        publisher_email="a@b.co", publisher_name="n", sku={"name": "Consumption", "capacity": 0}, identity={"type": "SystemAssigned"})
    principal = apim.identity.apply(lambda i: i.principal_id)
    client = authorization.get_client_config_output()
    for i in range(n):
        name = f"fn{i}"
        s = random.RandomString(f"{name}-suffix", length=6, special=False, upper=False).result
        app_reg = azuread.ApplicationRegistration(f"{name}-app", display_name=name, requested_access_token_version=2, sign_in_audience="AzureADMyOrg")
        azuread.ApplicationIdentifierUri(f"{name}-app-uri", application_id=app_reg.id, identifier_uri=pulumi.Output.concat("api://", app_reg.client_id))
        role = azuread.ApplicationAppRole(f"{name}-app-role", application_id=app_reg.id, role_id=PRINCIPAL, allowed_member_types=["Application"],
                                          display_name="Invoke", description="Invoke", value="Function.Invoke")
        sp = azuread.ServicePrincipal(f"{name}-sp", client_id=app_reg.client_id, app_role_assignment_required=True)
        azuread.AppRoleAssignment(f"{name}-apim-invoke", app_role_id=role.role_id, principal_object_id=principal, resource_object_id=sp.object_id)
        acct = storage.StorageAccount(f"{name}-storage", account_name=pulumi.Output.concat("st", name, s), resource_group_name="rg",
                                      kind="StorageV2", sku={"name": "Standard_LRS"}, allow_shared_key_access=False)
        storage.BlobContainer(f"{name}-package", account_name=acct.name, resource_group_name="rg", container_name="app-package")
        plan = web.AppServicePlan(f"{name}-plan", resource_group_name="rg", kind="functionapp", reserved=True, sku={"name": "FC1", "tier": "FlexConsumption"})
        app = web.WebApp(f"{name}-function", name=pulumi.Output.concat("func-", name, s), resource_group_name="rg", kind="functionapp,linux",
                         server_farm_id=plan.id, https_only=True, identity={"type": "SystemAssigned"},
                         site_config={"min_tls_version": "1.2", "ftps_state": "Disabled", "app_settings": [{"name": "AzureWebJobsStorage__accountName", "value": acct.name}]},
                         function_app_config={"deployment": {"storage": {"type": "blobContainer", "value": pulumi.Output.concat(acct.primary_endpoints.blob, "app-package"),
                                                                         "authentication": {"type": "SystemAssignedIdentity"}}},
                                              "runtime": {"name": "python", "version": "3.11"}})
        authorization.RoleAssignment(f"{name}-storage-access", principal_id=app.identity.apply(lambda i: i.principal_id), principal_type="ServicePrincipal",
                                     role_definition_id=pulumi.Output.concat("/subscriptions/", client.subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/b7e6dc6d-f1e8-4753-8033-0f276bb0955b"),
                                     scope=acct.id)
        web.WebAppFtpAllowed(f"{name}-no-ftp", name=app.name, resource_group_name="rg", allow=False)
        web.WebAppScmAllowed(f"{name}-no-scm", name=app.name, resource_group_name="rg", allow=False)
        web.WebAppAuthSettingsV2(f"{name}-auth", name=app.name, resource_group_name="rg", platform={"enabled": True},
                                 global_validation={"require_authentication": True, "unauthenticated_client_action": "Return401"},
                                 identity_providers={"azure_active_directory": {"enabled": True, "registration": {"client_id": app_reg.client_id},
                                                                                "validation": {"allowed_audiences": [app_reg.client_id],
                                                                                               "default_authorization_policy": {"allowed_principals": {"identities": [principal]}}}}})
        backend = apimanagement.Backend(f"{name}-backend", backend_id=name, service_name=apim.name, resource_group_name="rg", protocol="http",
                                        url=pulumi.Output.concat("https://", app.default_host_name, "/api"))
        api = apimanagement.Api(f"{name}-api", api_id=name, path=name, display_name=name, protocols=["https"], service_name=apim.name, resource_group_name="rg")
        for m in METHODS:
            apimanagement.ApiOperation(f"{name}-op-{m}", api_id=api.name, operation_id=m.lower(), display_name=m, method=m, url_template="/*",
                                       service_name=apim.name, resource_group_name="rg")
        apimanagement.ApiPolicy(f"{name}-policy", api_id=api.name, policy_id="policy", format="rawxml", service_name=apim.name, resource_group_name="rg",
                                value=app_reg.client_id.apply(lambda c: f'<policies><inbound><base/><authentication-managed-identity resource="{c}"/></inbound></policies>'),
                                opts=pulumi.ResourceOptions(depends_on=[backend]))


def child(mode: str, n: int) -> None:
    start = time.perf_counter()
    for module in MODULES:
        __import__(module)
    import apim_lastmile  # noqa: F401 - counted in the import time of "ours" runs only
    from apim_lastmile.tools import plan

    imported = time.perf_counter()
    result = plan.run((lambda: ours(n)) if mode == "ours" else (lambda: bare(n)), stack="bench")
    done = time.perf_counter()
    custom = sum(1 for r in result.registrations if r.custom)
    print(json.dumps({"import_s": imported - start, "run_s": done - imported, "resources": custom, "registrations": len(result.registrations)}))


def measure(mode: str, n: int, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--child", mode, str(n)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["run_s"])


def bare_import_time(repeat: int) -> float:
    code = "import time; t=time.perf_counter();" + "".join(f"import {m};" for m in MODULES) + "print(time.perf_counter()-t)"
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}")
    print(f"bare import of the SDK modules: {bare_import_time(args.repeat) * 1000:.0f} ms (best of {args.repeat})")
    print(f"{'backends':>8} {'resources':>9} {'ours s':>8} {'bare s':>8} {'ratio':>6} {'ours ms/res':>11} {'bare ms/res':>11}")
    for n in args.sizes:
        o, b = measure("ours", n, args.repeat), measure("bare", n, args.repeat)
        assert o["resources"] == b["resources"], (o, b)
        print(f"{n:>8} {o['resources']:>9} {o['run_s']:>8.2f} {b['run_s']:>8.2f} {o['run_s'] / b['run_s']:>6.2f} "
              f"{o['run_s'] / o['resources'] * 1000:>11.1f} {b['run_s'] / b['resources'] * 1000:>11.1f}")


if __name__ == "__main__":
    main()
