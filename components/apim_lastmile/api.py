"""The APIM side every backend shares: an HTTPS-only API, its operations and its policy."""

from __future__ import annotations

import re
from typing import Optional, Sequence, TypedDict

import pulumi
from pulumi_azure_native import apimanagement

from . import naming
from .errors import LastMileError
from .gateway import GatewayRef, check_gateway_ref, gateway_url

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_URL_TEMPLATE = re.compile(r"^/[A-Za-z0-9._~{}*/-]*$")


class Operation(TypedDict):
    """One API operation: an HTTP ``method`` on a ``url_template`` such as ``/orders/{id}`` or ``/*``."""

    method: str
    url_template: str


def default_operations() -> list[Operation]:
    """Every method on ``/*``: the API forwards whatever path the caller asks for."""
    return [{"method": m, "url_template": "/*"} for m in HTTP_METHODS]


def check_operations(operations: Optional[Sequence[Operation]], key: str = "operations") -> list[Operation]:
    if operations is None:
        return default_operations()
    if isinstance(operations, (str, bytes)) or not isinstance(operations, Sequence) or not operations:
        raise LastMileError(key, operations, "expected a non-empty list of {'method': ..., 'url_template': ...}")
    seen: set[tuple[str, str]] = set()
    for index, op in enumerate(operations):
        where = f"{key}[{index}]"
        if not isinstance(op, dict):
            raise LastMileError(where, op, "expected {'method': 'GET', 'url_template': '/items/{id}'}")
        method = op.get("method")
        if method not in HTTP_METHODS:
            raise LastMileError(f"{where}.method", method, f"expected one of {', '.join(HTTP_METHODS)}")
        template = op.get("url_template")
        if not isinstance(template, str) or not _URL_TEMPLATE.match(template) or len(template) > 1000:
            raise LastMileError(f"{where}.url_template", template, "expected a path starting with '/', e.g. /items/{id} or /*")
        if (method, template) in seen:
            raise LastMileError(where, op, "this method and url_template are listed twice")
        seen.add((method, template))
    return list(operations)


def check_backend_basics(kind: str, name: str, args: object, needs_resource_group: bool = True) -> GatewayRef:
    """The checks every backend starts with: its name, its args, its gateway and (if it creates resources in
    one) its resource group."""
    naming.COMPONENT_NAME.check(f"{kind} name", name)
    if not isinstance(args, dict):
        raise LastMileError("args", args, f"expected {kind}Args (a dict)")
    gateway = check_gateway_ref(args.get("gateway"))
    if not needs_resource_group:
        return gateway
    group = args.get("resource_group_name")
    if group in (None, ""):
        raise LastMileError("resource_group_name", group, "resource_group_name is required")
    if isinstance(group, str):
        naming.RESOURCE_GROUP.check("resource_group_name", group)
    return gateway


def check_api_path(path: object, gateway: GatewayRef, owner: str, key: str = "api_path") -> str:
    """Validate ``path`` and claim it on ``gateway`` for ``owner`` (a second claim is an error)."""
    if isinstance(path, str) and path.startswith("/"):
        raise LastMileError(key, path, "an API path has no leading '/': write 'orders', not '/orders'")
    naming.API_PATH.check(key, path)
    naming.API_PATHS.claim(naming.gateway_key(gateway["service_name"]), path, owner, key)
    return path  # type: ignore[return-value]


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
    """Create the API, its operations and its policy; return the API's public URL."""
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
            opts=child,
            **common,
        )
    apimanagement.ApiPolicy(
        f"{name}-policy",
        api_id=api.name,
        policy_id="policy",
        format=apimanagement.PolicyContentFormat.RAWXML,
        value=policy_xml,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
        **common,
    )
    return pulumi.Output.concat(gateway_url(gateway), "/", api_path)
