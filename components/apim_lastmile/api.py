"""The APIM side every backend shares: an HTTPS-only API, its operations and its policy."""


import re
from enum import Enum
from typing import Optional, Sequence, TypedDict

import pulumi
from pulumi_azure_native import apimanagement

from . import arguments, claims, naming, telemetry
from .azure_rules import MAX_OPERATIONS, OPERATIONS_PER_SERVICE, SERVICE_LIMITS_SOURCE, check_location, check_policy_size
from .errors import LastMileError
from .gateway import GatewayRef, check_gateway_ref, gateway_url

_URL_TEMPLATE = re.compile(r"^/[A-Za-z0-9._~{}*/-]*$")
#: A template parameter: ``{name}``, or ``{*name}`` for the rest of the path (declared as ``name``).
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_-]{0,63})\}")


def template_parameters(template: str, key: str = "url_template") -> list[str]:
    """The parameter names of an operation's URL template, in order. APIM refuses an operation whose template
    parameters are not all declared ("All template parameters used in the UriTemplate must be defined in the
    Operation", Azure/azure-sdk-for-net#35802): :func:`publish_api` declares each one."""
    names: list[str] = []
    for match in _PARAM.finditer(template):
        if match.group(1) and match.end() != len(template):
            raise LastMileError(key, template, "a {*name} parameter takes the rest of the path: put it last")
        names.append(match.group(2))
    if "{" in _PARAM.sub("", template) or "}" in _PARAM.sub("", template):
        raise LastMileError(key, template, "template parameters are {name} or {*name} (letters, digits, '_' or '-'), braces balanced")
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(lowered):
        raise LastMileError(key, template, "each template parameter name may appear once (APIM compares them case-insensitively)")
    return names


class HttpMethod(str, Enum):
    """An HTTP method an API operation answers."""

    GET = "GET"
    """GET"""
    POST = "POST"
    """POST"""
    PUT = "PUT"
    """PUT"""
    PATCH = "PATCH"
    """PATCH"""
    DELETE = "DELETE"
    """DELETE"""
    HEAD = "HEAD"
    """HEAD"""
    OPTIONS = "OPTIONS"
    """OPTIONS"""


HTTP_METHODS = tuple(m.value for m in HttpMethod)


class Operation(TypedDict):
    """One API operation: an HTTP method on a URL template such as /orders/{id} or /*."""

    method: HttpMethod
    """The HTTP method."""
    url_template: str
    """The path, starting with '/': /items/{id} (each {param} is declared to APIM), or /* for every path."""


def default_operations() -> list[Operation]:
    """Every method on ``/*``: the API forwards whatever path the caller asks for."""
    return [{"method": m, "url_template": "/*"} for m in HTTP_METHODS]


def check_operations(operations: Optional[Sequence[Operation]], key: str = "operations") -> list[Operation]:
    if operations is None:
        return default_operations()
    if isinstance(operations, (str, bytes)) or not isinstance(operations, Sequence) or not operations:
        raise LastMileError(key, operations, "expected a non-empty list of {'method': ..., 'url_template': ...}")
    if len(operations) > MAX_OPERATIONS:
        raise LastMileError(key, f"{len(operations)} operations", f"APIM allows at most {MAX_OPERATIONS} operations per API")
    ids: dict[str, int] = {}
    for index, op in enumerate(operations):
        where = f"{key}[{index}]"
        if not isinstance(op, dict):
            raise LastMileError(where, op, "expected {'method': 'GET', 'url_template': '/items/{id}'}")
        unknown = sorted(set(op) - {"method", "url_template"})
        if unknown:
            raise LastMileError(f"{where}.{unknown[0]}", op[unknown[0]], "unknown key; an operation has method and url_template")
        method = arguments.plain(op.get("method"))
        if method not in HTTP_METHODS:
            raise LastMileError(f"{where}.method", method, f"expected one of {', '.join(HTTP_METHODS)}")
        template = op.get("url_template")
        if not isinstance(template, str) or not _URL_TEMPLATE.match(template) or len(template) > 1000 or "//" in template:
            raise LastMileError(f"{where}.url_template", template, "expected a path starting with '/', e.g. /items/{id} or /*")
        template_parameters(template, f"{where}.url_template")
        op_id = _operation_id(method, template)
        if op_id in ids:
            other = ids[op_id]
            raise LastMileError(where, op, f"the same operation as {key}[{other}] to APIM (its id {op_id!r} is case-insensitive "
                                           "and ignores punctuation): merge them or change the path")
        ids[op_id] = index
    return [{"method": arguments.plain(op["method"]), "url_template": op["url_template"]} for op in operations]


def check_backend_basics(kind: str, name: str, args: object, allowed: object, needs_resource_group: bool = True) -> GatewayRef:
    """The checks every backend starts with: its name, its args (no unknown key, switches really booleans), its
    gateway, its location, and (if it creates resources in one) its resource group."""
    naming.COMPONENT_NAME.check(f"{kind} name", name)
    if not isinstance(args, dict):
        raise LastMileError("args", args, f"expected {kind}Args (a dict)")
    arguments.check_known_keys(args, allowed)
    for switch in ("subscription_required", "protect"):
        arguments.check_bool(args, switch)
    if args.get("location") is not None and not isinstance(args["location"], pulumi.Output):
        check_location("location", args["location"])
    gateway = check_gateway_ref(args.get("gateway"))
    if not needs_resource_group:
        return gateway
    group = args.get("resource_group_name")
    if group in (None, ""):
        raise LastMileError("resource_group_name", group, "resource_group_name is required")
    if isinstance(group, str):
        naming.RESOURCE_GROUP.check("resource_group_name", group)
    return gateway


def check_api_path(path: object, gateway: GatewayRef, owner: str, key: str = "api_path",
                   operations: Sequence[Operation] = ()) -> str:
    """Validate ``path`` and claim it, and the API id ``owner``, on ``gateway`` (a second claim is an error; APIM ids
    and paths are case-insensitive); the API's ``operations`` count towards the tier's operations per service."""
    if isinstance(path, str) and path.startswith("/"):
        raise LastMileError(key, path, "an API path has no leading '/': write 'orders', not '/orders'")
    naming.API_PATH.check(key, path)
    gateway_key = claims.gateway_key(gateway["service_name"])
    claims.CLAIMS.claim(gateway_key, path, owner, key)
    claims.CLAIMS.claim(("api id", gateway_key), owner, owner, "name", what="API id")
    count_on_gateway(gateway, "API operations", owner, len(operations), OPERATIONS_PER_SERVICE, "operations")
    return path  # type: ignore[return-value]


def count_on_gateway(gateway: GatewayRef, what: str, owner: str, count: int, limits: dict[str, int], key: str) -> None:
    """Count ``owner``'s ``count`` entities of one kind on ``gateway`` within this program run, and refuse a total
    above the tier's service limit (``azure_rules``; known when the ref says its tier)."""
    total = claims.CLAIMS.tally((what, claims.gateway_key(gateway["service_name"])), owner, count)
    sku = arguments.plain(gateway.get("sku"))
    limit = limits.get(sku) if isinstance(sku, str) else None
    if limit is not None and total > limit:
        raise LastMileError(key, f"{total} {what} on the gateway",
                            f"the {sku} tier allows at most {limit} {what} per service ({SERVICE_LIMITS_SOURCE})")


def _operation_id(method: str, template: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", template.lower()).strip("-") or "root"
    if template.endswith("*"):
        slug = "all" if slug == "root" else f"{slug}-all"
    return f"{method.lower()}-{slug}"[:80]


def publish_api(
    name: str,
    parent: pulumi.Resource,
    gateway: GatewayRef,
    api_path: str,
    operations: Sequence[Operation],
    policy_xml: pulumi.Input[str],
    *,
    display_name: str,
    subscription_required: bool = True,
    depends_on: Sequence[pulumi.Resource] = (),
) -> pulumi.Output[str]:
    """Create the API, its operations, its policy and (when the gateway has telemetry) its Application Insights
    diagnostic; return the API's public URL."""
    child = pulumi.ResourceOptions(parent=parent)
    common = {"service_name": gateway["service_name"], "resource_group_name": gateway["resource_group_name"]}
    api = apimanagement.Api(
        f"{name}-api",
        api_id=name,
        path=api_path,
        display_name=display_name,
        protocols=[apimanagement.Protocol.HTTPS],
        subscription_required=subscription_required,
        opts=child,
        **common,
    )
    for op in operations:
        op_id = _operation_id(op["method"], op["url_template"])
        apimanagement.ApiOperation(
            f"{name}-op-{op_id}",
            api_id=api.name,
            operation_id=op_id,
            display_name=f"{op['method']} {op['url_template']}",
            method=op["method"],
            url_template=op["url_template"],
            template_parameters=[{"name": p, "type": "string", "required": True} for p in template_parameters(op["url_template"])],
            opts=child,
            **common,
        )
    apimanagement.ApiPolicy(
        f"{name}-policy",
        api_id=api.name,
        policy_id="policy",
        format=apimanagement.PolicyContentFormat.RAWXML,
        value=pulumi.Output.from_input(policy_xml).apply(lambda xml: check_policy_size("policy_xml", xml, arguments.plain(gateway.get("sku")))),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
        **common,
    )
    telemetry.api_diagnostic(name, parent, gateway, api)
    return pulumi.Output.concat(gateway_url(gateway), "/", api_path)
