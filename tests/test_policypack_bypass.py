"""The policy pack sees what APIM sees: an adversarial corpus.

Each forbidden thing (an x-functions-key header, a ``code`` query parameter, a literal basic-auth password, a
constant key in a credential header) is encoded every way APIM would still understand it (character references,
named entities, CDATA, case changes, percent-encoding, expressions that build the constant, rawxml vs xml, any
case of the format, any policy-bearing resource type in any API-version module) and must be reported. The converse:
every policy the dev and prod stacks render, the send-request rendering, and policies users write the compliant way
produce no finding. Rules are called directly (constructing a PolicyPack starts a server).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "policypack"))

import lastmile_rules as rules  # noqa: E402
from helpers import stack_plan

RULE = "policies-use-managed-identity"
STACK_RULE = "credential-named-values-from-key-vault"
FUZZ = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

MODULES = ["apimanagement", "apimanagement/v20240501", "apimanagement/v20220801", "apimanagement/v20230901preview",
           "apimanagement/v20250301preview"]
TYPES = sorted(rules.POLICY_TYPES)
FORMATS = ["xml", "XML", "Xml", "rawxml", "RAWXML", "RawXml"]


def hits(resource_type, value, fmt):
    return sorted({rule for rule, _ in rules.violations(resource_type, {"value": value, "format": fmt}, "p")})


# --- strategies: how APIM would still read the same thing ------------------------------------------------------

def xml_char(c: str, draw_choice: int) -> str:
    """One character of an attribute value or text, written one of the ways XML allows."""
    forms = [f"&#{ord(c)};", f"&#x{ord(c):x};", f"&#X{ord(c):X};" if False else f"&#x{ord(c):X};"]
    named = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
    if c in named:
        return [named[c], *forms][draw_choice % 3]
    return [c, c, *forms][draw_choice % 4]


@st.composite
def xml_encoded(draw, text: str, cdata: bool = False) -> str:
    """``text`` with characters as references, and (in element text) pieces in CDATA sections."""
    out, i = [], 0
    while i < len(text):
        if cdata and draw(st.integers(0, 4)) == 0:
            j = draw(st.integers(i + 1, len(text)))
            piece = text[i:j]
            if "]]>" not in piece:
                out.append(f"<![CDATA[{piece}]]>")
                i = j
                continue
        out.append(xml_char(text[i], draw(st.integers(0, 11))))
        i += 1
    return "".join(out)


@st.composite
def case_changed(draw, text: str) -> str:
    return "".join(c.upper() if c.isalpha() and draw(st.booleans()) else c for c in text)


def xml_attr_escape(raw: str) -> str:
    return raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@st.composite
def csharp_piece(draw, piece: str, fold_case: bool) -> str:
    """A C# expression whose value is ``piece`` (or, where names compare case-insensitively, another case of it)."""
    kind = draw(st.sampled_from(["regular", "escaped", "verbatim", "interpolated", "chars", "base64", "upper"]))
    if kind == "escaped":
        return '"' + "".join(draw(st.sampled_from([f"\\x{ord(c):04x}", f"\\u{ord(c):04x}", c if c not in '"\\{}' else f"\\u{ord(c):04x}"]))
                             for c in piece) + '"'
    if kind == "verbatim":
        return '@"' + piece.replace('"', '""') + '"'
    if kind == "interpolated":
        return '$"' + piece.replace("\\", "\\\\").replace('"', '\\"').replace("{", "{{").replace("}", "}}") + '"'
    if kind == "chars" and piece and "'" not in piece and "\\" not in piece:
        return "new string(new[] {" + ", ".join(f"'{c}'" for c in piece) + "})"
    if kind == "base64":
        return f'Encoding.UTF8.GetString(Convert.FromBase64String("{base64.b64encode(piece.encode()).decode()}"))'
    if kind == "upper" and fold_case:
        return '"' + piece.upper().replace("\\", "\\\\").replace('"', '\\"') + '".ToLower()'
    return '"' + piece.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def constant_expression(draw, value: str, fold_case: bool = False) -> str:
    """A raw (unescaped) policy expression that reads nothing and evaluates to ``value``."""
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(value) - 1)), max_size=3))) if len(value) > 1 else []
    pieces = [value[a:b] for a, b in zip([0, *cuts], [*cuts, len(value)])]
    parts = [draw(csharp_piece(p, fold_case)) for p in pieces]
    joined = draw(st.sampled_from([" + ".join(parts), f"string.Concat({', '.join(parts)})",
                                   f'String.Join("", {", ".join(parts)})']))
    shape = draw(st.sampled_from(["single", "block", "block-var", "ternary"]))
    if shape == "block":
        return "@{ return " + joined + "; }"
    if shape == "block-var":
        return "@{ var p = " + joined + "; /* constant */ return p; }"
    if shape == "ternary":
        return "@(1 > 0 ? " + joined + ' : "")'
    return "@(" + joined + ")"


@st.composite
def container(draw, inner: str):
    """The policy in a resource: any policy-bearing type, any API-version module, any format case (and the
    expression raw in rawxml, escaped in xml; ``inner`` is a function of the format)."""
    typ = draw(st.sampled_from(TYPES))
    module = draw(st.sampled_from(MODULES))
    fmt = draw(st.sampled_from(FORMATS))
    body = inner(fmt.lower())
    root = "fragment" if typ.endswith("PolicyFragment") else "policies"
    doc = f"<{root}>{body}</{root}>" if root == "fragment" else f"<policies><inbound><base/>{body}</inbound></policies>"
    return f"azure-native:{module}:{typ}", doc, fmt


def as_attr(raw_expression: str, fmt: str) -> str:
    """An expression as an attribute value: raw in rawxml, XML-escaped in xml."""
    return raw_expression if fmt == "rawxml" else xml_attr_escape(raw_expression)


# --- 1. the x-functions-key header ---------------------------------------------------------------------------

@st.composite
def function_key_header(draw):
    name = draw(case_changed("x-functions-key"))
    how = draw(st.sampled_from(["references", "expression", "plain"]))
    expression = draw(constant_expression(name, fold_case=True))
    key = draw(st.sampled_from(["abc123==", "{{orders-key}}", '@((string)context.Variables["k"])']))

    def inner(fmt):
        attr = {"references": draw(xml_encoded(name)), "plain": name, "expression": as_attr(expression, fmt)}[how]
        value = as_attr(key, fmt) if key.startswith("@") else draw(xml_encoded(key, cdata=True))
        return f'<set-header name="{attr}" exists-action="override"><value>{value}</value></set-header>'
    return draw(container(inner))


@FUZZ
@given(function_key_header())
def test_a_function_key_header_is_reported_however_it_is_written(case):
    typ, doc, fmt = case
    assert hits(typ, doc, fmt) == [RULE], doc


# --- 2. a code query parameter, in every place a URL or parameter is set ---------------------------------------

@st.composite
def code_url(draw):
    name = draw(case_changed("code"))
    name = "".join(f"%{ord(c):02X}" if draw(st.integers(0, 3)) == 0 else c for c in name)  # percent-encoding
    before = draw(st.sampled_from(["?", "?api-version=1&", "?x=%26&"]))
    url = f"https://func-orders.azurewebsites.net/api/run{before}{name}=abc123"
    where = draw(st.sampled_from(["base-url", "set-url", "rewrite-uri", "one-way"]))
    how = draw(st.sampled_from(["references", "expression", "plain"]))
    expression = draw(constant_expression(url, fold_case=True))

    def inner(fmt):
        if how == "expression":
            value = as_attr(expression, fmt)
        elif how == "references":
            value = draw(xml_encoded(url))
        else:
            value = url.replace("&", "&amp;")
        if where == "base-url":
            return f'<set-backend-service base-url="{value}"/>'
        if where == "rewrite-uri":
            return f'<rewrite-uri template="{value.replace("https://func-orders.azurewebsites.net", "")}"/>'
        text = value if how != "references" else draw(xml_encoded(url, cdata=True))
        tag = "send-request" if where == "set-url" else "send-one-way-request"
        extra = ' response-variable-name="r"' if tag == "send-request" else ""
        return f'<{tag} mode="new"{extra}><set-url>{text}</set-url><set-method>GET</set-method></{tag}>'
    return draw(container(inner))


@FUZZ
@given(code_url())
def test_a_code_query_parameter_in_a_url_is_reported_however_it_is_written(case):
    typ, doc, fmt = case
    assert hits(typ, doc, fmt) == [RULE], doc


@st.composite
def code_parameter(draw):
    name = draw(case_changed("code"))
    how = draw(st.sampled_from(["references", "expression", "plain"]))
    expression = draw(constant_expression(name, fold_case=True))

    def inner(fmt):
        attr = {"references": draw(xml_encoded(name)), "plain": name, "expression": as_attr(expression, fmt)}[how]
        return (f'<set-query-parameter name="{attr}" exists-action="override"><value>{draw(xml_encoded("abc", cdata=True))}'
                "</value></set-query-parameter>")
    return draw(container(inner))


@FUZZ
@given(code_parameter())
def test_a_code_query_parameter_set_by_name_is_reported_however_it_is_written(case):
    typ, doc, fmt = case
    assert hits(typ, doc, fmt) == [RULE], doc


# --- 3. a literal basic-auth password, and a constant key in a credential header -----------------------------

PASSWORDS = st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="{}@"), min_size=1, max_size=16)


@st.composite
def literal_password(draw):
    password = draw(PASSWORDS)
    how = draw(st.sampled_from(["references", "plain", "expression", "variable"]))
    expression = draw(constant_expression(password))

    def inner(fmt):
        if how == "expression":
            value = as_attr(expression, fmt)
        elif how == "references":
            value = draw(xml_encoded(password))
        elif how == "variable":  # one step removed: a variable this policy sets to a constant
            read = '@((string)context.Variables["lastmilePw"])'
            setter = f'<set-variable name="lastmilePw" value="{draw(xml_encoded(password))}"/>'
            return setter + f'<authentication-basic username="{{{{u}}}}" password="{as_attr(read, fmt)}"/>'
        else:
            value = xml_attr_escape(password)
        return f'<authentication-basic username="{{{{u}}}}" password="{value}"/>'
    return draw(container(inner))


@FUZZ
@given(literal_password())
def test_a_literal_basic_auth_password_is_reported_however_it_is_written(case):
    typ, doc, fmt = case
    assert hits(typ, doc, fmt) == [RULE], doc


@st.composite
def constant_credential_header(draw):
    header = draw(st.sampled_from(["api-key", "Ocp-Apim-Subscription-Key", "Authorization", "x-api-key"]))
    header = draw(case_changed(header))
    key = draw(PASSWORDS)
    as_expression = draw(st.booleans())
    expression = draw(constant_expression(key))
    kind = draw(st.sampled_from(["set-header", "set-query-parameter"]))
    if kind == "set-query-parameter":
        header = draw(st.sampled_from(["sig", "api-key", "subscription-key", "access_token"]))

    def inner(fmt):
        value = as_attr(expression, fmt) if as_expression else draw(xml_encoded(key, cdata=True))
        return f'<{kind} name="{draw(xml_encoded(header))}" exists-action="override"><value>{value}</value></{kind}>'
    return draw(container(inner))


@FUZZ
@given(constant_credential_header())
def test_a_constant_key_in_a_credential_header_or_parameter_is_reported(case):
    typ, doc, fmt = case
    assert hits(typ, doc, fmt) == [RULE], doc


# --- one named case per bypass class (readable, and a guard if the strategies drift) ---------------------------

W = "<policies><inbound><base/>{}</inbound></policies>"
NAMED_BYPASSES = {
    "hex character reference": ("xml", W.format('<set-header name="&#x78;-functions-key" exists-action="override"><value>k</value></set-header>')),
    "decimal character reference": ("xml", W.format('<set-header name="&#120;-functions-key" exists-action="override"><value>k</value></set-header>')),
    "named entity in a URL": ("xml", W.format('<rewrite-uri template="/run?a=1&amp;code=abc"/>')),
    "CDATA in set-url": ("xml", W.format('<send-request mode="new" response-variable-name="r"><set-url><![CDATA[https://f.azurewebsites.net/api?co]]>de=abc</set-url></send-request>')),
    "header name case": ("xml", W.format('<set-header name="X-FUNCTIONS-KEY" exists-action="override"><value>k</value></set-header>')),
    "parameter name case": ("xml", W.format('<set-query-parameter name="CODE" exists-action="override"><value>k</value></set-query-parameter>')),
    "percent-encoding in base-url": ("xml", W.format('<set-backend-service base-url="https://f.azurewebsites.net/api?%63%6Fde=abc"/>')),
    "expression builds the header name": ("rawxml", W.format('<set-header name="@("x-functions-" + "key")" exists-action="override"><value>k</value></set-header>')),
    "expression builds the password": ("rawxml", W.format('<authentication-basic username="u" password="@("hun" + "ter2".ToUpper())"/>')),
    "multi-statement block returns a literal": ("rawxml", W.format('<authentication-basic username="u" password="@{ var p = "x"; return p; }"/>')),
    "verbatim and interpolated strings": ("rawxml", W.format('<authentication-basic username="u" password="@(@"hun" + $"ter{"2"}")"/>')),
    "base64 over a literal": ("rawxml", W.format('<authentication-basic username="u" password="@(Encoding.UTF8.GetString(Convert.FromBase64String("aHVudGVyMg==")))"/>')),
    "C# unicode escapes": ("xml", W.format('<authentication-basic username="u" password="@(&quot;\\u0068unter2&quot;)"/>')),
    "a local named context": ("rawxml", W.format('<authentication-basic username="u" password="@{ var context = "x"; return context; }"/>')),
    "environment variable (not an APIM type)": ("rawxml", W.format('<authentication-basic username="u" password="@(Environment.GetEnvironmentVariable("P"))"/>')),
    "variable set to a constant": ("xml", W.format('<set-variable name="p" value="hunter2"/><authentication-basic username="u" password="@((string)context.Variables[&quot;p&quot;])"/>')),
    "raw rawxml with < and && in the expression": ("rawxml", W.format('<authentication-basic username="u" password="@(1 < 2 && true ? "a" : "b")"/>')),
    "format XML uppercase": ("XML", W.format('<authentication-basic username="u" password="hunter2"/>')),
    "namespaced element": ("xml", '<policies xmlns:x="urn:x"><inbound><x:authentication-basic username="u" password="hunter2"/></inbound></policies>'),
    "proxy password": ("xml", W.format('<proxy url="http://proxy:8080" username="u" password="hunter2"/>')),
}


@pytest.mark.parametrize("fmt, doc", list(NAMED_BYPASSES.values()), ids=list(NAMED_BYPASSES))
@pytest.mark.parametrize("typ", ["azure-native:apimanagement:PolicyFragment", "azure-native:apimanagement/v20240501:ProductPolicy",
                                 "azure-native:apimanagement:WorkspaceApiPolicy", "azure-native:apimanagement:Policy"])
def test_each_bypass_class_is_reported(typ, fmt, doc):
    assert hits(typ, doc, fmt) == [RULE], doc


# --- what the pack cannot inspect is reported ---------------------------------------------------------------------

@pytest.mark.parametrize("value, fmt, says", [
    ("https://contoso.blob.core.windows.net/policies/api.xml", "xml-link", "lives at a URL"),
    ("https://contoso.blob.core.windows.net/policies/api.xml", "RAWXML-LINK", "lives at a URL"),
    (W.format(""), "json", "not one the pack can read"),
    ('<policies><inbound><authentication-basic username="u" password="plain" </inbound>', "xml", "does not parse"),
    (W.format('<authentication-basic username="u" password="@(&quot;a&quot; + context.Variables["x"])"/>'), "xml", "does not parse"),
    (W.format('<authentication-basic username="u" password="&pw;"/>'), "xml", "does not parse"),
    ('<!DOCTYPE policies [<!ENTITY pw "hunter2">]>' + W.format('<authentication-basic username="u" password="&pw;"/>'), "xml", "DTD"),
    ('<!DOCTYPE policies [<!ENTITY pw SYSTEM "file:///etc/passwd">]>' + W.format('<authentication-basic username="u" password="&pw;"/>'), "xml", "DTD"),
    (None, "xml", "not a document"),
    (W.format("") + W.format(""), "rawxml", "does not parse"),
])
def test_a_policy_the_pack_cannot_read_is_reported(value, fmt, says):
    found = rules.violations("azure-native:apimanagement/v20240501:ApiPolicy", {"value": value, "format": fmt}, "p")
    assert [rule for rule, _ in found] == [RULE] and says in found[0][1] and "cannot be inspected" in found[0][1]


def test_every_policy_bearing_class_of_the_installed_sdk_is_read():
    import inspect
    import re

    import pulumi_azure_native.apimanagement as apim

    tokens = set()
    for source in Path(apim.__file__).parent.glob("*.py"):
        if not source.name.startswith("_"):
            tokens |= set(re.findall(r'type_token\("azure-native:apimanagement:(\w+)"\)', source.read_text()))
    classes = {name for name in tokens if name.endswith("Policy") or name.endswith("PolicyFragment")}
    assert {"ApiPolicy", "PolicyFragment", "WorkspaceProductPolicy", "GraphQLApiResolverPolicy"} <= classes
    documents = {name for name in classes if {"value", "format"} <= set(inspect.signature(getattr(apim, f"{name}Args")).parameters)}
    assert documents and documents <= rules.POLICY_TYPES
    assert classes - documents <= rules.NOT_POLICY_DOCUMENTS
    for name in documents:
        for module in MODULES:
            assert rules.policy_resource(f"azure-native:{module}:{name}") == name
    for name in classes - documents:
        assert rules.policy_resource(f"azure-native:apimanagement:{name}") is None


@pytest.mark.parametrize("module", MODULES)
def test_backends_and_named_values_rules_match_every_api_version(module):
    assert rules.violations(f"azure-native:{module}:Backend", {"credentials": {"query": {"CODE": ["k"]}}}, "b")
    assert rules.violations(f"azure-native:{module}:Backend", {"credentials": {"query": {"%63ode": ["k"]}}}, "b")
    assert rules.violations(f"azure-native:{module}:WorkspaceBackend", {"credentials": {"header": {"X-Functions-Key": ["k"]}}}, "b")
    assert rules.violations(f"azure-native:{module}:NamedValue", {"secret": True, "value": "hunter2"}, "n")
    assert rules.violations(f"azure-native:{module}:WorkspaceNamedValue", {"secret": True, "value": "hunter2"}, "n")


# --- the converse: what we render and what users write the compliant way ------------------------------------------

@pytest.fixture(scope="module")
def rendered_policies():
    from apim_lastmile.keyvault_backend import basic_auth_policy

    found = []
    for stack in ("dev", "prod"):
        found += [(r.type, f"{stack}/{r.name}", r.plain_inputs) for r in stack_plan(stack).registrations
                  if r.custom and rules.policy_resource(r.type)]
    for client_id in (None, "f7d02460-a61f-5a94-bc5c-8fb24030ec30"):
        for delivery in ("named-value", "send-request"):
            found.append(("azure-native:apimanagement:ApiPolicy", f"{delivery}/{client_id}", {
                "format": "rawxml", "value": basic_auth_policy("erp", delivery, 300, client_id)}))
    return found


COMPLIANT = {
    "password from a send-request response variable": W.format(
        '<send-request mode="new" response-variable-name="vault" timeout="20"><set-url>{{vault-url}}/secrets/p?api-version=7.4</set-url>'
        '<set-method>GET</set-method><authentication-managed-identity resource="https://vault.azure.net"/></send-request>'
        '<set-variable name="pw" value="@(((IResponse)context.Variables[&quot;vault&quot;]).Body.As&lt;JObject&gt;()[&quot;value&quot;].ToString())"/>'
        '<authentication-basic username="{{u}}" password="@((string)context.Variables[&quot;pw&quot;])"/>'),
    "password from a cache lookup": W.format(
        '<cache-lookup-value key="k" variable-name="pw"/>'
        '<authentication-basic username="{{u}}" password="@(context.Variables.GetValueOrDefault&lt;string&gt;(&quot;pw&quot;))"/>'),
    "password from a variable set in another scope": W.format(
        '<authentication-basic username="{{u}}" password="@((string)context.Variables[&quot;pw&quot;])"/>'),
    "named value backed by Key Vault": W.format('<authentication-basic username="{{u}}" password="{{erp-password}}"/>'),
    "status and return-response": W.format(
        '<return-response><set-status code="200" reason="OK"/><set-header name="Content-Type" exists-action="override">'
        '<value>application/json</value></set-header><set-body>{"code": 1}</set-body></return-response>'),
    "x-ms-version header": W.format('<set-header name="x-ms-version" exists-action="override"><value>2023-11-03</value></set-header>'),
    "caller's function key removed": W.format(
        '<set-header name="x-functions-key" exists-action="delete"/><set-query-parameter name="code" exists-action="delete"/>'),
    "Authorization from a token variable": W.format(
        '<get-authorization-context provider-id="p" authorization-id="a" context-variable-name="auth" identity-type="managed"/>'
        '<set-header name="Authorization" exists-action="override"><value>@("Bearer " + ((Authorization)context.Variables.GetValueOrDefault("auth"))?.AccessToken)</value></set-header>'),
    "raw expression with quotes in rawxml": W.format(
        '<set-header name="Authorization" exists-action="override"><value>@("Bearer " + context.Request.Headers.GetValueOrDefault("X-Token", ""))</value></set-header>'),
    "zipcode is not code": W.format('<rewrite-uri template="/a?zipcode=1"/><set-query-parameter name="zipcode" exists-action="override"><value>1</value></set-query-parameter>'),
    "a comment mentioning a key": W.format('<!-- never send x-functions-key or ?code=; password="hunter2" -->'),
}


def test_every_rendered_policy_produces_no_finding_in_any_container(rendered_policies):
    assert len(rendered_policies) >= 10
    for typ, name, props in rendered_policies:
        assert rules.violations(typ, props, name) == [], name
        for other in ("azure-native:apimanagement/v20240501:ProductPolicy", "azure-native:apimanagement:WorkspacePolicy"):
            assert rules.violations(other, props, name) == [], (other, name)


@pytest.mark.parametrize("fmt", ["xml", "rawxml", "RawXml"])
@pytest.mark.parametrize("doc", list(COMPLIANT.values()), ids=list(COMPLIANT))
def test_compliant_policies_users_write_produce_no_finding(doc, fmt):
    if fmt == "xml" and "raw expression" in doc:
        doc = doc.replace('"Bearer "', "&quot;Bearer &quot;").replace('("X-Token", "")', "(&quot;X-Token&quot;, &quot;&quot;)")
    for typ in ("azure-native:apimanagement:ApiPolicy", "azure-native:apimanagement/v20240501:WorkspaceApiOperationPolicy"):
        assert rules.violations(typ, {"value": doc, "format": fmt}, "p") == [], doc


@FUZZ
@given(st.data())
def test_rendered_policies_stay_clean_under_harmless_re_encoding(rendered_policies, data):
    """Character references for ordinary characters of a rendered policy change nothing APIM sees."""
    import random

    typ, name, props = data.draw(st.sampled_from(rendered_policies))
    text = props["value"]
    # Which characters to re-encode: one drawn seed rather than a draw per character (the policies' retry conditions
    # made that thousands of draws per example).
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    # re-encode letters inside attribute values only (between quotes), where references are always allowed
    out, inside, reference = [], False, False
    for c in text:
        if c == '"':
            inside = not inside
        reference = (reference or c == "&") and c != ";"  # never inside an existing reference (&quot;)
        out.append(f"&#{ord(c)};" if inside and not reference and c.isalnum() and rng.randrange(4) == 0 else c)
    assert rules.violations(typ, {**props, "value": "".join(out)}, name) == []


# --- across resources: the named value behind a password --------------------------------------------------------

def _nv(display, key_vault=True, typ="azure-native:apimanagement:NamedValue", secret=True, nv_id=None):
    props = {"displayName": display, "namedValueId": nv_id or display, "secret": secret}
    if key_vault:
        props["keyVault"] = {"secretIdentifier": f"https://kv.vault.azure.net/secrets/{display}"}
    else:
        props["value"] = "hunter2"
    return typ, props, f"nv-{display}"


def _policy(value, typ="azure-native:apimanagement:ApiPolicy", fmt="rawxml"):
    return typ, {"value": value, "format": fmt}, "api-policy"


BASIC = W.format('<authentication-basic username="{{erp-username}}" password="{{%s}}"/>')


def test_stack_rule_passes_the_dev_and_prod_stacks():
    for stack in ("dev", "prod"):
        resources = [(r.type, r.plain_inputs, r.name) for r in stack_plan(stack).registrations if r.custom]
        assert rules.stack_violations(resources) == [], stack


@pytest.mark.parametrize("secret", [True, False])
@pytest.mark.parametrize("nv_type", ["azure-native:apimanagement:NamedValue", "azure-native:apimanagement/v20240501:NamedValue",
                                     "azure-native:apimanagement:WorkspaceNamedValue"])
@pytest.mark.parametrize("policy_type", ["azure-native:apimanagement:ApiPolicy", "azure-native:apimanagement:PolicyFragment",
                                         "azure-native:apimanagement/v20220801:WorkspaceProductPolicy"])
def test_a_plain_named_value_used_as_a_password_is_reported(secret, nv_type, policy_type):
    found = rules.stack_violations([_nv("ERP-Password", key_vault=False, typ=nv_type, secret=secret),
                                    _policy(BASIC % "erp-password", typ=policy_type)])
    assert [(rule, urn.endswith("::api-policy")) for rule, _, urn in found] == [(STACK_RULE, True)]
    assert "erp-password" in found[0][1] and "one step removed" in found[0][1]


@pytest.mark.parametrize("doc", [
    W.format('<set-variable name="p" value="{{pw}}"/><authentication-basic username="u" password="@((string)context.Variables[&quot;p&quot;])"/>'),
    W.format('<authentication-basic username="u" password="@(&quot;{{pw}}&quot;)"/>'),
    W.format('<set-header name="API-Key" exists-action="override"><value>{{pw}}</value></set-header>'),
    W.format('<set-header name="Authorization" exists-action="override"><value>Basic {{pw}}</value></set-header>'),
    W.format('<proxy url="http://p:8080" username="u" password="{{ pw }}"/>'),
])
def test_a_plain_named_value_used_as_a_credential_anywhere_is_reported(doc):
    assert [rule for rule, _, _ in rules.stack_violations([_nv("pw", key_vault=False), _policy(doc, fmt="xml")])] == [STACK_RULE]
    assert rules.stack_violations([_nv("pw"), _policy(doc, fmt="xml")]) == []


def test_named_values_are_matched_by_display_name():
    # APIM substitutes {{displayName}}: a plain value whose id (not display name) matches is not the one used
    assert rules.stack_violations([_nv("other", key_vault=False, nv_id="erp-password"), _nv("erp-password"),
                                   _policy(BASIC % "erp-password")]) == []
    assert rules.stack_violations([_nv("erp-password", key_vault=False, nv_id="x"), _policy(BASIC % "erp-password")])
    # a non-credential use of a plain named value (the username) is fine, and so is an unknown one
    assert rules.stack_violations([_nv("erp-username", key_vault=False, secret=False), _policy(BASIC % "elsewhere")]) == []


def test_the_stack_rule_is_a_mandatory_stack_validation_policy():
    from pulumi_policy import StackValidationPolicy

    assert {type(r) for r in rules.STACK_RULES} == {StackValidationPolicy}
    named_values = next(r for r in rules.STACK_RULES if r.name == "credential-named-values-from-key-vault")
    assert named_values.enforcement_level.value == "mandatory"
    assert all(r.enforcement_level.value == "mandatory" for r in rules.RULES)
    assert len({r.name for r in rules.ALL_RULES}) == len(rules.ALL_RULES)
