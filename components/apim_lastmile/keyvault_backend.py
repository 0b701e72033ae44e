"""KeyVaultSecretBackend: a basic-auth backend whose password APIM's identity reads from Key Vault.

The story: a vault (RBAC, purge protection, soft delete) or an adopted one -> one secret, generated or
given, always a Pulumi secret -> ``Key Vault Secrets User`` for the gateway's identity on that one secret ->
named values -> the policy (``authentication-basic`` with the secret, ``set-backend-service``).
"""

import re
from datetime import datetime, timezone
from enum import Enum
from typing import Optional, Sequence, TypedDict

import pulumi
import pulumi_azuread as azuread
import pulumi_random as random
import pulumiverse_time as time
from pulumi_azure_native import apimanagement, authorization

from . import arguments, claims, keyvault_api, naming, policy, telemetry
from .api import Operation, check_api_path, check_backend_basics, check_operations, count_on_gateway, publish_api
from .azure_rules import NAMED_VALUES_PER_SERVICE
from .errors import LastMileError
from .gateway import GatewayRef, gateway_cache
from .policy.fragments import INT32_MAX
from .resilience import backend_entity, idempotent_retry
from .roles import BUILT_IN_ROLES, assign

try:
    from typing import Required
except ImportError:  # pragma: no cover
    from typing_extensions import Required

KEY_VAULT_AUDIENCE = "https://vault.azure.net"
KEY_VAULT_API_VERSION = "7.4"
#: How long APIM's Key Vault named value waits after its role assignment. Azure RBAC takes "up to 10 minutes" to
#: take effect (learn.microsoft.com/azure/role-based-access-control/troubleshooting), and APIM reads the secret when
#: the named value is created, so without a wait the first `pulumi up` fails and the second succeeds
#: (hashicorp/terraform-provider-azurerm#19255); two minutes covers the usual case, as Terraform's time_sleep does.
RBAC_PROPAGATION_WAIT = "120s"
_SECRET_VAR = "lastmileSecret"
_RESPONSE_VAR = "lastmileVaultResponse"


#: What the secret holds, as its contentType says (a free string in Key Vault; landing zones require one).
SECRET_CONTENT_TYPE = "password"
#: The secret's expiry, in days after its version is written (landing zones deny more than 90), and how many days the
#: clock runs before the next `up` writes a new version with a new expiry.
SECRET_EXPIRY_DAYS = 90
SECRET_RENEW_DAYS = 60


class Delivery(str, Enum):
    """How the password reaches the policy."""

    NAMED_VALUE = "named-value"
    """An APIM named value backed by the Key Vault secret: no Key Vault call per request."""
    SEND_REQUEST = "send-request"
    """The policy reads Key Vault on a cache miss and caches the password for cache_seconds (needs a gateway cache)."""


class KeyVaultSecretBackendArgs(TypedDict, total=False):
    """Arguments of KeyVaultSecretBackend: a basic-auth backend whose password lives in Key Vault and is read only
    by the gateway's identity."""

    gateway: Required[GatewayRef]
    """The gateway whose identity reads the secret (Gateway.ref, or its outputs)."""
    resource_group_name: Required[pulumi.Input[str]]
    """Where a new vault is created (and an adopted one is looked up by default)."""
    api_path: Required[str]
    """The API's path on the gateway, e.g. legacy (no leading '/')."""
    backend_url: Required[str]
    """The legacy backend's https:// base URL (a public DNS name; no user info, IP literal or credential in it)."""
    username: Required[str]
    """The basic-auth user name (kept in a plain named value)."""
    key_vault_name: str
    """Adopt this vault (it must use RBAC authorization); default a new vault kv-<name>-<6 random characters> with
    RBAC, purge protection and soft delete."""
    key_vault_resource_group_name: str
    """The adopted vault's resource group; default resource_group_name."""
    secret_name: str
    """The secret's name (1-127 letters, digits, hyphens); default <name>-password."""
    secret_value: pulumi.Input[str]
    """The password, as a Pulumi secret (a plain value is refused); default a generated 32-character password."""
    rotation: str
    """Any string (e.g. a date); changing it regenerates a generated password."""
    delivery: Delivery
    """named-value (default) or send-request."""
    cache_seconds: int
    """send-request: how long the gateway caches the password; default 300."""
    soft_delete_retention_days: int
    """A new vault keeps deleted secrets 7 to 90 days; default 90."""
    location: pulumi.Input[str]
    """An Azure region for a new vault; default the resource group's."""
    operations: Sequence[Operation]
    """The API's operations; default every method on /*."""
    subscription_required: bool
    """Callers need an APIM subscription key; default true."""
    protect: bool
    """Protect the vault, secret and generated password from deletion; default false."""


DELIVERIES = tuple(d.value for d in Delivery)

#: A vault without public access that still admits APIM's named-value reads and the deployer's secret writes:
#: - APIM reads Key Vault named values over the control plane, as a trusted Microsoft service, with its system-assigned
#:   identity; the March 2026 retirement of trusted connectivity covers the gateway's own traffic, not named values
#:   (learn.microsoft.com/azure/api-management/breaking-changes/trusted-service-connectivity-retirement-march-2026;
#:   api-management-howto-properties, "Key Vault behind a firewall": system-assigned identity, trusted services
#:   bypass). publicNetworkAccess Disabled still admits trusted services (the Key Vault REST spec's description).
#: - The deployer writes the secret through Azure Resource Manager (Microsoft.KeyVault/vaults/secrets), which the vault's
#:   network rules do not stop (MicrosoftDocs/azure-docs#68668, Azure/AppConfiguration#804: user reports, no Microsoft
#:   statement found); it needs Microsoft.KeyVault/vaults/secrets/write (Key Vault Contributor or Contributor).
PRIVATE_VAULT = {"publicNetworkAccess": "Disabled", "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"}}


def _validate(name: str, args: KeyVaultSecretBackendArgs) -> dict:
    gateway = check_backend_basics("KeyVaultSecretBackend", name, args, KeyVaultSecretBackendArgs)
    naming.check_https_url("backend_url", args.get("backend_url"))
    username = check_username(args.get("username"))
    vault_name = naming.optional(naming.KEY_VAULT, "key_vault_name", args.get("key_vault_name"))
    vault_rg = args.get("key_vault_resource_group_name")
    if vault_rg is not None:
        if vault_name is None:
            raise LastMileError("key_vault_resource_group_name", vault_rg, "only meaningful with key_vault_name (an adopted vault)")
        naming.RESOURCE_GROUP.check("key_vault_resource_group_name", vault_rg)
    secret_name = naming.KEY_VAULT_SECRET.check("secret_name", args.get("secret_name", f"{name}-password"))
    if vault_name is not None:
        # Two backends writing one secret of an adopted vault would overwrite each other's password.
        claims.CLAIMS.claim(("key vault", vault_name.lower()), secret_name, name, "secret_name", what="Key Vault secret")
    secret_value = args.get("secret_value")
    if secret_value is not None and not isinstance(secret_value, pulumi.Output):
        raise LastMileError(
            "secret_value", "<plain value hidden>" if isinstance(secret_value, str) else type(secret_value).__name__,
            "pass a Pulumi secret (pulumi.Output.secret(...) or pulumi.Config().require_secret(...)), never a plain string",
        )
    rotation = args.get("rotation", "initial")
    if not isinstance(rotation, str) or not rotation:
        raise LastMileError("rotation", rotation, "expected a non-empty string, e.g. a date such as 2026-11-23")
    delivery = arguments.plain(args.get("delivery", "named-value"))
    if delivery not in DELIVERIES:
        raise LastMileError("delivery", delivery, f"expected one of {', '.join(DELIVERIES)}")
    if delivery == "send-request":
        check_gateway_caches(gateway)
    cache_seconds = args.get("cache_seconds", 300)
    if isinstance(cache_seconds, bool) or not isinstance(cache_seconds, int) or not 0 < cache_seconds <= INT32_MAX:
        raise LastMileError("cache_seconds", cache_seconds, f"expected a whole number of seconds from 1 to {INT32_MAX} "
                                                            "(APIM reads the cache duration as a 32-bit integer)")
    if delivery == "named-value" and args.get("cache_seconds") is not None:
        raise LastMileError("cache_seconds", cache_seconds, "only delivery send-request caches the password; named-value delivery "
                                                            "ignores it (APIM refreshes the named value itself): remove it or use "
                                                            "delivery send-request")
    # A vault we create for named-value delivery has no public access: APIM reads named values as a trusted service,
    # which Key Vault admits only from the service's system-assigned identity (see KeyVaultSecretBackend).
    private_vault = vault_name is None and delivery == "named-value"
    if private_vault and gateway.get("identity_client_id") is not None and gateway.get("system_principal_id") is None:
        raise LastMileError("gateway.system_principal_id", None, "the vault this backend creates has no public access, and Key Vault "
                                                                  "admits APIM's named-value reads as a trusted service only from the "
                                                                  "service's system-assigned identity: give the gateway ref its "
                                                                  "system_principal_id (Gateway.ref and exported_ref carry it), or adopt "
                                                                  "a vault with key_vault_name")
    retention = args.get("soft_delete_retention_days", 90)
    if isinstance(retention, bool) or not isinstance(retention, int) or not 7 <= retention <= 90:
        raise LastMileError("soft_delete_retention_days", retention, "Key Vault keeps deleted secrets 7 to 90 days")
    operations = check_operations(args.get("operations"))
    api_path = check_api_path(args.get("api_path"), gateway, name, operations=operations)
    # username + password (named-value) or username + vault URL + secret name (send-request)
    count_on_gateway(gateway, "named values", name, 2 if delivery == "named-value" else 3, NAMED_VALUES_PER_SERVICE, "delivery")
    return {
        "gateway": gateway, "vault_name": vault_name, "vault_rg": vault_rg, "secret_name": secret_name,
        "secret_value": secret_value, "rotation": rotation, "delivery": delivery, "cache_seconds": cache_seconds, "private_vault": private_vault,
        "retention": retention, "operations": operations, "api_path": api_path, "username": username,
        "subscription_required": args.get("subscription_required", True), "protect": args.get("protect", False),
    }


def _trusted_reader(identity_client_id: Optional[str], system_principal_id: Optional[str], principal_id: str) -> str:
    """The identity Key Vault admits as a trusted service: the system-assigned one (the last mile's, when that is it)."""
    if not identity_client_id:
        return principal_id
    if not system_principal_id:
        raise LastMileError("gateway.system_principal_id", None, "the gateway's export has no systemPrincipalId (a stack exported "
                                                                  "before the gateway had its system-assigned identity): run "
                                                                  "`pulumi up` on the gateway's stack first, or adopt a vault "
                                                                  "with key_vault_name")
    return system_principal_id


def deployer_principal_type(object_id: pulumi.Input[str], parent: pulumi.Resource) -> pulumi.Output[str]:
    """``ServicePrincipal`` when the deployer is one (a CI identity), else ``User`` (someone signed in with az login)."""
    found = azuread.get_service_principals_output(object_ids=[object_id], ignore_missing=True,
                                                  opts=pulumi.InvokeOutputOptions(parent=parent))
    return found.service_principals.apply(lambda sps: "ServicePrincipal" if sps else "User")


def check_username(username: object, key: str = "username") -> str:
    """A basic-auth user name kept in a plain APIM named value. APIM evaluates a named value that holds a policy
    expression, and substitutes ``{{...}}``, so neither may appear; nor a line break, or a ':' (it ends the user
    name in basic auth)."""
    if not isinstance(username, str) or not username.strip() or len(username) > 256:
        raise LastMileError(key, username, "expected a non-empty user name of at most 256 characters")
    if username.lstrip().startswith("@") or "{{" in username or "}}" in username:
        raise LastMileError(key, username, "a user name may not start with '@' or hold '{{' / '}}': APIM would evaluate it as code")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in username) or ":" in username:
        raise LastMileError(key, username, "a user name is one line without control characters or ':'")
    return username


def check_gateway_caches(gateway: GatewayRef, key: str = "delivery") -> None:
    """``send-request`` reads Key Vault on every cache miss: without a cache that is every request, and Key Vault
    throttles a vault's GETs (a few thousand per 10 seconds), so a gateway without a cache is refused."""
    cache = gateway_cache(gateway)
    if cache in ("internal", "external"):
        return
    if cache is None:
        raise LastMileError(
            key, "send-request",
            "the GatewayRef does not say whether the gateway has a cache, and send-request reads Key Vault on every cache "
            "miss: set the ref's 'sku' (e.g. StandardV2) or 'cache' ('internal', 'external' or 'none'), or use delivery "
            "'named-value'",
        )
    raise LastMileError(
        key, "send-request",
        f"the gateway's {arguments.plain(gateway.get('sku')) or 'tier'} has no built-in cache and no external cache is configured, so every "
        "request would miss the cache and call Key Vault (which throttles under load): use delivery 'named-value', or "
        "give the gateway an external cache (GatewayArgs external_cache; in stack config gateway.externalCache)",
    )


def vault_name_prefix(name: str) -> str:
    """``kv-<name>-`` trimmed so that six random characters still fit Key Vault's 24, without ``--``."""
    stem = re.sub(r"-+", "-", name.lower())[: 24 - len("kv--") - naming.SUFFIX_LENGTH].strip("-")
    return f"kv-{stem}-"


def named_value_names(name: str) -> dict[str, str]:
    """The per-environment named values the policy refers to (same policy text in every environment)."""
    return {key: f"{name}-{key}" for key in ("username", "password", "vault-url", "secret-name")}


def basic_auth_policy(name: str, delivery: str, cache_seconds: int, client_id: Optional[str]) -> str:
    """The backend's policy; only named-value references and expressions stand in for the secret. It routes to the
    backend entity ``name`` (the backend's URL, with its circuit breaker)."""
    nv = named_value_names(name)
    username = policy.named_value(nv["username"])
    route = policy.set_backend_service(backend_id=name)
    if delivery == "named-value":
        return policy.render(inbound=[policy.authentication_basic(username=username, password=policy.named_value(nv["password"])), route],
                             backend=[idempotent_retry()], backend_base=False)
    response = f'((IResponse)context.Variables["{_RESPONSE_VAR}"])'
    cache_key = f"apim-lastmile:{name}:secret"
    fetch = policy.when(
        policy.expr(f'!context.Variables.ContainsKey("{_SECRET_VAR}")'),
        [
            policy.send_request(
                response_variable_name=_RESPONSE_VAR,
                url=policy.template(policy.named_value(nv["vault-url"]), "/secrets/", policy.named_value(nv["secret-name"]),
                                    f"?api-version={KEY_VAULT_API_VERSION}"),
                method="GET",
                auth=policy.managed_identity_auth(resource=KEY_VAULT_AUDIENCE, client_id=client_id),
                timeout=20,
                ignore_error=False,
            ),
            policy.choose(
                whens=[
                    policy.when(
                        policy.expr(f"{response}.StatusCode != 200"),
                        [policy.return_response(
                            status_code=502, reason="Bad Gateway",
                            headers=[policy.set_header(name="Content-Type", values=["application/json"])],
                            body='{"error": "the gateway could not read the backend credential from Key Vault"}',
                        )],
                    )
                ]
            ),
            policy.set_variable(name=_SECRET_VAR, value=policy.expr(f'{response}.Body.As<JObject>()["value"].ToString()')),
            policy.cache_store_value(key=cache_key, value=policy.expr(f'(string)context.Variables["{_SECRET_VAR}"]'), duration=cache_seconds),
        ],
    )
    return policy.render(
        inbound=[
            policy.cache_lookup_value(key=cache_key, variable_name=_SECRET_VAR),
            policy.choose(whens=[fetch]),
            policy.authentication_basic(username=username, password=policy.expr(f'(string)context.Variables["{_SECRET_VAR}"]')),
            route,
        ],
        backend=[idempotent_retry()], backend_base=False,
    )


class KeyVaultSecretBackend(pulumi.ComponentResource):
    """A basic-auth backend whose password lives in Key Vault and is read only by the gateway's identity."""

    api_url: pulumi.Output[str]
    """The API's public URL on the gateway."""
    policy_xml: pulumi.Output[str]
    """The exact policy XML sent to APIM (it holds no password)."""
    vault_uri: pulumi.Output[str]
    """The vault's https:// URI."""
    secret_id: pulumi.Output[str]
    """The secret's versionless URI."""
    secret_expires: pulumi.Output[str]
    """When the secret's current version expires (UTC, ISO 8601): renewed by a `pulumi up` once 60 days have passed
    (`lastmile plan --outputs` warns 30 days ahead)."""
    named_value_id: Optional[pulumi.Output[str]]
    """The APIM named value that holds the password (named-value delivery only)."""

    def __init__(self, name: str, args: KeyVaultSecretBackendArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        v = _validate(name, args)
        super().__init__("apim-lastmile:index:KeyVaultSecretBackend", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=True if v["protect"] else None)
        gateway: GatewayRef = v["gateway"]
        rg = args["resource_group_name"]
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        apim = {"service_name": gateway["service_name"], "resource_group_name": gateway["resource_group_name"]}
        identity_client_id = gateway.get("identity_client_id")

        # 1. The vault: adopted, or new with RBAC, purge protection and soft delete.
        if v["vault_name"]:
            vault_rg = v["vault_rg"] or rg
            existing = keyvault_api.get_vault_output(v["vault_name"], vault_rg, opts=pulumi.InvokeOutputOptions(parent=self))
            vault_name, vault_uri = pulumi.Output.from_input(v["vault_name"]), existing.apply(lambda r: r["properties"]["vaultUri"])
            # Deleting a secret is a Key Vault data-plane call made with the deployer's own credentials
            # (pulumi/pulumi-azure-native#2374): on an RBAC vault that needs a data-plane role, or `pulumi destroy` and
            # any replacement of the secret fail with 403 ForbiddenByRbac. The deployer gets Key Vault Secrets Officer
            # on this one vault, and the secret depends on that grant, so it is deleted while the grant still exists.
            secret_opts = pulumi.ResourceOptions(parent=self, protect=True if v["protect"] else None, depends_on=[assign(
                f"{name}-deployer-secrets-officer",
                principal_id=client.object_id,
                principal_type=deployer_principal_type(client.object_id, self),
                role_guid=BUILT_IN_ROLES["Key Vault Secrets Officer"],
                scope=existing.apply(lambda r: r["id"]),
                description=f"{name}: the deployer may delete the secret it manages (Key Vault deletes are data-plane calls)",
                parent=self,
            )])
        else:
            vault_rg = rg
            # At API 2026-02-01 (every earlier control-plane version retires on 2027-02-27: keyvault_api.py).
            vault = keyvault_api.Vault(
                f"{name}-vault",
                vault_name=pulumi.Output.concat(vault_name_prefix(name), naming.unique_suffix(
                    name, self, keepers={"resourceGroup": rg, "location": args.get("location")})),
                resource_group_name=rg,
                location=args.get("location"),
                properties={
                    "tenantId": client.tenant_id,
                    "sku": {"family": "A", "name": "standard"},
                    # Written out although 2026-02-01 makes RBAC the default for new vaults: an update must not
                    # depend on a default.
                    "enableRbacAuthorization": True,
                    "enablePurgeProtection": True,
                    "enableSoftDelete": True,
                    "softDeleteRetentionInDays": v["retention"],
                    **(PRIVATE_VAULT if v["private_vault"] else {}),
                },
                opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="azure-native:keyvault:Vault")])),
            )
            vault_name, vault_uri = vault.name, vault.properties.apply(lambda p: p["vaultUri"])
            sink = gateway.get("telemetry")
            if sink is not None:  # the vault's audit log (every secret read) and metrics to the gateway's workspace
                telemetry.resource_logs(f"{name}-resource-logs", self, vault.id, sink["workspace_id"])
            # Retained: deleting a secret is a data-plane call with the deployer's credentials, which fails on this RBAC
            # vault without a data-plane role (pulumi/pulumi-azure-native#2374); the vault's own deletion takes the
            # secret along, and a new vault name (the suffix) means no soft-deleted secret is ever in the way.
            secret_opts = pulumi.ResourceOptions(parent=self, protect=True if v["protect"] else None, retain_on_delete=True)

        # 2. The secret: given or generated, a Pulumi secret either way.
        # Output.secret on both paths: secret-ness must not depend on the provider declaring it.
        if v["secret_value"] is not None:
            value = pulumi.Output.secret(v["secret_value"])
        else:
            value = pulumi.Output.secret(random.RandomPassword(
                f"{name}-password", length=32, special=True, override_special="!#%*-_=+.:", min_lower=2, min_upper=2,
                min_numeric=2, min_special=2, keepers={"rotation": v["rotation"]}, opts=stateful,
            ).result)
        # An expiry at most SECRET_EXPIRY_DAYS after the version is written, renewed by any `up` once the clock has run
        # SECRET_RENEW_DAYS (and by a rotation): landing zones deny a secret without one, or with a longer one (ALZ Key
        # Vault guardrails; docs/research/landing-zone.md). Key Vault still serves an expired secret ("exp" is
        # informational: learn.microsoft.com/azure/key-vault/secrets/about-secrets), so a late `up` breaks nothing.
        clock = time.Rotating(f"{name}-secret-clock", rotation_days=SECRET_RENEW_DAYS, triggers={"rotation": v["rotation"]},
                              opts=child)
        expires = clock.unix.apply(lambda written: written + SECRET_EXPIRY_DAYS * 86400)
        secret = keyvault_api.Secret(
            f"{name}-secret",
            vault_name=vault_name,
            resource_group_name=vault_rg,
            secret_name=v["secret_name"],
            # A content type: landing zones deny a secret without one (ALZ Key Vault guardrails; docs/research/landing-zone.md).
            properties={"value": value, "contentType": SECRET_CONTENT_TYPE, "attributes": {"exp": expires}},
            opts=pulumi.ResourceOptions.merge(secret_opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="azure-native:keyvault:Secret")])),
        )

        # 3. Least privilege: read this one secret, nothing else. A vault without public access is read by the
        # service's system-assigned identity (the only one Key Vault admits as a trusted service).
        if v["private_vault"]:
            # A ref read from another stack's export carries Outputs: which identity it names is known at deploy time.
            reader = pulumi.Output.all(identity_client_id, gateway.get("system_principal_id"), gateway["principal_id"]).apply(
                lambda ids: _trusted_reader(*ids))
        else:
            reader = gateway["principal_id"]
        grant = assign(
            f"{name}-secret-reader",
            principal_id=reader,
            role_guid=BUILT_IN_ROLES["Key Vault Secrets User"],
            scope=secret.id,
            description=f"{name}: APIM reads the one secret its basic-auth backend needs",
            parent=self,
        )

        # 4. Named values: the per-environment bits, so the policy text is the same everywhere.
        nv = named_value_names(name)
        # A URI is no secret. The named value points at the current version: the `up` that rotates the password
        # writes a new version and, in the same deployment, the named value that names it, so APIM switches at once
        # (a versionless reference would be refreshed only within four hours, while the backend wants the new one).
        secret_uri = pulumi.Output.unsecret(secret.properties.apply(lambda p: p["secretUri"]))
        version_uri = pulumi.Output.unsecret(secret.properties.apply(lambda p: p["secretUriWithVersion"]))
        named = [apimanagement.NamedValue(f"{name}-nv-username", named_value_id=nv["username"], display_name=nv["username"],
                                          value=v["username"], secret=False, opts=child, **apim)]
        self.named_value_id = None
        if v["delivery"] == "named-value":
            key_vault = {"secret_identifier": version_uri}
            # A vault without public access is read by the system-assigned identity: no client id then.
            if identity_client_id is not None and not v["private_vault"]:
                key_vault["identity_client_id"] = identity_client_id
            # APIM reads the secret on create: wait for the role to take effect (again whenever the grant is re-made).
            propagated = time.Sleep(
                f"{name}-rbac-propagation", create_duration=RBAC_PROPAGATION_WAIT, triggers={"grant": grant.id},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[grant]),
            )
            password = apimanagement.NamedValue(
                f"{name}-nv-password", named_value_id=nv["password"], display_name=nv["password"], secret=True,
                key_vault=key_vault, opts=pulumi.ResourceOptions(parent=self, depends_on=[grant, propagated]), **apim,
            )
            named.append(password)
            self.named_value_id = password.id
        else:
            named += [
                apimanagement.NamedValue(f"{name}-nv-vault-url", named_value_id=nv["vault-url"], display_name=nv["vault-url"],
                                         value=pulumi.Output.from_input(vault_uri).apply(lambda u: u.rstrip("/")), secret=False, opts=child, **apim),
                apimanagement.NamedValue(f"{name}-nv-secret-name", named_value_id=nv["secret-name"], display_name=nv["secret-name"],
                                         value=v["secret_name"], secret=False, opts=child, **apim),
            ]

        # 5. The backend entity (with its circuit breaker), the policy and the API.
        backend = backend_entity(name, self, gateway, args["backend_url"],
                                 f"Basic-auth backend {name}; APIM reads its password from Key Vault")
        self.policy_xml = pulumi.Output.from_input(identity_client_id).apply(
            lambda cid: basic_auth_policy(name, v["delivery"], v["cache_seconds"], cid)
        )
        self.api_url = publish_api(
            name, self, gateway, v["api_path"], v["operations"], self.policy_xml,
            display_name=f"{name} (basic auth via Key Vault)", subscription_required=v["subscription_required"],
            depends_on=[*named, grant, backend],
        )
        self.vault_uri = pulumi.Output.from_input(vault_uri)
        self.secret_id = secret_uri
        self.secret_expires = expires.apply(
            lambda unix: datetime.fromtimestamp(int(unix), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        outputs = {"api_url": self.api_url, "policy_xml": self.policy_xml, "vault_uri": self.vault_uri, "secret_id": self.secret_id,
                   "secret_expires": self.secret_expires}
        if self.named_value_id is not None:
            outputs["named_value_id"] = self.named_value_id
        self.register_outputs(outputs)
