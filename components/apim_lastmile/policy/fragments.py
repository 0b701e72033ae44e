"""Typed APIM policy fragments.

Each fragment validates its arguments when it is built (so a bad value fails before any Pulumi resource
is registered), knows the policy sections APIM allows it in, and turns itself into an lxml element. The
attribute names and child order follow the published APIM policy schemas (``shared/apim-policy-xsd``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Iterable, Optional, Sequence, Union

from lxml import etree

from ..errors import PolicyError
from .values import Expression, NamedValueRef, Template, Value, render_value, require_value

ALL_SECTIONS = frozenset({"inbound", "backend", "outbound", "on-error"})
INBOUND = frozenset({"inbound"})
INBOUND_BACKEND = frozenset({"inbound", "backend"})

# RFC 9110 token characters: what an HTTP header name may contain.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,255}$")
_HTTP_METHOD = re.compile(r"^[A-Z]{1,16}$")
_CACHING_TYPES = ("prefer-external", "external", "internal")
_EXISTS_ACTIONS = ("override", "skip", "append", "delete")


def _check_identifier(value: object, key: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise PolicyError(
            key, value, "expected an identifier: a letter or '_' then letters, digits, '_', '.' or '-'"
        )
    return value


def _check_bool(value: object, key: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise PolicyError(key, value, "expected True or False")


def _check_positive_int(value: object, key: str, upper: int | None = None) -> None:
    if isinstance(value, Expression):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or (upper and value > upper):
        bound = f" up to {upper}" if upper else ""
        raise PolicyError(key, value, f"expected a whole number greater than 0{bound}, or policy.expr(...)")


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
        require_value(self.resource, "authentication-managed-identity.resource")
        if self.client_id is not None:
            require_value(self.client_id, "authentication-managed-identity.client-id")
        if self.output_token_variable_name is not None:
            _check_identifier(self.output_token_variable_name, "authentication-managed-identity.output-token-variable-name")
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
    """``set-header``: set, append, skip or delete an HTTP header."""

    name: str
    values: Sequence[Value] = ()
    exists_action: str = "override"
    tag: ClassVar[str] = "set-header"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _HEADER_NAME.match(self.name):
            raise PolicyError("set-header.name", self.name, "expected an HTTP header name (RFC 9110 token characters)")
        if self.exists_action not in _EXISTS_ACTIONS:
            raise PolicyError("set-header.exists-action", self.exists_action, f"expected one of {', '.join(_EXISTS_ACTIONS)}")
        if isinstance(self.values, (str, Expression, NamedValueRef, Template)):
            object.__setattr__(self, "values", (self.values,))
        object.__setattr__(self, "values", tuple(self.values))
        if self.exists_action != "delete" and not self.values:
            raise PolicyError("set-header.values", self.values, f"header {self.name!r} needs at least one value unless exists_action='delete'")
        for v in self.values:
            require_value(v, f"set-header[{self.name}].value", allow_empty=True)

    def to_element(self) -> etree._Element:
        el = self._element({"name": self.name, "exists-action": self.exists_action})
        for v in self.values:
            etree.SubElement(el, "value").text = render_value(v, "value")
        return el


@dataclass(frozen=True)
class SetBackendService(Fragment):
    """``set-backend-service``: route to ``base_url`` or to an APIM backend entity ``backend_id``."""

    base_url: Optional[Value] = None
    backend_id: Optional[str] = None
    tag: ClassVar[str] = "set-backend-service"
    sections: ClassVar[frozenset[str]] = INBOUND_BACKEND

    def __post_init__(self) -> None:
        if (self.base_url is None) == (self.backend_id is None):
            raise PolicyError(
                "set-backend-service", {"base_url": self.base_url, "backend_id": self.backend_id},
                "give exactly one of base_url or backend_id",
            )
        if self.backend_id is not None:
            _check_identifier(self.backend_id, "set-backend-service.backend-id")
        if isinstance(self.base_url, str) and not self.base_url.startswith("https://"):
            raise PolicyError("set-backend-service.base-url", self.base_url, "the last mile is HTTPS only: use an https:// URL")
        if self.base_url is not None:
            require_value(self.base_url, "set-backend-service.base-url")

    def to_element(self) -> etree._Element:
        return self._element(
            {
                "base-url": None if self.base_url is None else render_value(self.base_url, "base-url"),
                "backend-id": self.backend_id,
            }
        )


@dataclass(frozen=True)
class RewriteUri(Fragment):
    """``rewrite-uri``: rewrite the backend request path from ``template``."""

    template: Value
    copy_unmatched_params: Optional[bool] = None
    tag: ClassVar[str] = "rewrite-uri"
    sections: ClassVar[frozenset[str]] = INBOUND

    def __post_init__(self) -> None:
        require_value(self.template, "rewrite-uri.template")
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
    """``set-variable``: store a value in ``context.Variables[name]``."""

    name: str
    value: Value
    tag: ClassVar[str] = "set-variable"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        _check_identifier(self.name, "set-variable.name")
        require_value(self.value, f"set-variable[{self.name}].value", allow_empty=True)

    def to_element(self) -> etree._Element:
        return self._element({"name": self.name, "value": render_value(self.value, "value")})


@dataclass(frozen=True)
class AuthenticationBasic(Fragment):
    """``authentication-basic``. The password must be a named value or an expression, never a literal."""

    username: Value
    password: Union[NamedValueRef, Expression]
    tag: ClassVar[str] = "authentication-basic"
    sections: ClassVar[frozenset[str]] = INBOUND

    def __post_init__(self) -> None:
        require_value(self.username, "authentication-basic.username")
        if not isinstance(self.password, (NamedValueRef, Expression)):
            raise PolicyError(
                "authentication-basic.password",
                "<literal hidden>" if isinstance(self.password, str) else self.password,
                "a literal password would sit in the policy text: use policy.named_value(...) "
                "backed by Key Vault, or policy.expr(...) reading a variable",
            )

    def to_element(self) -> etree._Element:
        return self._element({"username": render_value(self.username, "username"), "password": self.password.render()})


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
        require_value(self.key, "cache-lookup-value.key")
        _check_identifier(self.variable_name, "cache-lookup-value.variable-name")
        if self.default_value is not None:
            require_value(self.default_value, "cache-lookup-value.default-value", allow_empty=True)
        if self.caching_type not in _CACHING_TYPES:
            raise PolicyError("cache-lookup-value.caching-type", self.caching_type, f"expected one of {', '.join(_CACHING_TYPES)}")

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
    """``cache-store-value``: store ``value`` under ``key`` for ``duration`` seconds."""

    key: Value
    value: Value
    duration: Union[int, Expression]
    caching_type: str = "prefer-external"
    tag: ClassVar[str] = "cache-store-value"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        require_value(self.key, "cache-store-value.key")
        require_value(self.value, "cache-store-value.value", allow_empty=True)
        _check_positive_int(self.duration, "cache-store-value.duration")
        if self.caching_type not in _CACHING_TYPES:
            raise PolicyError("cache-store-value.caching-type", self.caching_type, f"expected one of {', '.join(_CACHING_TYPES)}")

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
    """``send-request``: call another service; the response lands in ``response_variable_name``."""

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
        _check_identifier(self.response_variable_name, "send-request.response-variable-name")
        require_value(self.url, "send-request.set-url")
        if isinstance(self.url, str) and not self.url.startswith("https://"):
            raise PolicyError("send-request.set-url", self.url, "send-request must call an https:// URL")
        if not isinstance(self.method, str) or not _HTTP_METHOD.match(self.method):
            raise PolicyError("send-request.set-method", self.method, "expected an upper-case HTTP method such as GET or POST")
        if self.mode not in ("new", "copy"):
            raise PolicyError("send-request.mode", self.mode, "expected 'new' or 'copy'")
        _check_positive_int(self.timeout, "send-request.timeout", upper=240)
        _check_bool(self.ignore_error, "send-request.ignore-error")
        object.__setattr__(self, "headers", tuple(self.headers))
        for h in self.headers:
            if not isinstance(h, SetHeader):
                raise PolicyError("send-request.headers", h, "expected policy.set_header(...) fragments")
        if self.body is not None:
            require_value(self.body, "send-request.set-body", allow_empty=True)
        if self.auth is not None and not isinstance(self.auth, ManagedIdentityAuth):
            raise PolicyError("send-request.auth", self.auth, "expected policy.managed_identity_auth(...)")

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
    """``return-response``: stop the pipeline and answer the caller."""

    status_code: int = 200
    reason: Optional[str] = None
    headers: Sequence[SetHeader] = ()
    body: Optional[Value] = None
    response_variable_name: Optional[str] = None
    tag: ClassVar[str] = "return-response"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        if isinstance(self.status_code, bool) or not isinstance(self.status_code, int) or not 100 <= self.status_code <= 599:
            raise PolicyError("return-response.status-code", self.status_code, "expected an HTTP status code from 100 to 599")
        if self.reason is not None:
            require_value(self.reason, "return-response.reason")
            if isinstance(self.reason, str) and render_value(self.reason, "reason") != self.reason:
                raise PolicyError("return-response.reason", self.reason, "a reason phrase must be plain printable text")
        object.__setattr__(self, "headers", tuple(self.headers))
        for h in self.headers:
            if not isinstance(h, SetHeader):
                raise PolicyError("return-response.headers", h, "expected policy.set_header(...) fragments")
        if self.body is not None:
            require_value(self.body, "return-response.set-body", allow_empty=True)
        if self.response_variable_name is not None:
            _check_identifier(self.response_variable_name, "return-response.response-variable-name")

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
            raise PolicyError("choose.when.condition", self.condition, "a condition must be policy.expr(...)")
        object.__setattr__(self, "policies", tuple(self.policies))


@dataclass(frozen=True)
class Choose(Fragment):
    """``choose``: the first ``when`` whose condition holds runs, else ``otherwise``."""

    whens: Sequence[When]
    otherwise: Optional[Sequence[Fragment]] = None
    tag: ClassVar[str] = "choose"
    sections: ClassVar[frozenset[str]] = ALL_SECTIONS

    def __post_init__(self) -> None:
        object.__setattr__(self, "whens", tuple(self.whens))
        if not self.whens or not all(isinstance(w, When) for w in self.whens):
            raise PolicyError("choose.whens", self.whens, "choose needs at least one policy.when(...)")
        if self.otherwise is not None:
            object.__setattr__(self, "otherwise", tuple(self.otherwise))

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
