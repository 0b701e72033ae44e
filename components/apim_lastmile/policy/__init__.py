"""Typed APIM policy fragments and a validating renderer (no Pulumi resources here).

Every fragment refuses, when it is built and with a :class:`PolicyError` ("key: got value; expected ..."),
input that would change meaning in APIM or smuggle a credential: literal template parts that start with
``@`` or hold braces or control characters, adjacent named values, line breaks and control characters
where APIM needs one line (header names and values, URLs, user names, variable names, cache keys, reason
phrases), URLs that are not https or point at user info, IP literals, localhost or carry a credential
query parameter, literal values for credential headers (and any value for ``x-functions-key``), credential
headers set towards the caller, and out-of-range numbers. See ``values``, ``urls`` and ``fragments``.

>>> from apim_lastmile import policy
>>> xml = policy.render(inbound=[policy.managed_identity_auth(resource="api://my-app"),
...                              policy.set_backend_service(backend_id="orders")])
"""

from .fragments import (
    AuthenticationBasic,
    CacheLookupValue,
    CacheStoreValue,
    Choose,
    ForwardRequest,
    Fragment,
    ManagedIdentityAuth,
    RewriteUri,
    ReturnResponse,
    Retry,
    SendRequest,
    SetBackendService,
    SetHeader,
    SetVariable,
    When,
)
from .render import SECTIONS, render
from .values import Expression, NamedValueRef, Template, Value, csharp_string, expr, named_value, template
from ..errors import PolicyError

# snake_case constructors, the names the public API documents.
managed_identity_auth = ManagedIdentityAuth
set_header = SetHeader
set_backend_service = SetBackendService
rewrite_uri = RewriteUri
set_variable = SetVariable
send_request = SendRequest
authentication_basic = AuthenticationBasic
cache_lookup_value = CacheLookupValue
cache_store_value = CacheStoreValue
choose = Choose
when = When
return_response = ReturnResponse
retry = Retry
forward_request = ForwardRequest

__all__ = [
    "AuthenticationBasic", "CacheLookupValue", "CacheStoreValue", "Choose", "Expression", "ForwardRequest", "Fragment",
    "ManagedIdentityAuth", "NamedValueRef", "PolicyError", "Retry", "ReturnResponse", "RewriteUri", "SECTIONS",
    "SendRequest", "SetBackendService", "SetHeader", "SetVariable", "Value", "When",
    "authentication_basic", "cache_lookup_value", "cache_store_value", "choose", "csharp_string", "expr",
    "forward_request", "managed_identity_auth", "named_value", "render", "retry", "return_response", "rewrite_uri", "send_request",
    "set_backend_service", "set_header", "set_variable", "template", "Template", "when",
]
