"""Hostile input to the policy fragments: every literal that would become code, split a line, send a
credential somewhere unintended or smuggle one into the policy is refused eagerly with a PolicyError that
names the argument and never echoes a long value whole.

First a table of known attacks, then a fuzz per public fragment constructor: random text (control
characters, '@', '{{', '}}', 'http://', CRLF, unicode) in every string argument; the only exception
allowed is PolicyError, and whatever is accepted renders to a document the APIM schemas accept, in which
no literal became an expression or a named-value reference.
"""

from __future__ import annotations

import re

import pytest
from apim_lastmile import policy
from apim_lastmile.errors import PolicyError
from helpers import decode_literal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

nv = policy.named_value
LONG = "A" * 300
SECRET = "s3cr3t-Value-42"


def sr(url, **kw):
    kw.setdefault("response_variable_name", "r")
    return policy.send_request(url=url, **kw)


def mi():
    return policy.managed_identity_auth(resource="https://vault.azure.net")


def sbs(url):
    return policy.set_backend_service(base_url=url)


# (id, build, key prefix of the message, phrase in the message)
CASES = [
    # 1. Templates: '@' at any index, braces, control characters, adjacent references.
    ("tpl-at-first", lambda: policy.template("@(context.Request.Body)", nv("x")), "template[0]", "not starting with '@'"),
    ("tpl-at-after-nv", lambda: policy.template(nv("x"), "@(context.Request.Body)"), "template[1]", "not starting with '@'"),
    ("tpl-at-after-space", lambda: policy.template(nv("x"), "  @{return 1;}"), "template[1]", "not starting with '@'"),
    ("tpl-at-third", lambda: policy.template("a/", nv("x"), "@(1)"), "template[2]", "not starting with '@'"),
    ("tpl-open-brace", lambda: policy.template("{", nv("x")), "template[0]", "'{' or '}'"),
    ("tpl-close-braces", lambda: policy.template(nv("x"), "}}"), "template[1]", "'{' or '}'"),
    ("tpl-crlf", lambda: policy.template(nv("x"), "\r\nX-Evil: 1"), "template[1]", "CR at index 0"),
    ("tpl-nul", lambda: policy.template("a\x00b", nv("x")), "template[0]", "U+0000"),
    ("tpl-tab", lambda: policy.template("a\tb"), "template[0]", "tab"),
    ("tpl-line-separator", lambda: policy.template("a\u2028b"), "template[0]", "U+2028"),
    ("tpl-adjacent-nv", lambda: policy.template(nv("a"), nv("b")), "template[1]", "literal text between two named values"),
    ("tpl-empty-hides-adjacent", lambda: policy.template(nv("a"), "", nv("b")), "template[1]", "non-empty"),
    ("tpl-expression-part", lambda: policy.template("x", policy.expr("1")), "template[1]", "plain text"),
    ("tpl-no-parts", lambda: policy.template(), "template", "at least one part"),
    ("tpl-not-a-sequence", lambda: policy.Template(5), "template", "sequence"),
    # 2. Single-line values.
    ("header-crlf-injection", lambda: policy.set_header(name="X-A", values=["ok\r\nX-Injected: 1"]), "set-header[X-A].value", "CR at index 2"),
    ("header-lf", lambda: policy.set_header(name="X-A", values=["a\nb"]), "set-header[X-A].value", "LF"),
    ("header-nel", lambda: policy.set_header(name="X-A", values=["a\x85b"]), "set-header[X-A].value", "U+0085"),
    ("header-del", lambda: policy.set_header(name="X-A", values=["a\x7fb"]), "set-header[X-A].value", "U+007F"),
    ("header-bidi", lambda: policy.set_header(name="X-A", values=["abc\u202edef"]), "set-header[X-A].value", "U+202E"),
    ("header-name-crlf", lambda: policy.set_header(name="X-A\r\nX-B", values=["1"]), "set-header.name", "token"),
    ("header-name-colon", lambda: policy.set_header(name="X-A:", values=["1"]), "set-header.name", "token"),
    ("header-name-empty", lambda: policy.set_header(name="", values=["1"]), "set-header.name", "token"),
    ("header-name-unicode", lambda: policy.set_header(name="X-Ä", values=["1"]), "set-header.name", "token"),
    ("header-values-not-list", lambda: policy.set_header(name="X-A", values=5), "set-header[X-A].values", "list"),
    ("header-delete-with-values", lambda: policy.set_header(name="X-A", values=["1"], exists_action="delete"), "set-header[X-A].values", "no values"),
    ("header-content-length", lambda: policy.set_header(name="Content-Length", values=["0"]), "set-header.name", "desynchronises"),
    ("header-transfer-encoding", lambda: policy.set_header(name="transfer-encoding", values=["chunked"]), "set-header.name", "desynchronises"),
    ("header-value-too-long", lambda: policy.set_header(name="X-A", values=["a" * 9000]), "set-header[X-A].value", "more than 8192"),
    ("url-crlf", lambda: sr("https://h.example.com/\r\nHost: evil"), "send-request.set-url", "CR"),
    ("base-url-tab", lambda: sbs("https://h.example.com/\tx"), "set-backend-service.base-url", "tab"),
    ("username-crlf", lambda: policy.authentication_basic(username="u\r\n", password=nv("pw")), "authentication-basic.username", "CR"),
    ("username-colon", lambda: policy.authentication_basic(username="admin:x", password=nv("pw")), "authentication-basic.username", "':'"),
    ("username-template-colon", lambda: policy.authentication_basic(username=policy.template(nv("u"), ":x"), password=nv("pw")), "authentication-basic.username", "':'"),
    ("variable-name-crlf", lambda: policy.set_variable(name="v\r\n", value="1"), "set-variable.name", "C# identifier"),
    ("variable-name-dash", lambda: policy.set_variable(name="my-var", value="1"), "set-variable.name", "C# identifier"),
    ("variable-name-dot", lambda: policy.set_variable(name="a.b", value="1"), "set-variable.name", "C# identifier"),
    ("variable-name-unicode", lambda: policy.set_variable(name="vär", value="1"), "set-variable.name", "C# identifier"),
    ("variable-name-empty", lambda: policy.cache_lookup_value(key="k", variable_name=""), "cache-lookup-value.variable-name", "C# identifier"),
    ("token-variable-name", lambda: policy.managed_identity_auth(resource="api://x", output_token_variable_name="@x"), "authentication-managed-identity.output-token-variable-name", "C# identifier"),
    ("response-variable-name", lambda: sr("https://h.example.com/", response_variable_name="r{{x}}"), "send-request.response-variable-name", "C# identifier"),
    ("cache-key-crlf", lambda: policy.cache_lookup_value(key="k\r\n", variable_name="v"), "cache-lookup-value.key", "CR"),
    ("cache-key-named-value-syntax", lambda: policy.cache_lookup_value(key="user-{{secret}}", variable_name="v"), "cache-lookup-value.key", "plain cache key"),
    ("cache-key-expression-syntax", lambda: policy.cache_store_value(key="@(context.User.Id)", value="v", duration=10), "cache-store-value.key", "plain cache key"),
    ("cache-key-empty", lambda: policy.cache_store_value(key="", value="v", duration=10), "cache-store-value.key", "non-empty"),
    ("method-crlf", lambda: sr("https://h.example.com/", method="GET\r\n"), "send-request.set-method", "upper-case"),
    ("method-trace", lambda: sr("https://h.example.com/", method="TRACE", auth=mi()), "send-request.set-method", "TRACE"),
    ("method-connect", lambda: sr("https://h.example.com/", method="CONNECT"), "send-request.set-method", "CONNECT"),
    ("resource-crlf", lambda: policy.managed_identity_auth(resource="api://x\r\n"), "authentication-managed-identity.resource", "CR at index 7"),
    ("resource-spaces", lambda: policy.managed_identity_auth(resource=" api://x"), "authentication-managed-identity.resource", "leading or trailing"),
    ("client-id-nul", lambda: policy.managed_identity_auth(resource="api://x", client_id="id\x00"), "authentication-managed-identity.client-id", "U+0000"),
    ("reason-crlf", lambda: policy.return_response(status_code=500, reason="Bad\r\nX-A: 1"), "return-response.reason", "CR"),
    ("reason-named-value", lambda: policy.return_response(status_code=500, reason=nv("x")), "return-response.reason", "plain string"),
    ("reason-at", lambda: policy.return_response(status_code=500, reason="@(1)"), "return-response.reason", "plain printable"),
    # 3. URLs that carry the gateway's token or password.
    ("url-http", lambda: sr("http://h.example.com/", auth=mi()), "send-request.set-url", "https://"),
    ("url-http-upper", lambda: sr("HTTP://h.example.com/"), "send-request.set-url", "https://"),
    ("url-http-leading-space", lambda: sr("  http://h.example.com/"), "send-request.set-url", "https://"),
    ("url-https-trailing-space", lambda: sr("https://h.example.com/ "), "send-request.set-url", "without spaces"),
    ("url-relative", lambda: sr("/secrets/x"), "send-request.set-url", "absolute https://"),
    ("url-ftp", lambda: sbs("ftp://h.example.com/"), "set-backend-service.base-url", "https://"),
    ("url-base-http", lambda: sbs("http://backend.contoso.com"), "set-backend-service.base-url", "https://"),
    ("url-template-http", lambda: sr(policy.template("http://", nv("host"), "/x"), auth=mi()), "send-request.set-url", "https://"),
    ("url-template-http-colon", lambda: sbs(policy.template("http:", nv("rest"))), "set-backend-service.base-url", "https://"),
    ("url-template-no-scheme", lambda: sbs(policy.template("backend.example.com/", nv("rest"))), "set-backend-service.base-url", "first part is https://"),
    ("url-userinfo", lambda: sr(f"https://admin:{SECRET}@h.example.com/"), "send-request.set-url", "user info"),
    ("url-userinfo-template", lambda: sr(policy.template("https://", nv("host"), "x@evil.example.com/")), "send-request.set-url", "'@'"),
    ("url-ipv4", lambda: sr("https://10.0.0.4/api"), "send-request.set-url", "not an IP address"),
    ("url-metadata", lambda: sr("https://169.254.169.254/metadata/identity/oauth2/token", auth=mi()), "send-request.set-url", "not an IP address"),
    ("url-ipv6", lambda: sbs("https://[::1]:8443/"), "set-backend-service.base-url", "IP literal"),
    ("url-ipv6-link-local", lambda: sbs("https://[fe80::1%25eth0]/"), "set-backend-service.base-url", "IP literal"),
    ("url-decimal-ipv4", lambda: sr("https://2852039166/"), "send-request.set-url", "IPv4"),
    ("url-hex-ipv4", lambda: sr("https://0xa9.0xfe.0xa9.0xfe/"), "send-request.set-url", "IPv4"),
    ("url-localhost", lambda: sr("https://localhost/api"), "send-request.set-url", "localhost"),
    ("url-localhost-upper-dot", lambda: sr("https://LOCALHOST./api"), "send-request.set-url", "localhost"),
    ("url-sub-localhost", lambda: sbs("https://api.localhost:8443/"), "set-backend-service.base-url", "localhost"),
    ("url-template-localhost", lambda: sbs(policy.template("https://localhost/", nv("path"))), "set-backend-service.base-url", "localhost"),
    ("url-backslash", lambda: sr("https://evil.example.com\\@h.example.com/"), "send-request.set-url", "'\\'"),
    ("url-unicode-host", lambda: sr("https://exаmple.com/"), "send-request.set-url", "punycode"),
    ("url-bad-port", lambda: sbs("https://h.example.com:99999/"), "set-backend-service.base-url", "port"),
    ("url-braces", lambda: sbs("https://h.example.com/{{x}}"), "set-backend-service.base-url", "'{' or '}'"),
    ("url-query-code", lambda: sr(f"https://fn.azurewebsites.net/api/x?code={SECRET}"), "send-request.set-url", "'code'"),
    ("url-query-sig", lambda: sbs(f"https://acct.blob.core.windows.net/c?sv=2022&sig={SECRET}"), "set-backend-service.base-url", "'sig'"),
    ("url-query-percent-encoded", lambda: sr(f"https://h.example.com/?a=1&%63%6F%64%65={SECRET}"), "send-request.set-url", "'code'"),
    ("url-query-upper", lambda: sr(f"https://h.example.com/?API-KEY={SECRET}"), "send-request.set-url", "'API-KEY'"),
    ("url-query-underscore-variant", lambda: sr(f"https://h.example.com/?Access_Token={SECRET}"), "send-request.set-url", "'Access_Token'"),
    ("url-query-semicolon", lambda: sr(f"https://h.example.com/?a=1;client_secret={SECRET}"), "send-request.set-url", "'client_secret'"),
    ("url-query-subscription-key", lambda: sbs(f"https://h.example.com/?subscription-key={SECRET}"), "set-backend-service.base-url", "'subscription-key'"),
    ("url-query-password-plus", lambda: sbs(f"https://h.example.com/?pass+word={SECRET}"), "set-backend-service.base-url", "'pass word'"),
    ("url-template-query-code", lambda: sr(policy.template(nv("fn-url"), "?code=", nv("fn-key"))), "send-request.set-url", "'code'"),
    ("url-template-query-split", lambda: sr(policy.template(nv("fn-url"), "?co", nv("p"), "de=1")), "send-request.set-url", "'code'"),
    ("rewrite-query-code", lambda: policy.rewrite_uri(template="/api/x?code=abc"), "rewrite-uri.template", "'code'"),
    ("rewrite-dotdot", lambda: policy.rewrite_uri(template="/api/../admin"), "rewrite-uri.template", "'..'"),
    ("rewrite-dotdot-encoded", lambda: policy.rewrite_uri(template="/api/%2e%2e/admin"), "rewrite-uri.template", "'..'"),
    ("rewrite-other-host", lambda: policy.rewrite_uri(template="//evil.example.com/x"), "rewrite-uri.template", "single '/'"),
    ("rewrite-absolute", lambda: policy.rewrite_uri(template="https://evil.example.com/x"), "rewrite-uri.template", "single '/'"),
    ("rewrite-crlf", lambda: policy.rewrite_uri(template="/x\r\n"), "rewrite-uri.template", "CR"),
    # 4. Credential headers.
    ("authorization-literal", lambda: policy.set_header(name="Authorization", values=[f"Bearer {SECRET}"]), "set-header[Authorization].value", "named_value"),
    ("authorization-lower", lambda: policy.set_header(name="authorization", values=[f"Basic {SECRET}"]), "set-header[authorization].value", "literal credential"),
    ("authorization-literal-template", lambda: policy.set_header(name="Authorization", values=[policy.template(f"Bearer {SECRET}")]), "set-header[Authorization].value", "literal credential"),
    ("proxy-authorization", lambda: policy.set_header(name="Proxy-Authorization", values=[SECRET]), "set-header[Proxy-Authorization].value", "literal credential"),
    ("api-key", lambda: policy.set_header(name="api-key", values=[SECRET]), "set-header[api-key].value", "literal credential"),
    ("x-api-key", lambda: policy.set_header(name="X-API-KEY", values=[SECRET]), "set-header[X-API-KEY].value", "literal credential"),
    ("subscription-key", lambda: policy.set_header(name="Ocp-Apim-Subscription-Key", values=[SECRET]), "set-header[Ocp-Apim-Subscription-Key].value", "literal credential"),
    ("cookie", lambda: policy.set_header(name="Cookie", values=[f"session={SECRET}"]), "set-header[Cookie].value", "literal credential"),
    ("functions-key-literal", lambda: policy.set_header(name="x-functions-key", values=[SECRET]), "set-header[x-functions-key].value", "no function key"),
    ("functions-key-named-value", lambda: policy.set_header(name="X-Functions-Key", values=[nv("fn-key")]), "set-header[X-Functions-Key].value", "no function key"),
    ("functions-key-expression", lambda: policy.set_header(name="x-functions-key", values=[policy.expr('(string)context.Variables["k"]')]), "set-header[x-functions-key].value", "no function key"),
    ("credential-to-caller-outbound", lambda: policy.render(outbound=[policy.set_header(name="Authorization", values=[nv("tok")])]), "outbound[0].set-header[Authorization]", "sent back to the caller"),
    ("credential-to-caller-on-error", lambda: policy.render(on_error=[policy.set_header(name="api-key", values=[policy.expr("1")])]), "on_error[0].set-header[api-key]", "sent back to the caller"),
    ("credential-to-caller-in-choose", lambda: policy.render(outbound=[policy.choose([policy.when(policy.expr("true"), [policy.set_header(name="Cookie", values=[nv("c")])])])]), "outbound[0].choose[0].set-header[Cookie]", "sent back to the caller"),
    ("credential-to-caller-return-response", lambda: policy.return_response(status_code=200, headers=[policy.set_header(name="Authorization", values=[nv("tok")])]), "return-response.headers.set-header[Authorization]", "sent back to the caller"),
    ("authorization-beside-auth", lambda: sr("https://h.example.com/", auth=mi(), headers=[policy.set_header(name="Authorization", values=[nv("t")])]), "send-request.headers", "token sets it"),
    ("password-literal", lambda: policy.authentication_basic(username="u", password=SECRET), "authentication-basic.password", "named_value"),
    ("password-template", lambda: policy.authentication_basic(username="u", password=policy.template(SECRET, nv("x"))), "authentication-basic.password", "named_value"),
    # 5. Numbers, names, shapes.
    ("duration-negative", lambda: policy.cache_store_value(key="k", value="v", duration=-1), "cache-store-value.duration", "from 1 to"),
    ("duration-huge", lambda: policy.cache_store_value(key="k", value="v", duration=2**31), "cache-store-value.duration", "2147483647"),
    ("duration-bool", lambda: policy.cache_store_value(key="k", value="v", duration=True), "cache-store-value.duration", "whole number"),
    ("duration-float", lambda: policy.cache_store_value(key="k", value="v", duration=1.5), "cache-store-value.duration", "whole number"),
    ("duration-string", lambda: policy.cache_store_value(key="k", value="v", duration="300"), "cache-store-value.duration", "whole number"),
    ("timeout-huge", lambda: sr("https://h.example.com/", timeout=10**12), "send-request.timeout", "from 1 to 240"),
    ("timeout-negative", lambda: sr("https://h.example.com/", timeout=-1), "send-request.timeout", "from 1 to 240"),
    ("status-bool", lambda: policy.return_response(status_code=True), "return-response.status-code", "100 to 599"),
    ("backend-id-crlf", lambda: policy.set_backend_service(backend_id="b\r\n"), "set-backend-service.backend-id", "backend id"),
    ("backend-id-braces", lambda: policy.set_backend_service(backend_id="{{b}}"), "set-backend-service.backend-id", "backend id"),
    ("caching-type-list", lambda: policy.cache_lookup_value(key="k", variable_name="v", caching_type=["internal"]), "cache-lookup-value.caching-type", "prefer-external"),
    ("mode-expression", lambda: sr("https://h.example.com/", mode="@(\"new\")"), "send-request.mode", "'new' or 'copy'"),
    ("expr-multi-not-bool", lambda: policy.Expression("1", multi_statement="yes"), "expression.multi_statement", "True or False"),
    ("expr-control", lambda: policy.expr("1\x00"), "expression", "control characters"),
    ("named-value-braces", lambda: nv("a}}{{b"), "named value", "named value name"),
    ("named-value-long", lambda: nv(LONG + LONG), "named value", "named value name"),
    ("headers-none", lambda: sr("https://h.example.com/", headers=None), "send-request.headers", "list"),
    ("headers-not-fragment", lambda: sr("https://h.example.com/", headers=["Authorization: x"]), "send-request.headers", "set_header"),
    ("auth-wrong-type", lambda: sr("https://h.example.com/", auth="managed-identity"), "send-request.auth", "managed_identity_auth"),
    ("when-policies-none", lambda: policy.when(policy.expr("true"), None), "choose.when.policies", "list"),
    ("choose-whens-none", lambda: policy.choose(None), "choose.whens", "policy.when"),
    ("render-single-fragment", lambda: policy.render(inbound=policy.set_variable(name="v", value="1")), "inbound", "list"),
    ("render-not-iterable", lambda: policy.render(inbound=5), "inbound", "list"),
    ("render-string", lambda: policy.render(inbound="<set-header/>"), "inbound", "list"),
    # Long values are cut in the message.
    ("long-url-cut", lambda: sr("http://" + LONG + ".example.com/"), "send-request.set-url", "https://"),
    ("long-header-cut", lambda: policy.set_header(name="X-A", values=[LONG + "\n"]), "set-header[X-A].value", "LF at index 300"),
    ("long-list-cut", lambda: policy.set_header(name="X-A", values=[LONG, 1]), "set-header[X-A].value", "expected a string"),
]


def test_the_corpus_is_large_and_ids_are_unique():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("build, key, phrase", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_refused_with_a_clear_message(build, key, phrase):
    with pytest.raises(PolicyError) as err:
        build()
    message = str(err.value)
    assert message.startswith(key + ": got "), message
    assert "; expected" in message, message
    assert phrase in message, message
    # Never a long value whole, never a credential.
    assert LONG not in message and SECRET not in message, message
    assert len(repr(err.value.value)) <= 80, message
    assert "\r" not in message and "\n" not in message, message


@pytest.mark.parametrize(
    "build",
    [
        lambda: policy.template(nv("vault-url"), "/secrets/", nv("secret-name"), "?api-version=7.4"),
        lambda: policy.template("https://", nv("host"), "/x"),
        lambda: policy.template(nv("x"), " a@b"),  # '@' not leading
        lambda: sr(policy.template(nv("vault-url"), "/secrets/", nv("secret-name"), "?api-version=7.4"), auth=mi()),
        lambda: sr("https://h.example.com:8443/a@b/c?api-version=1&key2=x#frag", auth=mi()),
        lambda: sr(policy.expr('(string)context.Variables["url"]'), auth=mi()),
        lambda: sr(nv("backend-url"), auth=mi()),
        lambda: sbs("HTTPS://Backend.Contoso.com/api"),
        lambda: sbs("https://backend"),  # a single-label name inside a VNet
        lambda: policy.set_header(name="Authorization", values=[policy.template("Bearer ", nv("tok"))]),
        lambda: policy.set_header(name="Authorization", values=[policy.expr('"Bearer " + (string)context.Variables["t"]')]),
        lambda: policy.set_header(name="x-functions-key", exists_action="delete"),
        lambda: policy.render(outbound=[policy.set_header(name="Cookie", exists_action="delete")]),
        lambda: policy.set_header(name="X-Handle", values=["@someone"]),  # escaped, not refused
        lambda: policy.set_variable(name="body", value="line 1\r\nline 2\x00"),  # multi-line allowed, escaped
        lambda: policy.return_response(status_code=400, body="line 1\nline 2"),
        lambda: policy.cache_lookup_value(key=policy.template("user:", nv("tenant")), variable_name="_v1"),
        lambda: policy.rewrite_uri(template="/v2/{path}?x=1"),
        lambda: policy.rewrite_uri(template=policy.template("/v2/", nv("segment"))),
        lambda: policy.cache_store_value(key="k", value="v", duration=2**31 - 1),
    ],
)
def test_legitimate_input_still_renders(build, assert_valid_policy):
    built = build()
    if isinstance(built, policy.Fragment):
        section = "inbound" if "inbound" in built.sections else "outbound"
        assert_valid_policy(policy.render(**{section: [built]}))


def test_escaped_literals_still_round_trip():
    xml = policy.render(inbound=[policy.set_header(name="X-Handle", values=[" @x", "{{not-a-ref}}"]),
                                 policy.set_variable(name="v", value="a\r\nb")])
    doc = etree.fromstring(xml.encode())
    assert [decode_literal(v.text) for v in doc.iter("value")] == [" @x", "{{not-a-ref}}"]
    assert decode_literal(doc.find("inbound/set-variable").get("value")) == "a\r\nb"
    assert "{{" not in xml


# ---------------------------------------------------------------------------------------------------
# Fuzz: one per public fragment constructor.

TOKENS = [
    "@", "@(", "@{", "{{", "}}", "{", "}", "http://", "https://", "HTTP://", "\r\n", "\n", "\r", "\t", "\x00", "\x7f",
    "\x85", "\u2028", "\u202e", "\ufffe", "\ud800", "😀", "ä", " ", "localhost", "127.0.0.1", "[::1]", "169.254.169.254",
    "user:pw@", "?code=", "&sig=", "%63ode=", "/", "..", "\\", ":", "?", "#", "=", "&", "a", "_v", "X-A", "GET",
    "host.example.com", "<", ">", "&amp;", '"', "'", "]]>", "x-functions-key", "Authorization", "internal", "new",
]
_any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=30)
hostile = st.one_of(
    _any_text,
    st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)), max_size=8).map("".join),
)
maybe = lambda s: st.one_of(st.none(), s)


def near(valid):
    """Hostile text, text that fits the argument, or text that fits with a hostile token spliced in."""
    return st.one_of(
        valid, valid, valid, valid, hostile,
        st.tuples(valid, st.sampled_from(TOKENS) | st.text(max_size=2), valid).map("".join),
    )


def mostly(valid):
    return st.one_of(valid, valid, valid, hostile)


def rx(pattern: str):
    return st.from_regex(pattern, fullmatch=True)


_TOKEN_NAME = near(rx(r"[A-Za-z][A-Za-z0-9-]{0,15}"))
HEADER_NAME = st.one_of(_TOKEN_NAME, _TOKEN_NAME, _TOKEN_NAME, st.sampled_from(
    ["Authorization", "Cookie", "x-functions-key", "api-key", "Content-Length"]))
VARIABLE = near(rx(r"[A-Za-z_][A-Za-z0-9_]{0,10}"))
NV_NAME = near(rx(r"[A-Za-z0-9._-]{1,12}"))
PLAIN = near(rx(r"[ -~]{0,20}"))
GOOD_URL = st.tuples(
    st.sampled_from(["https://", "HTTPS://"]),
    st.sampled_from(["h.example.com", "backend", "h.example.com:8443", "kv-1.vault.azure.net"]),
    st.sampled_from(["", "/", "/api/x", "/a@b"]),
    st.sampled_from(["", "?a=1", "?api-version=7.4&x=", "#f"]),
).map("".join)
BAD_URL = st.tuples(
    st.sampled_from(["https://", "HTTPS://", "http://", " https://", "https:/", ""]),
    st.sampled_from(["h.example.com", "localhost", "x.localhost", "127.0.0.1", "169.254.169.254", "[::1]", "[fe80::1]",
                     "u:p@h.example.com", "2130706433", "exаmple.com", "a..b", "h.example.com:0"]),
    st.sampled_from(["", "/", "/api/x", "/../x", "\\x", " /x"]),
    st.sampled_from(["", "?a=1", "?code=x", "?%73ig=1", "?api-version=1&Token=2", "#f", "?x=1;key=2"]),
).map("".join)
URL = st.one_of(GOOD_URL, GOOD_URL, BAD_URL, near(GOOD_URL))
GOOD_PATH = st.tuples(rx(r"(/[a-z0-9{}]{1,8}){1,3}/?"), st.sampled_from(["", "?a=1", "?a={b}"])).map("".join)
BAD_PATH = st.tuples(st.sampled_from(["/", "//", "", "https://h.example.com/"]), rx(r"[a-z{}/.]{0,12}"),
                     st.sampled_from(["", "?a=1", "?code=1", "/..", "/%2e%2e"])).map("".join)
PATH = st.one_of(GOOD_PATH, GOOD_PATH, BAD_PATH, near(GOOD_PATH))
# 100 examples per fragment (150 before the landing-zone and audit tests joined the suite's 90-second budget; every
# strategy above still mixes good, bad and near-miss values, and a fresh machine draws new examples on every run).
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def build(fn, *args, **kwargs):
    """``fn(...)``, or None when it refuses; anything but PolicyError fails the test."""
    try:
        built = fn(*args, **kwargs)
    except PolicyError as exc:
        assert len(repr(exc.value)) <= 80
        event(f"{getattr(fn, '__name__', 'build')} refused: {exc.key}")
        return None
    event(f"{getattr(fn, '__name__', 'build')} accepted")
    return built


def check_rendered(xml: str, assert_valid_policy, *, references: int | None = 0, expressions: int = 0) -> etree._Element:
    """The document validates; literals stayed literals (every '@' value is a string expression we can decode)."""
    assert_valid_policy(xml)
    doc = etree.fromstring(xml.encode())
    if references is not None:
        assert xml.count("{{") == references
    seen_expressions = 0
    for el in doc.iter():
        texts = list(el.attrib.values()) + ([el.text] if el.text and el.text.strip() else [])
        for text in texts:
            if text.startswith("@"):
                try:
                    decode_literal(text)
                except AssertionError:
                    seen_expressions += 1
    assert seen_expressions <= expressions
    return doc


def single_line(text: str) -> bool:
    return not _CONTROL.search(decode_literal(text))


@FUZZ
@given(resource=near(rx(r"api://[a-z0-9-]{1,10}")), client_id=maybe(PLAIN), variable=maybe(VARIABLE))
def test_fuzz_managed_identity_auth(resource, client_id, variable, assert_valid_policy):
    f = build(policy.managed_identity_auth, resource=resource, client_id=client_id, output_token_variable_name=variable)
    if f is not None:
        el = check_rendered(policy.render(inbound=[f]), assert_valid_policy).find("inbound/authentication-managed-identity")
        assert decode_literal(el.get("resource")) == resource and single_line(el.get("resource"))


@FUZZ
@given(name=HEADER_NAME, values=st.lists(PLAIN, max_size=3), action=mostly(st.sampled_from(["override", "append", "skip", "delete"])))
def test_fuzz_set_header(name, values, action, assert_valid_policy):
    f = build(policy.set_header, name=name, values=values, exists_action=action)
    if f is not None:
        doc = check_rendered(policy.render(inbound=[f], outbound=[f] if name.lower() not in {
            "authorization", "proxy-authorization", "api-key", "x-api-key", "ocp-apim-subscription-key", "cookie"} else []),
            assert_valid_policy)
        rendered = [v.text or "" for v in doc.find("inbound/set-header").iter("value")]
        assert [decode_literal(v) for v in rendered] == values
        assert all(single_line(v) for v in rendered)


@FUZZ
@given(url=URL, backend_id=near(rx(r"[a-z][a-z0-9-]{0,10}")))
def test_fuzz_set_backend_service(url, backend_id, assert_valid_policy):
    for kwargs in ({"base_url": url}, {"backend_id": backend_id}):
        f = build(policy.set_backend_service, **kwargs)
        if f is not None:
            el = check_rendered(policy.render(inbound=[f]), assert_valid_policy).find("inbound/set-backend-service")
            if "base_url" in kwargs:
                assert el.get("base-url") == url and url.lower().startswith("https://")


@FUZZ
@given(tpl=PATH)
def test_fuzz_rewrite_uri(tpl, assert_valid_policy):
    f = build(policy.rewrite_uri, template=tpl)
    if f is not None:
        el = check_rendered(policy.render(inbound=[f]), assert_valid_policy).find("inbound/rewrite-uri")
        assert el.get("template") == tpl and tpl.startswith("/")


@FUZZ
@given(name=VARIABLE, value=PLAIN)
def test_fuzz_set_variable(name, value, assert_valid_policy):
    f = build(policy.set_variable, name=name, value=value)
    if f is not None:
        el = check_rendered(policy.render(inbound=[f], outbound=[f]), assert_valid_policy).find("inbound/set-variable")
        assert decode_literal(el.get("value")) == value


@FUZZ
@given(var=VARIABLE, url=URL, method=mostly(st.sampled_from(["GET", "POST", "TRACE"])), body=maybe(PLAIN),
       mode=mostly(st.sampled_from(["new", "copy"])), header=PLAIN, with_auth=st.booleans())
def test_fuzz_send_request(var, url, method, body, mode, header, with_auth, assert_valid_policy):
    headers = [h for h in [build(policy.set_header, name="X-Fuzz", values=[header])] if h is not None]
    f = build(policy.send_request, response_variable_name=var, url=url, method=method, body=body, mode=mode,
              headers=headers, auth=mi() if with_auth else None)
    if f is not None:
        el = check_rendered(policy.render(inbound=[f]), assert_valid_policy).find("inbound/send-request")
        assert el.find("set-url").text == url and url.lower().startswith("https://")


@FUZZ
@given(username=PLAIN, password=NV_NAME)
def test_fuzz_authentication_basic(username, password, assert_valid_policy):
    assert build(policy.authentication_basic, username=username, password=password) is None
    pw = build(policy.named_value, password)
    f = build(policy.authentication_basic, username=username, password=pw)
    if f is not None:
        el = check_rendered(policy.render(inbound=[f]), assert_valid_policy, references=1).find("inbound/authentication-basic")
        assert decode_literal(el.get("username")) == username and single_line(el.get("username"))


@FUZZ
@given(key=PLAIN, variable=VARIABLE, default=maybe(PLAIN), caching=mostly(st.just("internal")))
def test_fuzz_cache_lookup_value(key, variable, default, caching, assert_valid_policy):
    f = build(policy.cache_lookup_value, key=key, variable_name=variable, default_value=default, caching_type=caching)
    if f is not None:
        el = check_rendered(policy.render(inbound=[f]), assert_valid_policy).find("inbound/cache-lookup-value")
        assert decode_literal(el.get("key")) == key and single_line(el.get("key"))


@FUZZ
@given(key=PLAIN, value=PLAIN, duration=st.one_of(st.integers(), st.just(300)), caching=mostly(st.just("external")))
def test_fuzz_cache_store_value(key, value, duration, caching, assert_valid_policy):
    f = build(policy.cache_store_value, key=key, value=value, duration=duration, caching_type=caching)
    if f is not None:
        el = check_rendered(policy.render(outbound=[f]), assert_valid_policy).find("outbound/cache-store-value")
        assert decode_literal(el.get("value")) == value and 0 < int(el.get("duration")) < 2**31


@FUZZ
@given(status=st.one_of(st.integers(), st.integers(100, 599)), reason=maybe(PLAIN), body=maybe(PLAIN), var=maybe(VARIABLE), header=PLAIN)
def test_fuzz_return_response(status, reason, body, var, header, assert_valid_policy):
    headers = [h for h in [build(policy.set_header, name="X-Fuzz", values=[header])] if h is not None]
    f = build(policy.return_response, status_code=status, reason=reason, headers=headers, body=body, response_variable_name=var)
    if f is not None:
        el = check_rendered(policy.render(on_error=[f]), assert_valid_policy).find("on-error/return-response")
        if reason is not None:
            assert el.find("set-status").get("reason") == reason
        if body is not None:
            assert decode_literal(el.find("set-body").text or "") == body


@FUZZ
@given(parts=st.lists(st.one_of(PLAIN, URL, NV_NAME.map(lambda n: ("nv", n))), min_size=0, max_size=5))
def test_fuzz_template(parts, assert_valid_policy):
    built = [build(policy.named_value, p[1]) if isinstance(p, tuple) else p for p in parts]
    if any(b is None for b in built):
        return
    tpl = build(policy.template, *built)
    if tpl is None:
        return
    refs = sum(isinstance(p, policy.NamedValueRef) for p in built)
    for part in built:
        if isinstance(part, str):
            assert part and not part.lstrip().startswith("@") and "{" not in part and "}" not in part
    rendered = tpl.render()
    assert not rendered.lstrip().startswith("@")
    assert "}}{{" not in rendered
    f = policy.set_variable(name="v", value=tpl)
    el = check_rendered(policy.render(inbound=[f]), assert_valid_policy, references=refs).find("inbound/set-variable")
    assert el.get("value") == rendered
    for fn in (lambda: sr(tpl), lambda: sbs(tpl), lambda: policy.rewrite_uri(template=tpl),
               lambda: policy.set_header(name="X-T", values=[tpl])):
        g = build(fn)
        if g is not None:
            check_rendered(policy.render(inbound=[g]), assert_valid_policy, references=refs)


@FUZZ
@given(code=PLAIN, name=NV_NAME, multi=st.booleans())
def test_fuzz_expr_named_value_choose(code, name, multi, assert_valid_policy):
    e = build(policy.Expression, code, multi)
    ref = build(policy.named_value, name)
    fragments = []
    if e is not None:
        fragments.append(policy.choose([policy.when(e, [policy.set_variable(name="v", value=e)])],
                                       otherwise=[policy.set_variable(name="v", value=code)]))
    if ref is not None:
        fragments.append(policy.set_header(name="X-Ref", values=[ref]))
    if fragments:
        check_rendered(policy.render(inbound=fragments), assert_valid_policy, references=None if e is not None else 1,
                       expressions=2 if e is not None else 0)
