"""Typed APIM policy fragments.

Each fragment validates its arguments when it is built (so a bad value fails before any Pulumi resource
is registered), knows the policy sections APIM allows it in, and turns itself into an lxml element. The
attribute names and child order follow the published APIM policy schemas (``shared/apim-policy-xsd``).

Arguments are read with a hostile eye: a value that would split a line (header injection), become an
expression or a named-value reference, send the gateway's token or password somewhere unintended (see
``urls``), put a credential in the policy text, or send one back to the caller is refused, not escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Iterable, Optional, Sequence, Union

from lxml import etree

from .urls import check_https_url, check_path_template
from .values import Expression, NamedValueRef, Template, Value, refuse, render_value, require_value

ALL_SECTIONS = frozenset({"inbound", "backend", "outbound", "on-error"})
INBOUND = frozenset({"inbound"})
INBOUND_BACKEND = frozenset({"inbound", "backend"})

# RFC 9110 token characters: what an HTTP header name may contain.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
# APIM backend entity ids (the name of a Microsoft.ApiManagement/service/backends resource).
_BACKEND_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")
# Variable names are read back in expressions as context.Variables["name"]: plain ASCII C# identifiers.
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_HTTP_METHOD = re.compile(r"^[A-Z]{1,16}$")
# TRACE echoes the request (with the gateway's Authorization header) back into the response variable;
# CONNECT opens a tunnel. Neither has a place in a last-mile call.
_REFUSED_METHODS = frozenset({"TRACE", "TRACK", "CONNECT"})
_CACHING_TYPES = ("prefer-external", "external", "internal")
_EXISTS_ACTIONS = ("override", "skip", "append", "delete")
#: Headers that carry a credential: never a literal in a policy, never sent back to the caller.
CREDENTIAL_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-functions-key", "api-key", "x-api-key", "ocp-apim-subscription-key", "cookie",
})
# Function keys are what the library replaces with the gateway's identity: not even from a named value.
_NEVER_SET_HEADERS = frozenset({"x-functions-key"})
# Message framing belongs to the gateway: overriding it desynchronises the backend connection (smuggling).
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
#: APIM reads durations and timeouts as 32-bit integers.
INT32_MAX = 2**31 - 1


def _check_variable_name(value: object, key: str) -> str:
    if not isinstance(value, str) or not _VARIABLE_NAME.match(value):
        raise refuse(
            key, value,
            "expected a C# identifier (ASCII letter or '_', then letters, digits or '_', up to 128): "
            "policies read it back as context.Variables[\"name\"]",
        )
    return value


def _check_backend_id(value: object, key: str) -> str:
    if not isinstance(value, str) or not _BACKEND_ID.match(value):
        raise refuse(key, value, "expected an APIM backend id: up to 80 letters, digits, '_', '.' or '-'")
    return value


def _check_bool(value: object, key: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise refuse(key, value, "expected True or False")


def _check_positive_int(value: object, key: str, upper: int = INT32_MAX) -> None:
    if isinstance(value, Expression):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > upper:
        raise refuse(key, value, f"expected a whole number from 1 to {upper}, or policy.expr(...)")


def _check_token_value(value: object, key: str) -> None:
    """An audience or client id: one line, no surrounding spaces (the token would not match)."""
    require_value(value, key, single_line=True)
    if isinstance(value, str) and value != value.strip():
        raise refuse(key, value, "expected no leading or trailing spaces")


def _as_tuple(value: object, key: str, what: str) -> tuple:
    if isinstance(value, (str, bytes, Fragment, When)) or value is None:
        raise refuse(key, value, f"expected a list of {what}")
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise refuse(key, value, f"expected a list of {what}") from None


def _check_headers(headers: tuple, key: str, *, to_caller: bool) -> None:
    for h in headers:
        if not isinstance(h, SetHeader):
            raise refuse(key, h, "expected policy.set_header(...) fragments")
        if to_caller:
            h.check_not_to_caller(key)


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


class Fragment:
    """Base class of every policy fragment."""

    tag: ClassVar[str]
    sections: ClassVar[frozenset[str]]

    def to_element(self) -> etree._Element:  # pragma: no cover - abstract
        raise NotImplementedError

    def nested(self) -> Iterable["Fragment"]:
        """Fragments rendered inside this one that must obey the same section rules."""
        return ()

    def check_section(self, section: str, where: str) -> None:
        """Refuse what is fine in general but not in ``section`` (beyond the allowed-sections rule)."""

    def _element(self, attrs: dict[str, Optional[str]]) -> etree._Element:
        el = etree.Element(self.tag)
        for name, text in attrs.items():
            if text is not None:
                el.set(name, text)
        return el


@dataclass(frozen=True)
class ManagedIdentityAuth(Fragment):
    """``authentication-managed-identity``: a token for ``resource`` from the gateway's managed identity.

    ``client_id`` selects a user-assigned identity; leave it out for the system-assigned one.
    """

    resource: Value
    client_id: Optional[Value] = None
    output_token_variable_name: Optional[str] = None
    ignore_error: Optional[bool] = None
    tag: ClassVar[str] = "authentication-managed-identity"
    sections: ClassVar[frozenset[str]] = INBOUND

    def __post_init__(self) -> None:
        _check_token_value(self.resource, "authentication-managed-identity.resource")
        if self.client_id is not None:
            _check_token_value(self.client_id, "authentication-managed-identity.client-id")
        if self.output_token_variable_name is not None:
            _check_variable_name(self.output_token_variable_name, "authentication-managed-identity.output-token-variable-name")
        _check_bool(self.ignore_error, "authentication-managed-identity.ignore-error")

    def to_element(self) -> etree._Element:
        return self._element(
            {
                "resource": render_value(self.resource, "resource"),
                "client-id": None if self.client_id is None else render_value(self.client_id, "client-id"),
                "output-token-variable-name": self.output_token_variable_name,
                "ignore-error": None if self.ignore_error is None else _bool_text(self.ignore_error),
            }
        )


@dataclass(frozen=True)
class SetHeader(Fragment):
    """``set-header``: set, append, skip or delete an HTTP header.

    Values must fit on one line (CR/LF would inject headers). Headers that carry a credential
    (:data:`CREDENTIAL_HEADERS`) take a named value or an expression, never a literal; ``x-functions-key``
    takes nothing at all (the gateway's identity replaces function keys) but may be deleted. Outside
    ``inbound``/``backend`` (and in ``return-response``) a credential header may only be deleted: anything
    set there goes back to the caller.
    """

    name: str
    values: Sequence[Value] = ()
    exists_action: str = "override"
    tag: ClassVar[str] = "set-header"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _HEADER_NAME.match(self.name):
            raise refuse("set-header.name", self.name, "expected an HTTP header name (1-256 RFC 9110 token characters: letters, digits, '-' and !#$%&'*+.^_`|~)")
        lower = self.name.lower()
        if lower in _FRAMING_HEADERS:
            raise refuse("set-header.name", self.name, "expected a header other than Content-Length or Transfer-Encoding: the gateway frames messages, an override desynchronises the connection")
        if not isinstance(self.exists_action, str) or self.exists_action not in _EXISTS_ACTIONS:
            raise refuse("set-header.exists-action", self.exists_action, f"expected one of {', '.join(_EXISTS_ACTIONS)}")
        if isinstance(self.values, (str, Expression, NamedValueRef, Template)):
            object.__setattr__(self, "values", (self.values,))
        object.__setattr__(self, "values", _as_tuple(self.values, f"set-header[{self.name}].values", "header values"))
        if self.exists_action == "delete":
            if self.values:
                raise refuse(f"set-header[{self.name}].values", self.values, "expected no values with exists_action='delete'")
            return
        if not self.values:
            raise refuse("set-header.values", self.values, f"expected at least one value for header {self.name!r} unless exists_action='delete'")
        key = f"set-header[{self.name}].value"
        for v in self.values:
            if lower in _NEVER_SET_HEADERS:
                raise refuse(
                    key, "<value hidden>" if isinstance(v, (str, Template)) else v,
                    "expected no function key: the gateway authenticates with its managed identity "
                    "(policy.managed_identity_auth); only exists_action='delete' is allowed for this header",
                )
            if lower in CREDENTIAL_HEADERS and (isinstance(v, str) or (isinstance(v, Template) and not v.has_reference())):
                raise refuse(
                    key, "<literal hidden>",
                    "expected policy.named_value(...) (backed by Key Vault) or policy.expr(...): a literal credential "
                    "would sit in the policy text",
                )
            require_value(v, key, allow_empty=True, single_line=True)

    def check_not_to_caller(self, where: str) -> None:
        """Refuse setting a credential header on a response to the caller."""
        if self.name.lower() in CREDENTIAL_HEADERS and self.exists_action != "delete":
            raise refuse(
                f"{where}.set-header[{self.name}]", self.exists_action,
                "expected exists_action='delete': a credential header set here is sent back to the caller",
            )

    def check_section(self, section: str, where: str) -> None:
        if section in ("outbound", "on-error"):
            self.check_not_to_caller(where)

    def to_element(self) -> etree._Element:
        el = self._element({"name": self.name, "exists-action": self.exists_action})
        for v in self.values:
            etree.SubElement(el, "value").text = render_value(v, "value")
        return el


@dataclass(frozen=True)
class SetBackendService(Fragment):
    """``set-backend-service``: route to ``base_url`` or to an APIM backend entity ``backend_id``.

    The gateway's token or password goes to ``base_url``: see :func:`~.urls.check_https_url`.
    """

    base_url: Optional[Value] = None
    backend_id: Optional[str] = None
    tag: ClassVar[str] = "set-backend-service"
    sections: ClassVar[frozenset[str]] = INBOUND_BACKEND

    def __post_init__(self) -> None:
        if (self.base_url is None) == (self.backend_id is None):
            raise refuse(
                "set-backend-service", {"base_url": self.base_url, "backend_id": self.backend_id},
                "expected exactly one of base_url or backend_id",
            )
        if self.backend_id is not None:
            _check_backend_id(self.backend_id, "set-backend-service.backend-id")
        if self.base_url is not None:
            check_https_url(self.base_url, "set-backend-service.base-url")

    def to_element(self) -> etree._Element:
        return self._element(
            {
                "base-url": None if self.base_url is None else render_value(self.base_url, "base-url"),
                "backend-id": self.backend_id,
            }
        )


@dataclass(frozen=True)
class RewriteUri(Fragment):
    """``rewrite-uri``: rewrite the backend request path from ``template`` (a path, never a host)."""

    template: Value
    copy_unmatched_params: Optional[bool] = None
    tag: ClassVar[str] = "rewrite-uri"
    sections: ClassVar[frozenset[str]] = INBOUND

    def __post_init__(self) -> None:
        check_path_template(self.template, "rewrite-uri.template")
        _check_bool(self.copy_unmatched_params, "rewrite-uri.copy-unmatched-params")

    def to_element(self) -> etree._Element:
        return self._element(
            {
                "template": render_value(self.template, "template"),
                "copy-unmatched-params": None if self.copy_unmatched_params is None else _bool_text(self.copy_unmatched_params),
            }
        )


@dataclass(frozen=True)
class SetVariable(Fragment):
    """``set-variable``: store a value in ``context.Variables[name]`` (the value may span lines)."""

    name: str
    value: Value
    tag: ClassVar[str] = "set-variable"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        _check_variable_name(self.name, "set-variable.name")
        require_value(self.value, f"set-variable[{self.name}].value", allow_empty=True)

    def to_element(self) -> etree._Element:
        return self._element({"name": self.name, "value": render_value(self.value, "value")})


@dataclass(frozen=True)
class AuthenticationBasic(Fragment):
    """``authentication-basic``. The password must be a named value or an expression, never a literal.

    A literal username is one line without ':' (RFC 7617: the first ':' ends the user name, so one in the
    name would move part of it into the password).
    """

    username: Value
    password: Union[NamedValueRef, Expression]
    tag: ClassVar[str] = "authentication-basic"
    sections: ClassVar[frozenset[str]] = INBOUND

    def __post_init__(self) -> None:
        require_value(self.username, "authentication-basic.username", single_line=True)
        literal = self.username if isinstance(self.username, str) else (
            self.username.literal_text() if isinstance(self.username, Template) else "")
        if ":" in literal:
            raise refuse("authentication-basic.username", self.username, "expected a user name without ':' (basic auth splits user and password at the first ':')")
        if not isinstance(self.password, (NamedValueRef, Expression)):
            raise refuse(
                "authentication-basic.password",
                "<literal hidden>" if isinstance(self.password, (str, Template)) else self.password,
                "expected policy.named_value(...) backed by Key Vault, or policy.expr(...) reading a variable: "
                "a literal password would sit in the policy text",
            )

    def to_element(self) -> etree._Element:
        return self._element({"username": render_value(self.username, "username"), "password": self.password.render()})


def _check_cache_key(value: object, key: str) -> None:
    """A cache key: one line; a literal holds no ``{{``/``}}`` and no leading ``@``.

    Such a literal would be written as a string expression and cache under the literal text, while the
    author almost certainly meant a named value or an expression: every caller would share that one entry.
    """
    require_value(value, key, single_line=True)  # type: ignore[arg-type]
    if isinstance(value, str) and ("{{" in value or "}}" in value or value.lstrip().startswith("@")):
        raise refuse(key, value, "expected a plain cache key: use policy.template(...)/policy.named_value(...) for a named value, policy.expr(...) for an expression")


def _check_caching_type(value: object, key: str) -> None:
    if not isinstance(value, str) or value not in _CACHING_TYPES:
        raise refuse(key, value, f"expected one of {', '.join(_CACHING_TYPES)}")


@dataclass(frozen=True)
class CacheLookupValue(Fragment):
    """``cache-lookup-value``: read ``key`` from the cache into ``variable_name``."""

    key: Value
    variable_name: str
    default_value: Optional[Value] = None
    caching_type: str = "prefer-external"
    tag: ClassVar[str] = "cache-lookup-value"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        _check_cache_key(self.key, "cache-lookup-value.key")
        _check_variable_name(self.variable_name, "cache-lookup-value.variable-name")
        if self.default_value is not None:
            require_value(self.default_value, "cache-lookup-value.default-value", allow_empty=True)
        _check_caching_type(self.caching_type, "cache-lookup-value.caching-type")

    def to_element(self) -> etree._Element:
        return self._element(
            {
                "key": render_value(self.key, "key"),
                "variable-name": self.variable_name,
                "default-value": None if self.default_value is None else render_value(self.default_value, "default-value"),
                "caching-type": self.caching_type,
            }
        )


@dataclass(frozen=True)
class CacheStoreValue(Fragment):
    """``cache-store-value``: store ``value`` under ``key`` for ``duration`` seconds (1 to 2^31-1)."""

    key: Value
    value: Value
    duration: Union[int, Expression]
    caching_type: str = "prefer-external"
    tag: ClassVar[str] = "cache-store-value"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        _check_cache_key(self.key, "cache-store-value.key")
        require_value(self.value, "cache-store-value.value", allow_empty=True)
        _check_positive_int(self.duration, "cache-store-value.duration")
        _check_caching_type(self.caching_type, "cache-store-value.caching-type")

    def to_element(self) -> etree._Element:
        duration = self.duration.render() if isinstance(self.duration, Expression) else str(self.duration)
        return self._element(
            {
                "key": render_value(self.key, "key"),
                "value": render_value(self.value, "value"),
                "duration": duration,
                "caching-type": self.caching_type,
            }
        )


@dataclass(frozen=True)
class SendRequest(Fragment):
    """``send-request``: call another service; the response lands in ``response_variable_name``.

    The URL is checked like every URL the gateway sends credentials to (:func:`~.urls.check_https_url`);
    with ``auth`` the identity's token sets ``Authorization``, so a header of that name is refused beside it.
    """

    response_variable_name: str
    url: Value
    method: str = "GET"
    headers: Sequence[SetHeader] = ()
    body: Optional[Value] = None
    auth: Optional[ManagedIdentityAuth] = None
    mode: str = "new"
    timeout: Union[int, Expression] = 20
    ignore_error: bool = False
    tag: ClassVar[str] = "send-request"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        _check_variable_name(self.response_variable_name, "send-request.response-variable-name")
        check_https_url(self.url, "send-request.set-url")
        if not isinstance(self.method, str) or not _HTTP_METHOD.match(self.method):
            raise refuse("send-request.set-method", self.method, "expected an upper-case HTTP method such as GET or POST")
        if self.method in _REFUSED_METHODS:
            raise refuse("send-request.set-method", self.method, "expected a method other than TRACE, TRACK or CONNECT (TRACE echoes the token back)")
        if not isinstance(self.mode, str) or self.mode not in ("new", "copy"):
            raise refuse("send-request.mode", self.mode, "expected 'new' or 'copy'")
        _check_positive_int(self.timeout, "send-request.timeout", upper=240)
        _check_bool(self.ignore_error, "send-request.ignore-error")
        object.__setattr__(self, "headers", _as_tuple(self.headers, "send-request.headers", "policy.set_header(...) fragments"))
        _check_headers(self.headers, "send-request.headers", to_caller=False)
        if self.body is not None:
            require_value(self.body, "send-request.set-body", allow_empty=True)
        if self.auth is not None:
            if not isinstance(self.auth, ManagedIdentityAuth):
                raise refuse("send-request.auth", self.auth, "expected policy.managed_identity_auth(...)")
            for h in self.headers:
                if h.name.lower() == "authorization" and h.exists_action != "delete":
                    raise refuse("send-request.headers", h.name, "expected no Authorization header beside auth=: the managed identity's token sets it")

    def to_element(self) -> etree._Element:
        timeout = self.timeout.render() if isinstance(self.timeout, Expression) else str(self.timeout)
        el = self._element(
            {
                "mode": self.mode,
                "response-variable-name": self.response_variable_name,
                "timeout": timeout,
                "ignore-error": _bool_text(self.ignore_error),
            }
        )
        etree.SubElement(el, "set-url").text = render_value(self.url, "set-url")
        etree.SubElement(el, "set-method").text = self.method
        for h in self.headers:
            el.append(h.to_element())
        if self.body is not None:
            etree.SubElement(el, "set-body").text = render_value(self.body, "set-body")
        if self.auth is not None:
            el.append(self.auth.to_element())
        return el


@dataclass(frozen=True)
class ReturnResponse(Fragment):
    """``return-response``: stop the pipeline and answer the caller (the body may span lines).

    Its headers go to the caller, so credential headers may only be deleted there.
    """

    status_code: int = 200
    reason: Optional[str] = None
    headers: Sequence[SetHeader] = ()
    body: Optional[Value] = None
    response_variable_name: Optional[str] = None
    tag: ClassVar[str] = "return-response"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        if isinstance(self.status_code, bool) or not isinstance(self.status_code, int) or not 100 <= self.status_code <= 599:
            raise refuse("return-response.status-code", self.status_code, "expected an HTTP status code from 100 to 599")
        if self.reason is not None:
            if not isinstance(self.reason, str):
                raise refuse("return-response.reason", self.reason, "expected a plain string reason phrase")
            require_value(self.reason, "return-response.reason", single_line=True)
            if render_value(self.reason, "reason") != self.reason or self.reason != self.reason.strip():
                raise refuse("return-response.reason", self.reason, "expected a reason phrase of plain printable text (no leading '@', '{{', '}}' or surrounding spaces)")
        object.__setattr__(self, "headers", _as_tuple(self.headers, "return-response.headers", "policy.set_header(...) fragments"))
        _check_headers(self.headers, "return-response.headers", to_caller=True)
        if self.body is not None:
            require_value(self.body, "return-response.set-body", allow_empty=True)
        if self.response_variable_name is not None:
            _check_variable_name(self.response_variable_name, "return-response.response-variable-name")

    def to_element(self) -> etree._Element:
        el = self._element({"response-variable-name": self.response_variable_name})
        status = etree.SubElement(el, "set-status", code=str(self.status_code))
        if self.reason is not None:
            status.set("reason", self.reason)
        for h in self.headers:
            el.append(h.to_element())
        if self.body is not None:
            etree.SubElement(el, "set-body").text = render_value(self.body, "set-body")
        return el


@dataclass(frozen=True)
class When:
    """One branch of :class:`Choose`: ``policies`` run when ``condition`` is true."""

    condition: Expression
    policies: Sequence[Fragment] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.condition, Expression):
            raise refuse("choose.when.condition", self.condition, "expected policy.expr(...) as the condition")
        object.__setattr__(self, "policies", _as_tuple(self.policies, "choose.when.policies", "policy fragments"))


@dataclass(frozen=True)
class Choose(Fragment):
    """``choose``: the first ``when`` whose condition holds runs, else ``otherwise``."""

    whens: Sequence[When]
    otherwise: Optional[Sequence[Fragment]] = None
    tag: ClassVar[str] = "choose"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        whens = (self.whens,) if isinstance(self.whens, When) else self.whens
        if isinstance(whens, (str, bytes)) or whens is None:
            raise refuse("choose.whens", self.whens, "expected at least one policy.when(...)")
        try:
            whens = tuple(whens)
        except TypeError:
            raise refuse("choose.whens", self.whens, "expected at least one policy.when(...)") from None
        if not whens or not all(isinstance(w, When) for w in whens):
            raise refuse("choose.whens", self.whens, "expected at least one policy.when(...)")
        object.__setattr__(self, "whens", whens)
        if self.otherwise is not None:
            object.__setattr__(self, "otherwise", _as_tuple(self.otherwise, "choose.otherwise", "policy fragments"))

    def nested(self) -> Iterable[Fragment]:
        for w in self.whens:
            yield from w.policies
        yield from self.otherwise or ()

    def to_element(self) -> etree._Element:
        el = self._element({})
        for w in self.whens:
            when_el = etree.SubElement(el, "when", condition=w.condition.render())
            for f in w.policies:
                when_el.append(f.to_element())
        if self.otherwise is not None:
            other = etree.SubElement(el, "otherwise")
            for f in self.otherwise:
                other.append(f.to_element())
        return el


BACKEND = frozenset({"backend"})


@dataclass(frozen=True)
class ForwardRequest(Fragment):
    """``forward-request``: send the request to the backend (the backend section's own call, replacing ``<base />``).
    ``buffer_request_body`` keeps the body so that a retry can send it again."""

    buffer_request_body: bool = True
    tag: ClassVar[str] = "forward-request"
    sections: ClassVar[frozenset[str]] = BACKEND

    def __post_init__(self) -> None:
        _check_bool(self.buffer_request_body, "forward-request.buffer-request-body")

    def to_element(self) -> etree._Element:
        return self._element({"buffer-request-body": _bool_text(self.buffer_request_body)})


@dataclass(frozen=True)
class Retry(Fragment):
    """``retry``: run ``body`` once, then again while ``condition`` holds, at most ``count`` more times (1-50), waiting
    ``interval`` seconds, growing by ``delta`` up to ``max_interval`` (learn.microsoft.com/azure/api-management/
    retry-policy)."""

    condition: Expression
    body: Sequence[Fragment]
    count: int = 2
    interval: int = 1
    delta: Optional[int] = None
    max_interval: Optional[int] = None
    tag: ClassVar[str] = "retry"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        if not isinstance(self.condition, Expression):
            raise refuse("retry.condition", self.condition, "expected policy.expr(...): a condition read at run time")
        for key, value, upper in (("retry.count", self.count, 50), ("retry.interval", self.interval, 3600),
                                  ("retry.delta", self.delta, 3600), ("retry.max-interval", self.max_interval, 3600)):
            if value is None and key in ("retry.delta", "retry.max-interval"):
                continue
            if isinstance(value, Expression):
                raise refuse(key, value.render(), f"expected a whole number from 1 to {upper}")
            _check_positive_int(value, key, upper=upper)
        object.__setattr__(self, "body", _as_tuple(self.body, "retry.body", "policy fragments"))
        if not self.body:
            raise refuse("retry.body", self.body, "expected the fragments to retry, e.g. [policy.forward_request()]")

    def nested(self) -> Iterable[Fragment]:
        return self.body

    def to_element(self) -> etree._Element:
        el = self._element({"condition": self.condition.render(), "count": str(self.count), "interval": str(self.interval),
                            "delta": None if self.delta is None else str(self.delta),
                            "max-interval": None if self.max_interval is None else str(self.max_interval),
                            "first-fast-retry": "false"})
        for fragment in self.body:
            el.append(fragment.to_element())
        return el
