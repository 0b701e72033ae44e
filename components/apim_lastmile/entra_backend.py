"""EntraBackend: any Microsoft Entra-protected Azure service, reached with the gateway's managed identity.

The story: the service's token audience (from the catalogue in audiences.py, or given) -> the narrowest
role on the narrowest scope for the gateway's identity -> the policy (``authentication-managed-identity``,
the headers the service needs, ``set-backend-service``) -> the API. No key, SAS token or secret anywhere.
"""

import re
from typing import Mapping, Optional, Sequence, TypedDict

import pulumi

from . import audiences, claims, naming, policy, urls
from .api import Operation, check_api_path, check_backend_basics, check_operations, publish_api
from .errors import LastMileError
from .gateway import GatewayRef
from .resilience import backend_entity, backend_pool, check_pool, claim_member_ids, idempotent_retry
from .roles import BUILT_IN_ROLES, READ_ONLY_ROLES, assign, role_id, role_name

try:
    from typing import Required
except ImportError:  # pragma: no cover
    from typing_extensions import Required

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
#: Headers the policy owns or that would carry a credential past the gateway's identity.
_RESERVED_HEADERS = {
    "authorization": "the token from authentication-managed-identity goes there",
    "proxy-authorization": "a credential header: the gateway's identity is the only credential",
    "x-functions-key": "function keys are what this library replaces",
    "ocp-apim-subscription-key": "the caller's APIM key must not travel to the backend",
    "cookie": "a session credential: the gateway's identity is the only credential",
}
#: Header names that say they carry a key, secret, token or password.
_CREDENTIAL_HEADER = re.compile(r"(^|[-_])(api[-_]?key|key|secret|token|password|passwd|pwd|sig|signature|credential|sas)($|[-_])", re.IGNORECASE)


class RoleAssignmentSpec(TypedDict):
    """A role for the gateway's identity on one scope."""

    role: str
    """A built-in role name (e.g. Storage Blob Data Reader) or its GUID; with a catalogue audience, one of that
    service's roles."""
    scope: pulumi.Input[str]
    """The narrowest resource id that works (e.g. a container's id); data-plane write roles never at subscription or
    management-group scope."""


class PoolMember(TypedDict, total=False):
    """One further endpoint of an EntraBackend's load-balanced pool."""

    url: Required[pulumi.Input[str]]
    """The endpoint's https:// URL (one of the audience's hosts, like backend_url)."""
    priority: int
    """1-100; APIM tries priority 1 first and goes lower only when every higher member is unavailable. Default 1."""
    weight: int
    """1-100: the share of traffic among members of the same priority. Default 1."""


class EntraBackendArgs(TypedDict, total=False):
    """Arguments of EntraBackend: an API in front of an Entra-protected Azure service, reached with the gateway's
    managed identity."""

    gateway: Required[GatewayRef]
    """The gateway whose identity calls the service (Gateway.ref, or its outputs)."""
    api_path: Required[str]
    """The API's path on the gateway (no leading '/')."""
    backend_url: Required[pulumi.Input[str]]
    """The service's https:// base URL, e.g. https://<account>.dfs.core.windows.net/<filesystem>; for a catalogue
    audience, one of that service's hosts; no SAS token or key in it."""
    audience: Required[str]
    """A catalogue name (storage, arm, keyvault, servicebus, eventhubs, cognitiveservices, openai, machinelearning,
    logicapps, sql), an https:// or api:// token audience, or an app registration's client id."""
    role_assignments: Sequence[RoleAssignmentSpec]
    """Roles created for the gateway's identity (ServicePrincipal); default none (granted elsewhere)."""
    headers: dict[str, str]
    """Extra literal headers for the backend (the catalogue's, e.g. x-ms-version, are sent by default and can be
    overridden here); no credential headers."""
    operations: Sequence[Operation]
    """The API's operations; default every method on /*."""
    subscription_required: bool
    """Callers need an APIM subscription key; default true."""
    pool: Sequence[PoolMember]
    """Further endpoints of the same service (e.g. Azure OpenAI deployments in other regions): the API load-balances
    over ``backend_url`` and these, each a backend entity with its circuit breaker, reached with the same token
    audience; grant each its role in ``role_assignments``. Default none."""


def check_backend_url(value: object, key: str = "backend_url", entry: Optional[audiences.Audience] = None) -> str:
    """An https:// URL a token may travel to (urls.check_https_url); for a catalogue service, one of its hosts."""
    hosts = entry.hosts if entry is not None and entry.hosts else None
    return urls.check_https_url(key, value, hosts=hosts, service=entry.name if entry else "")


def check_headers(headers: object, defaults: Mapping[str, str]) -> dict[str, str]:
    """The headers to send: ``defaults`` (the catalogue's) overridden by ``headers``, all literal and none reserved."""
    if headers is None:
        headers = {}
    if not isinstance(headers, Mapping):
        raise LastMileError("headers", headers, "expected a mapping of header name to a literal value")
    merged = {k.lower(): (k, v) for k, v in defaults.items()}
    for header, value in headers.items():
        where = f"headers.{header}"
        if not isinstance(header, str) or not _HEADER_NAME.match(header):
            raise LastMileError("headers", header, "expected an HTTP header name (letters, digits, -, _ and the like)")
        if header.lower() in _RESERVED_HEADERS:
            raise LastMileError(where, "<value hidden>", f"this header cannot be set here: {_RESERVED_HEADERS[header.lower()]}")
        if _CREDENTIAL_HEADER.search(header):
            raise LastMileError(where, "<value hidden>", "a header named for a key, secret or token would carry a literal credential: "
                                "the gateway's managed identity is the only credential an Entra backend gets")
        if not isinstance(value, str) or not value or len(value) > 4096:
            raise LastMileError(where, value, "expected a non-empty literal string (no Outputs, no secrets)")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value) or value.startswith("@") or "{{" in value or "}}" in value:
            raise LastMileError(where, value, "expected a literal header value on one line (no control characters, no leading '@', no '{{')")
        merged[header.lower()] = (header, value)
    return dict(merged.values())


def check_role_assignments(specs: object, entry: Optional[audiences.Audience], key: str = "role_assignments") -> list[tuple[str, pulumi.Input[str]]]:
    """``[(role GUID, scope), ...]``: each role built in and (for a catalogue service) one of its roles, each scope a
    resource id (Outputs are checked when known), no duplicates."""
    if specs is None:
        return []
    if isinstance(specs, (str, bytes, Mapping)) or not isinstance(specs, Sequence):
        raise LastMileError(key, specs, "expected a list of {'role': ..., 'scope': <resource id>}")
    if specs and entry is not None and not entry.roles:
        raise LastMileError(key, [s.get("role") for s in specs if isinstance(s, dict)], f"{entry.name}: {entry.note}")
    out: list[tuple[str, pulumi.Input[str]]] = []
    seen: set[tuple[str, str]] = set()
    for index, spec in enumerate(specs):
        where = f"{key}[{index}]"
        if not isinstance(spec, Mapping) or set(spec) != {"role", "scope"}:
            raise LastMileError(where, spec, "expected exactly {'role': <name or id>, 'scope': <resource id>}")
        guid = role_id(spec["role"], f"{where}.role")
        if entry is not None and guid not in entry.role_ids():
            raise LastMileError(
                f"{where}.role", spec["role"],
                f"{role_name(guid)} does not open {entry.name}; its roles are {', '.join(entry.roles)}",
            )
        scope = spec["scope"]
        if isinstance(scope, str):
            naming.check_resource_id(f"{where}.scope", scope)
            check_scope_depth(f"{where}.scope", scope, guid, entry)
            if (guid, scope.lower()) in seen:
                raise LastMileError(where, spec, "the same role on the same scope is listed twice")
            seen.add((guid, scope.lower()))
        elif not isinstance(scope, pulumi.Output):
            raise LastMileError(f"{where}.scope", scope, "expected a resource id (a string, or an Output such as container.id)")
        out.append((guid, scope))
    return out


def check_scope_depth(key: str, scope: str, guid: str, entry: Optional[audiences.Audience]) -> str:
    """A data-plane write role reaches every resource under its scope: never at subscription or management-group
    scope (a whole subscription's storage, vaults and queues writable by the gateway). Name the resource instead."""
    depth = naming.scope_level(scope)
    writes = guid not in {BUILT_IN_ROLES[r] for r in (entry.read_roles if entry else ())} and role_name(guid) not in READ_ONLY_ROLES
    if writes and depth in ("management group", "subscription"):
        raise LastMileError(key, scope, f"{role_name(guid)} writes data: grant it on the resource (or resource group) it is for, "
                                        f"not a whole {depth}")
    return scope


def _validate(name: str, args: EntraBackendArgs) -> dict:
    gateway = check_backend_basics("EntraBackend", name, args, EntraBackendArgs, needs_resource_group=False)
    if args.get("audience") is None:
        raise LastMileError("audience", None, f"audience is required: one of {', '.join(sorted(audiences.CATALOGUE))}, a URI or an app id")
    resource, entry = audiences.resolve(args["audience"])
    backend_url = args.get("backend_url")
    if not isinstance(backend_url, pulumi.Output):
        check_backend_url(backend_url, entry=entry)
    grants = check_role_assignments(args.get("role_assignments"), entry)
    for index, (guid, scope) in enumerate(grants):
        if isinstance(scope, str):
            # The same role on the same scope for the same identity is one Azure role assignment: two components
            # managing it would delete it for each other (and name it the same, roles.assignment_name).
            claims.CLAIMS.claim(("role assignment", claims.gateway_key(gateway["principal_id"])), f"{role_name(guid)} on {scope}",
                                   name, f"role_assignments[{index}]", what="role assignment")
    headers = check_headers(args.get("headers"), entry.headers if entry else {})
    operations = check_operations(args.get("operations"))
    api_path = check_api_path(args.get("api_path"), gateway, name, operations=operations)
    pool = check_pool(args.get("pool"), gateway)
    for index, member in enumerate(pool):
        if not isinstance(member["url"], pulumi.Output):
            check_backend_url(member["url"], key=f"pool[{index}].url", entry=entry)
    if pool:  # member 1 is backend_url, the pool's follow
        claim_member_ids(name, gateway, len(pool) + 1)
    return {
        "pool": pool, "gateway": gateway, "resource": resource, "entry": entry, "grants": grants, "headers": headers,
        "operations": operations, "api_path": api_path, "subscription_required": args.get("subscription_required", True),
    }


def entra_policy(name: str, resource: str, headers: Mapping[str, str], client_id: Optional[str]) -> str:
    """The backend's policy: a token for ``resource`` as the gateway's identity, the headers, the route to the backend
    entity ``name`` (whose URL is checked: :func:`check_backend_url`)."""
    return policy.render(
        inbound=[
            policy.managed_identity_auth(resource=resource, client_id=client_id),
            *(policy.set_header(name=h, values=[v], exists_action="override") for h, v in headers.items()),
            policy.set_backend_service(backend_id=name),
        ],
        backend=[idempotent_retry()], backend_base=False,
    )


def _grant_names(name: str, grants: Sequence[tuple[str, object]]) -> list[str]:
    """Logical names that stay put when the list is reordered: role name, then a counter for repeats."""
    names, counts = [], {}
    for guid, _ in grants:
        slug = re.sub(r"[^a-z0-9]+", "-", role_name(guid).lower()).strip("-")
        counts[slug] = counts.get(slug, 0) + 1
        names.append(f"{name}-grant-{slug}" + (f"-{counts[slug]}" if counts[slug] > 1 else ""))
    return names


class EntraBackend(pulumi.ComponentResource):
    """An API in front of an Entra-protected Azure service, reached with the gateway's managed identity."""

    api_url: pulumi.Output[str]
    """The API's public URL on the gateway."""
    policy_xml: pulumi.Output[str]
    """The exact policy XML sent to APIM."""
    audience: pulumi.Output[str]
    """The token audience the gateway asks for."""
    role_assignment_ids: pulumi.Output[list[str]]
    """The ids of the role assignments made for the gateway's identity."""

    def __init__(self, name: str, args: EntraBackendArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        v = _validate(name, args)
        super().__init__("apim-lastmile:index:EntraBackend", name, None, opts)
        gateway: GatewayRef = v["gateway"]

        # 1. The narrowest role on the narrowest scope, for the gateway's identity only.
        grants = []
        for logical, (guid, scope) in zip(_grant_names(name, v["grants"]), v["grants"]):
            scope = pulumi.Output.from_input(scope).apply(lambda s, key=logical: naming.check_resource_id(f"{key}.scope", s))
            grants.append(assign(
                logical,
                principal_id=gateway["principal_id"],
                role_guid=guid,
                scope=scope,
                description=f"{name}: APIM calls {v['entry'].name if v['entry'] else v['resource']} as {role_name(guid)}",
                parent=self,
            ))

        # 2. The backend entity (its URL checked again here: an Output URL is known only at deploy time, preview
        #    included) with its circuit breaker, and the policy: token for the audience (client-id only for a
        #    user-assigned identity), headers, route.
        self.audience = pulumi.Output.from_input(v["resource"])
        service = v["entry"].name if v["entry"] else v["resource"]
        checked = lambda url, key: pulumi.Output.from_input(url).apply(lambda u: check_backend_url(u, key=key, entry=v["entry"]))  # noqa: E731
        if not v["pool"]:
            backend = backend_entity(name, self, gateway, checked(args["backend_url"], "backend_url"),
                                     f"{service} for {name}, reached with APIM's managed identity")
        else:
            # A load-balanced pool: backend_url is member 1, the pool's members follow; the API routes to the pool.
            urls = [(args["backend_url"], 1, 1, "backend_url")] + [
                (m["url"], m["priority"], m["weight"], f"pool[{i}].url") for i, m in enumerate(v["pool"])]
            members = [(backend_entity(f"{name}-{i + 1}", self, gateway, checked(url, key), f"{service} for {name}, member {i + 1}",
                                       logical=f"{name}-member-{i + 1}"), priority, weight)
                       for i, (url, priority, weight, key) in enumerate(urls)]
            backend = backend_pool(name, self, gateway, members, f"{service} for {name}: a load-balanced pool")
        self.policy_xml = pulumi.Output.from_input(gateway.get("identity_client_id")).apply(
            lambda client_id: entra_policy(name, v["resource"], v["headers"], client_id)
        )
        # 3. The API; its policy waits for the roles so the first call is not a 403.
        self.api_url = publish_api(
            name, self, gateway, v["api_path"], v["operations"], self.policy_xml,
            display_name=f"{name} (Microsoft Entra ID)", subscription_required=v["subscription_required"], depends_on=[*grants, backend],
        )
        self.role_assignment_ids = pulumi.Output.all(*(g.id for g in grants))
        self.register_outputs({"api_url": self.api_url, "policy_xml": self.policy_xml, "role_assignment_ids": self.role_assignment_ids})
