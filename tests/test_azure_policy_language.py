"""The Azure Policy evaluator (tools/azure_policy.py) reads each rule the way Azure documents it, and the landing-zone
reader (tools/landing_zone.py) finds what ALZ enforces by default.

Citations: [rule] = learn.microsoft.com/azure/governance/policy/concepts/definition-structure-policy-rule, [arrays] =
.../policy/how-to/author-policies-for-arrays, [arm] = learn.microsoft.com/azure/azure-resource-manager/templates/
template-functions-*, [research] = docs/research/landing-zone.md. The real definitions come from ../shared/azure-policy.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from apim_lastmile.tools import azure_policy as ap
from apim_lastmile.tools import landing_zone as lz

POLICY_DIR = Path(__file__).resolve().parents[2] / "shared" / "azure-policy"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)

VAULT = {
    "type": "Microsoft.KeyVault/vaults",
    "apiVersion": "2024-11-01",
    "name": "kv-prod",
    "location": "westeurope",
    "tags": {"env": "prod", "Acct.CostCenter": "42"},
    "identity": {"type": "SystemAssigned"},
    "properties": {"tenantId": "t", "sku": {"family": "A", "name": "standard"}, "enableSoftDelete": False,
                   "networkAcls": {"defaultAction": "Deny",
                                   "ipRules": [{"value": "127.0.0.1"}, {"value": "192.168.1.1"}]}},
}

#: The example resource of [arrays] "Referencing array resource properties".
ARRAYS_EXAMPLE = {
    "type": "Microsoft.Test/resourceType",
    "name": "example",
    "tags": {"env": "prod"},
    "properties": {
        "stringArray": ["a", "b", "c"],
        "objectArray": [{"property": "value1", "nestedArray": [1, 2]}, {"property": "value2", "nestedArray": [3, 4]}],
    },
}
T = "Microsoft.Test/resourceType/"


def holds(condition, resource=None, *, parameters=None, api_version="2024-11-01", resource_group=None) -> bool:
    return ap.evaluate({"if": condition, "then": {"effect": "deny"}}, VAULT if resource is None else resource,
                       parameters=parameters or {}, now=NOW, api_version=api_version, resource_group=resource_group)


# --- Conditions [rule, "Conditions"] ------------------------------------------------------------------------------


def test_equals_is_case_insensitive_on_strings():
    """[rule] "all other conditions that evaluate a stringValue are case-insensitive"."""
    assert holds({"field": "type", "equals": "microsoft.keyvault/VAULTS"})
    assert not holds({"field": "type", "equals": "Microsoft.KeyVault/vaults/secrets"})
    assert holds({"field": "type", "notEquals": "Microsoft.Storage/storageAccounts"})


def test_a_boolean_equals_its_text():
    """Built-ins compare booleans to "false" (1e66c121 soft delete); the evaluator's loose equality honours it."""
    assert holds({"field": "Microsoft.KeyVault/vaults/enableSoftDelete", "equals": "false"})
    assert holds({"field": "Microsoft.KeyVault/vaults/enableSoftDelete", "equals": False})
    assert not holds({"field": "Microsoft.KeyVault/vaults/enableSoftDelete", "equals": "true"})


def test_an_absent_field_is_null():
    """[arrays] a missing alias selects null: equals fails, notEquals holds, exists false holds."""
    absent = "Microsoft.KeyVault/vaults/publicNetworkAccess"
    assert not holds({"field": absent, "equals": "Disabled"})
    assert holds({"field": absent, "notEquals": "Disabled"})
    assert holds({"field": absent, "exists": "false"})


@pytest.mark.parametrize("wanted, present", [("true", True), ("false", False), (True, True), (False, False),
                                             ("TRUE", True)])
def test_exists_takes_a_boolean_or_its_string(wanted, present):
    """[rule] ``"exists": "bool"``; ALZ writes both ``"false"`` and ``false`` [research section 2]."""
    assert holds({"field": "Microsoft.KeyVault/vaults/enableSoftDelete", "exists": wanted}) is present
    assert holds({"field": "Microsoft.KeyVault/vaults/enablePurgeProtection", "exists": wanted}) is not present


def test_exists_rejects_anything_else():
    """[rule] exists is a boolean condition: another value fails the evaluation."""
    with pytest.raises(ap.PolicyEvaluationError):
        holds({"field": "name", "exists": "maybe"})


def test_like_uses_the_star_wildcard_case_insensitively():
    """[rule] "When using the like and notLike conditions, you provide a wildcard character (*)"."""
    assert holds({"field": "name", "like": "KV-*"})
    assert holds({"field": "name", "like": "*prod"})
    assert not holds({"field": "name", "like": "kv-dev*"})
    assert holds({"field": "name", "notLike": "st*"})
    assert not holds({"field": "name", "like": "kv"})


def test_match_patterns_and_their_case():
    """[rule] match: # a digit, ? a letter, . any character; match and notMatch are case-sensitive."""
    resource = {**VAULT, "name": "Ab1-x"}
    assert holds({"field": "name", "match": "??#-."}, resource)
    assert holds({"field": "name", "match": "Ab1-x"}, resource)
    assert not holds({"field": "name", "match": "ab1-x"}, resource)
    assert holds({"field": "name", "notMatch": "ab1-x"}, resource)
    assert holds({"field": "name", "matchInsensitively": "ab1-X"}, resource)
    assert not holds({"field": "name", "notMatchInsensitively": "ab1-X"}, resource)
    assert not holds({"field": "name", "match": "??#"}, resource), "the whole value must match"


def test_in_and_not_in():
    """[rule] in/notIn take an array; string comparison is case-insensitive."""
    assert holds({"field": "location", "in": ["WESTEUROPE", "northeurope"]})
    assert holds({"field": "location", "notIn": ["eastus"]})
    assert not holds({"field": "location", "notIn": ["westeurope"]})
    assert holds({"field": "name", "in": "[parameters('names')]"}, parameters={"names": ["kv-prod"]})


def test_in_needs_an_array():
    """[arrays] "With the in and notIn condition, the policy engine expects the type array"."""
    with pytest.raises(ap.PolicyEvaluationError):
        holds({"field": "name", "in": "kv-prod"})


def test_location_is_normalized():
    """[rule] "Location fields are normalized ... East US 2 is considered equal to eastus2"."""
    assert holds({"field": "location", "equals": "West Europe"})


def test_contains_and_contains_key():
    """[rule] contains/notContains on strings (case-insensitive), containsKey/notContainsKey on objects."""
    assert holds({"field": "name", "contains": "V-PR"})
    assert holds({"field": "name", "notContains": "dev"})
    assert holds({"field": "tags", "containsKey": "ENV"})
    assert holds({"field": "tags", "notContainsKey": "owner"})
    assert not holds({"field": "Microsoft.KeyVault/vaults/publicNetworkAccess", "contains": "x"})


def test_less_and_greater_on_integers():
    """[rule] ``"less": intValue``."""
    assert holds({"count": {"field": "Microsoft.KeyVault/vaults/networkAcls.ipRules[*]"}, "greater": 1})
    assert holds({"count": {"field": "Microsoft.KeyVault/vaults/networkAcls.ipRules[*]"}, "lessOrEquals": 2})
    assert not holds({"count": {"field": "Microsoft.KeyVault/vaults/networkAcls.ipRules[*]"}, "less": 2})


def test_less_and_greater_on_strings_ignore_case():
    """[rule] "String comparisons are made using InvariantCultureIgnoreCase": "a" < "B" (ordinal says otherwise)."""
    assert holds({"value": "a", "less": "B"})
    assert holds({"value": "1.2", "greaterOrEquals": "1.2"})
    assert holds({"value": "[requestContext().apiVersion]", "less": "2021-06-01-preview"}, api_version="2019-09-01")


def test_less_and_greater_compare_dates_as_dates():
    """[rule] ``"less": "dateValue"``: 10:00+02:00 is before 09:00Z although its text sorts after it."""
    assert holds({"value": "2026-01-01T10:00:00+02:00", "less": "2026-01-01T09:00:00Z"})
    assert holds({"value": "2026-01-02", "greater": "2026-01-01T23:59:59.9999999Z"})


def test_ordering_values_of_different_types_fails():
    """[rule] "if the property type doesn't match the condition type, an error is thrown"."""
    with pytest.raises(ap.PolicyEvaluationError):
        holds({"value": "abc", "less": 3})


def test_an_unknown_operator_is_reported_not_guessed():
    with pytest.raises(ap.UnsupportedPolicyLanguage):
        holds({"field": "name", "startsWith": "kv"})
    assert ap.unsupported_features({"if": {"field": "name", "startsWith": "kv"}})


def test_logical_operators():
    """[rule] "Logical operators": allOf, anyOf, not, nested."""
    yes, no = {"field": "name", "equals": "kv-prod"}, {"field": "name", "equals": "other"}
    assert holds({"allOf": [yes, {"not": no}]})
    assert not holds({"allOf": [yes, no]})
    assert holds({"anyOf": [no, yes]})
    assert not holds({"not": {"anyOf": [no, yes]}})


# --- Fields [rule, "Fields"] --------------------------------------------------------------------------------------


def test_name_full_name_and_id_of_a_child():
    """[rule] fullName is "the resource name prepended by any parent resource names"; id is the resource ID."""
    subnet = {"type": "Microsoft.Network/virtualNetworks/subnets", "name": "vnet/pe", "properties": {}}
    assert holds({"field": "name", "equals": "pe"}, subnet)
    assert holds({"field": "fullName", "equals": "vnet/pe"}, subnet)
    assert holds({"field": "id", "like": "/subscriptions/*/resourceGroups/rg/providers/Microsoft.Network/"
                                        "virtualNetworks/vnet/subnets/pe"}, subnet, resource_group={"name": "rg"})


def test_tags_in_their_three_spellings():
    """[rule] tags['name'], tags.name and tags[name]; bracket syntax for names with dots."""
    assert holds({"field": "tags['Acct.CostCenter']", "equals": "42"})
    assert holds({"field": "tags.env", "equals": "prod"})
    assert holds({"field": "tags[env]", "equals": "PROD"})
    assert holds({"field": "[concat('tags[', parameters('tag'), ']')]", "exists": "true"}, parameters={"tag": "env"})


def test_kind_and_identity_type():
    """[rule] kind and identity.type are fields."""
    site = {"type": "Microsoft.Web/sites", "name": "fn", "kind": "functionapp,linux",
            "identity": {"type": "SystemAssigned, UserAssigned"}, "properties": {}}
    assert holds({"field": "kind", "contains": "functionapp"}, site)
    assert holds({"field": "identity.type", "contains": "UserAssigned"}, site)


# --- Arrays [arrays] ----------------------------------------------------------------------------------------------

_IP = {"field": "Microsoft.KeyVault/vaults/networkAcls.ipRules[*].value"}


@pytest.mark.parametrize("condition, effect", [
    ({**_IP, "notEquals": "127.0.0.1"}, False),
    ({**_IP, "notEquals": "10.0.4.1"}, True),
    ({"not": {**_IP, "equals": "127.0.0.1"}}, True),
    ({"not": {**_IP, "equals": "10.0.4.1"}}, True),
    ({"not": {**_IP, "notEquals": "127.0.0.1"}}, True),
    ({"not": {**_IP, "notEquals": "10.0.4.1"}}, False),
    ({**_IP, "equals": "127.0.0.1"}, False),
    ({**_IP, "equals": "10.0.4.1"}, False),
])
def test_star_alias_in_a_field_condition_is_an_implicit_all_of(condition, effect):
    """[arrays] "Evaluating the [*] alias": the documented outcome table for ipRules [127.0.0.1, 192.168.1.1]."""
    assert holds(condition) is effect


def test_star_alias_on_a_missing_array_holds_vacuously():
    """[arrays]: a missing array selects "an empty collection of values" and the field condition checks that "all"
    selected values meet it: none fail, so it holds (the docs' own example guards with ``exists: true`` for this)."""
    missing = "Microsoft.KeyVault/vaults/networkAcls.virtualNetworkRules[*].id"
    assert holds({"field": missing, "equals": "anything"})
    assert holds({"field": missing, "exists": "true"})
    assert holds({"count": {"field": "Microsoft.KeyVault/vaults/networkAcls.virtualNetworkRules[*]"}, "equals": 0})


@pytest.mark.parametrize("alias, expected", [
    ("missingArray", ""),
    ("missingArray[*]", []),
    ("missingArray[*].property", []),
    ("stringArray", ["a", "b", "c"]),
    ("stringArray[*]", ["a", "b", "c"]),
    ("objectArray[*].property", ["value1", "value2"]),
    ("objectArray[*].nestedArray", [[1, 2], [3, 4]]),
    ("objectArray[*].nestedArray[*]", [1, 2, 3, 4]),
])
def test_field_function_returns_the_documented_values(alias, expected):
    """[arrays] the table "When using the field() function on the example resource content"."""
    assert holds({"value": f"[field('{T}{alias}')]", "equals": expected}, ARRAYS_EXAMPLE)
    assert not holds({"value": f"[field('{T}{alias}')]", "equals": ["z"]}, ARRAYS_EXAMPLE)


@pytest.mark.parametrize("count, expected", [
    ({"field": T + "stringArray[*]"}, 3),
    ({"field": T + "objectArray[*].nestedArray[*]"}, 4),
    ({"field": T + "stringArray[*]", "where": {"field": T + "stringArray[*]", "equals": "a"}}, 1),
    ({"field": T + "objectArray[*]", "where": {"allOf": [
        {"field": T + "objectArray[*].property", "equals": "value2"},
        {"field": T + "objectArray[*].nestedArray[*]", "greater": 2}]}}, 1),
    ({"field": T + "objectArray[*]", "where": {"field": "tags.env", "equals": "prod"}}, 2),
    ({"field": T + "objectArray[*]", "where": {"allOf": [
        {"field": T + "objectArray[*].property", "equals": "value2"},
        {"count": {"field": T + "objectArray[*].nestedArray[*]",
                   "where": {"field": T + "objectArray[*].nestedArray[*]", "equals": 3}}, "greater": 0}]}}, 1),
    ({"field": T + "stringArray[*]",
      "where": {"field": T + "stringArray[*]", "equals": f"[field('{T}stringArray[*]')]"}}, 0),
    ({"field": T + "stringArray[*]",
      "where": {"field": T + "stringArray[*]", "equals": f"[first(field('{T}stringArray[*]'))]"}}, 3),
])
def test_field_count_counts_like_the_documented_iterations(count, expected):
    """[arrays] "Count expressions": without where the length; with where each member "as if it is the only member";
    field() of the counted alias inside where is a one-member array, so only first() compares equal."""
    assert holds({"count": count, "equals": expected}, ARRAYS_EXAMPLE)
    assert not holds({"count": count, "equals": expected + 1}, ARRAYS_EXAMPLE)


def test_current_reads_the_counted_member():
    """[rule] "The current function": current('<array alias>') inside a field count (doc example 6)."""
    vnet = {"type": "Microsoft.Network/virtualNetworks", "name": "v", "location": "westeurope",
            "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/24", "10.1.0.0/24"]}}}
    prefixes = "Microsoft.Network/virtualNetworks/addressSpace.addressPrefixes[*]"
    outside = {"count": {"field": prefixes, "where": {
        "value": f"[ipRangeContains('10.0.0.0/16', current('{prefixes}'))]", "equals": False}}, "equals": 1}
    assert holds(outside, vnet)


def test_value_count_with_a_name_and_without():
    """[rule] value count examples 1-3: current('pattern'), current() and an array parameter."""
    named = {"count": {"value": ["st*", "kv-*"], "name": "pattern",
                       "where": {"field": "name", "like": "[current('pattern')]"}}, "greater": 0}
    unnamed = {"count": {"value": "[parameters('patterns')]", "where": {"field": "name", "like": "[current()]"}},
               "equals": 1}
    assert holds(named)
    assert holds(unnamed, parameters={"patterns": ["KV-*", "x*"]})
    assert not holds(unnamed, parameters={"patterns": ["x*"]})


def test_value_count_needs_an_array():
    with pytest.raises(ap.PolicyEvaluationError):
        holds({"count": {"value": "[parameters('p')]"}, "equals": 0}, parameters={"p": "one"})


def test_value_count_objects_and_nested_field_count():
    """[rule] value count example 5: reserved NSG rules given as objects, a field count nested in a value count."""
    nsg = {"type": "Microsoft.Network/networkSecurityGroups", "name": "n", "location": "westeurope", "properties": {
        "securityRules": [{"name": "ssh", "properties": {"priority": 101, "access": "Deny", "direction": "Inbound",
                                                        "destinationPortRange": "22"}}]}}
    rules = "Microsoft.Network/networkSecurityGroups/securityRules[*]"
    matching = {"allOf": [{"field": rules + ".priority", "equals": "[current('r').priority]"},
                          {"field": rules + ".access", "equals": "[current('r').access]"},
                          {"field": rules + ".destinationPortRange", "equals": "[current('r').destinationPortRange]"}]}
    reserved = {"count": {"value": "[parameters('reserved')]", "name": "r",
                          "where": {"count": {"field": rules, "where": matching}, "equals": 1}},
                "equals": "[length(parameters('reserved'))]"}
    ssh = {"priority": 101, "access": "deny", "destinationPortRange": 22}
    assert holds(reserved, nsg, parameters={"reserved": [ssh]})
    assert not holds(reserved, nsg, parameters={"reserved": [ssh, {**ssh, "destinationPortRange": 3389}]})


# --- Template functions [rule, "Policy functions"; arm] -----------------------------------------------------------


@pytest.mark.parametrize("expression, expected", [
    ("[parameters('effect')]", "Deny"),
    ("[int('3389')]", 3389),
    ("[string(3389)]", "3389"),
    ("[split('1000-2000', '-')]", ["1000", "2000"]),
    ("[first(split('1000-2000', '-'))]", "1000"),
    ("[last(split('1000-2000', '-'))]", "2000"),
    ("[if(equals(1, 1), 'yes', 'no')]", "yes"),
    ("[and(true, not(false))]", True),
    ("[or(false, false)]", False),
    ("[empty('')]", True),
    ("[contains('abc', 'B')]", False),
    ("[equals('a', 'A')]", False),
    ("[less(2, 10)]", True),
    ("[lessOrEquals('a', 'a')]", True),
    ("[greater('b', 'a')]", True),
    ("[greaterOrEquals(3, 4)]", False),
    ("[addDays('2026-12-03T12:00:00Z', 90)]", "2027-03-03T12:00:00.0000000Z"),
    ("[utcNow()]", "2026-12-03T12:00:00.0000000Z"),
    ("[toLower('TLS1_2')]", "tls1_2"),
    ("[concat('a', 'b', 1)]", "ab1"),
    ("[length(field('tags'))]", 2),
    ("[indexOf('FunctionApp,Linux', 'linux')]", 12),
    ("[coalesce(null, 'x')]", "x"),
    ("[resourceGroup().location]", "westeurope"),
    ("[requestContext().apiVersion]", "2024-11-01"),
    ("[field('Microsoft.KeyVault/vaults/networkAcls.ipRules[*].value')[1]]", "192.168.1.1"),
    ("[[parameters('effect')]", "[[parameters('effect')]"),
])
def test_template_functions(expression, expected):
    """[rule] "Policy functions" and [arm]: ARM's contains() and equals() are case-sensitive, indexOf() is not;
    utcNow() and addDays() give ``yyyy-MM-ddTHH:mm:ss.fffffffZ``; ``[[`` escapes a literal ``[``."""
    assert holds({"value": expression, "equals": expected}, parameters={"effect": "Deny"},
                 resource_group={"name": "rg", "location": "westeurope"})
    assert not holds({"value": expression, "equals": "something else"}, parameters={"effect": "Deny"},
                     resource_group={"name": "rg", "location": "westeurope"})


@pytest.mark.parametrize("expression, expected", [
    ("[string(true)]", "True"),
    ("[string(parameters('o'))]", '{"k":["!"]}'),
    ("[contains(parameters('o'), 'K')]", True),
    ("[contains(parameters('o').k, '!')]", True),
    ("[bool('TRUE')]", True),
    ("[bool(0)]", False),
    ("[equals(parameters('o'), parameters('o'))]", True),
    ("[concat(parameters('o').k, parameters('o').k)]", ["!", "!"]),
    ("[ipRangeContains('10.0.0.0/24', '10.0.0.5-10.0.0.9')]", True),
    ("[ipRangeContains('10.0.0.0/24', '10.0.1.0/30')]", False),
])
def test_template_functions_on_other_types(expression, expected):
    """[arm] string() of a boolean and an object, contains() on an object's keys (case-insensitive) and an array,
    bool(), equals() and concat() on arrays and objects; [rule] ipRangeContains() with CIDR and start-end ranges."""
    parameters = {"o": {"k": ["!"]}}
    assert holds({"value": expression, "equals": expected}, parameters=parameters)
    assert not holds({"value": expression, "equals": "something else"}, parameters=parameters)


def test_if_evaluates_only_the_branch_it_takes():
    """[arm] logical "if": only the selected branch is evaluated ([rule] "Avoiding template failures" relies on it)."""
    assert holds({"value": "[if(contains('*', '-'), int('*'), 'false')]", "equals": "false"})
    with pytest.raises(ap.PolicyEvaluationError):
        holds({"value": "[if(true, int('*'), 'false')]", "equals": "false"})


@pytest.mark.parametrize("expression", [
    "[int('abc')]", "[parameters('missing')]", "[first(3)]", "[addDays('not a date', 1)]", "[resourceGroup().nope]",
    "[and('yes', true)]", "[length(null)]", "[split(3, '-')]", "[ipRangeContains('10.0.0.0/8', '::1')]",
    "[current()]",
])
def test_a_function_error_fails_the_evaluation(expression):
    """[rule] "If the result of a template function is an error, policy evaluation fails ... an implicit deny"."""
    with pytest.raises(ap.PolicyEvaluationError):
        holds({"value": expression, "equals": "x"})


def test_escaped_brackets_are_literals():
    """[arm] a string starting ``[[`` is the literal text with one bracket less, never evaluated."""
    assert holds({"field": "name", "equals": "[[kv-prod]"}, {**VAULT, "name": "[kv-prod]"})
    assert ap.resolve_template_value(["[[x]", {"k": "[[y]"}], {}) == ["[x]", {"k": "[y]"}]
    assert not ap.is_template_expression("[[parameters('x')]")


def test_expression_syntax():
    """Strings with '' escapes, numbers, parentheses, property and index access."""
    node = ap.parse_expression("[concat('it''s', string((1)), parameters('o').k[0])]")
    assert ap.evaluate_expression(node, {**ap.STATELESS_FUNCTIONS, "parameters": lambda n: {"k": ["!"]}}) == "it's1!"
    with pytest.raises(ap.UnsupportedPolicyLanguage):
        ap.parse_expression("[concat('a' 'b')]")
    with pytest.raises(ap.UnsupportedPolicyLanguage):
        holds({"value": "[empty(createArray)]", "equals": True})
    assert ap.unsupported_features({"if": {"value": "[padLeft('1', 2, '0')]", "equals": "01"}}) == [
        "template function padLeft() is not implemented"]


# --- Aliases -> ARM paths [research section 3] ----------------------------------------------------------------------


@pytest.mark.parametrize("alias, resource_type, path", [
    ("Microsoft.Storage/storageAccounts/minimumTlsVersion", "Microsoft.Storage/storageAccounts",
     ("properties", "minimumTlsVersion")),
    ("Microsoft.Storage/storageAccounts/sku.name", "Microsoft.Storage/storageAccounts", ("sku", "name")),
    ("Microsoft.Network/networkSecurityGroups/securityRules[*].access", "Microsoft.Network/networkSecurityGroups",
     ("properties", "securityRules", ap.EACH, "properties", "access")),
    ("Microsoft.Network/networkSecurityGroups/securityRules[*].name", "Microsoft.Network/networkSecurityGroups",
     ("properties", "securityRules", ap.EACH, "name")),
    ("Microsoft.Network/virtualNetworks/subnets[*].networkSecurityGroup.id", "Microsoft.Network/virtualNetworks",
     ("properties", "subnets", ap.EACH, "properties", "networkSecurityGroup", "id")),
    ("Microsoft.Network/privateEndpoints/privateLinkServiceConnections[*].groupIds[*]",
     "Microsoft.Network/privateEndpoints",
     ("properties", "privateLinkServiceConnections", ap.EACH, "properties", "groupIds", ap.EACH)),
    ("Microsoft.Storage/storageAccounts/networkAcls.ipRules[*].value", "Microsoft.Storage/storageAccounts",
     ("properties", "networkAcls", "ipRules", ap.EACH, "value")),
    ("Microsoft.Web/sites/config/minTlsVersion", "Microsoft.Web/sites/config", ("properties", "minTlsVersion")),
    ("Microsoft.Web/sites/config/minTlsVersion", "Microsoft.Web/sites", None),
    ("Microsoft.Network/virtualNetworks/subnets/networkSecurityGroup.id", "Microsoft.Network/virtualNetworks/subnets",
     ("properties", "networkSecurityGroup", "id")),
    ("Microsoft.Web/sites/sku", "Microsoft.Web/sites", ("properties", "sku")),
    ("Microsoft.KeyVault/vaults/publicNetworkAccess", "Microsoft.Storage/storageAccounts", None),
])
def test_alias_to_arm_path(alias, resource_type, path):
    """Properties under ``properties``, root fields at the root, a sub-resource element's ``properties`` wrapper
    skipped except for name/id, child-type aliases only on the child, and the exceptions table."""
    assert ap.arm_path(alias, resource_type) == path


def test_child_type_alias_reads_the_child_resource_only():
    """[research section 3] sites/config/minTlsVersion is the config resource's property, not the site's siteConfig."""
    alias = "Microsoft.Web/sites/config/minTlsVersion"
    site = {"type": "Microsoft.Web/sites", "name": "fn", "properties": {"siteConfig": {"minTlsVersion": "1.0"}}}
    config = {"type": "Microsoft.Web/sites/config", "name": "fn/web", "properties": {"minTlsVersion": "1.0"}}
    assert holds({"field": alias, "exists": "false"}, site)
    assert holds({"field": alias, "less": "1.2"}, config)


def test_every_exception_names_its_source():
    assert ap.ALIAS_PATH_EXCEPTIONS and all(e.source and e.arm_path for e in ap.ALIAS_PATH_EXCEPTIONS.values())


# --- Key Vault data-plane mode [research sections 1c and 3] -------------------------------------------------------


def test_a_template_secret_in_key_vault_data_view():
    """expiresOn <- properties.attributes.exp (epoch seconds), createdOn <- now, contentType <-
    properties.contentType."""
    secret = {"type": "Microsoft.KeyVault/vaults/secrets", "name": "kv/s",
              "properties": {"contentType": "text/plain", "attributes": {"exp": 1800000000}}}
    view = ap.key_vault_secret_data_view(secret, NOW)
    data = "Microsoft.KeyVault.Data/vaults/secrets/"
    assert holds({"field": "type", "equals": "Microsoft.KeyVault.Data/vaults/secrets"}, view)
    assert holds({"field": data + "attributes.expiresOn", "equals": "2027-01-15T08:00:00.0000000Z"}, view)
    assert holds({"field": data + "attributes.createdOn", "equals": ap.format_policy_datetime(NOW)}, view)
    assert holds({"field": data + "contentType", "equals": "text/plain"}, view)
    bare = ap.key_vault_secret_data_view({**secret, "properties": {"value": "x"}}, NOW)
    assert holds({"allOf": [{"field": data + "contentType", "exists": False},
                            {"field": data + "attributes.expiresOn", "exists": False}]}, bare)


# --- Real definitions from ../shared/azure-policy -------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def landing() -> lz.LandingZone:
    if not (POLICY_DIR / "alz" / "eslzArm.json").is_file():
        pytest.fail(f"Azure Policy sources not found at {POLICY_DIR}: put shared/ beside the repo")
    return lz.load_landing_zone(POLICY_DIR)


def rule(assignment: str, definition: str) -> lz.Rule:
    """The rule ``assignment`` applies from the definition whose name starts with ``definition``."""
    found = [r for r in landing().rules if r.assignment == assignment
             and r.definition_id.rsplit("/", 1)[-1].lower().startswith(definition.lower())]
    assert len(found) == 1, (assignment, definition, found)
    return found[0]


def applies(found: lz.Rule, resource: dict) -> bool:
    subject = lz.view_for_mode(found.mode, resource, NOW)
    assert subject is not None, f"mode {found.mode} does not evaluate {resource['type']}"
    return ap.evaluate(found.policy_rule, subject, parameters=found.parameters, now=NOW,
                       api_version=resource.get("apiVersion", ""))


def test_key_vault_public_network_access():
    """405c5871 (Corp, Deny): a vault without ``publicNetworkAccess: Disabled`` is refused, with it passes; before
    API 2021-06-01-preview every vault matches (the rule's own requestContext() branch)."""
    found = rule("Deny-Public-Endpoints", "405c5871")
    vault = {**VAULT, "properties": {**VAULT["properties"]}}
    assert applies(found, vault)
    vault["properties"]["publicNetworkAccess"] = "Disabled"
    assert not applies(found, vault)
    assert applies(found, {**vault, "apiVersion": "2019-09-01"})


VNET = {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01", "name": "vnet",
        "location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}


def _vnet(*subnets: dict) -> dict:
    return {**VNET, "properties": {**VNET["properties"], "subnets": list(subnets)}}


def _subnet(name: str, nsg: bool = False) -> dict:
    properties = {"addressPrefix": "10.0.1.0/24"}
    if nsg:
        properties["networkSecurityGroup"] = {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
                                                    "networkSecurityGroups/nsg"}
    return {"name": name, "properties": properties}


def test_deny_subnet_without_nsg():
    """Deny-Subnet-Without-Nsg (LZ, Deny): an inline or child subnet without NSG is refused, with one passes, the
    excluded names (GatewaySubnet, ...) pass, a vnet without subnets passes."""
    found = rule("Deny-Subnet-Without-Nsg", "Deny-Subnet-Without-Nsg")
    assert applies(found, _vnet(_subnet("pe")))
    assert applies(found, _vnet(_subnet("ok", nsg=True), _subnet("pe")))
    assert not applies(found, _vnet(_subnet("pe", nsg=True)))
    assert not applies(found, _vnet(_subnet("GatewaySubnet"), _subnet("AzureFirewallSubnet")))
    assert not applies(found, VNET)
    child = {"type": "Microsoft.Network/virtualNetworks/subnets", "apiVersion": "2024-05-01", "name": "vnet/pe",
             "properties": _subnet("pe")["properties"]}
    assert applies(found, child)
    assert not applies(found, {**child, "properties": _subnet("pe", nsg=True)["properties"]})
    assert not applies(found, {**child, "name": "vnet/GatewaySubnet"})


def _nsg(**rule_properties) -> dict:
    properties = {"access": "Allow", "direction": "Inbound", "protocol": "Tcp", "sourcePortRange": "*",
                  "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "priority": 100, **rule_properties}
    return {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2024-05-01", "name": "nsg",
            "location": "westeurope", "properties": {"securityRules": [{"name": "r", "properties": properties}]}}


@pytest.mark.parametrize("rule_properties, refused", [
    ({"destinationPortRange": "3389"}, True),
    ({"destinationPortRange": "3000-4000"}, True),
    ({"destinationPortRange": "*", "sourceAddressPrefix": "Internet"}, True),
    ({"destinationPortRanges": ["443", "20-23"], "sourceAddressPrefix": "0.0.0.0/0"}, True),
    ({"destinationPortRange": "22", "sourceAddressPrefixes": ["10.0.0.0/8", "Internet"]}, True),
    ({"destinationPortRange": "443"}, False),
    ({"destinationPortRange": "3390-4000"}, False),
    ({"destinationPortRanges": ["80", "443"]}, False),
    ({"destinationPortRange": "3389", "access": "Deny"}, False),
    ({"destinationPortRange": "3389", "sourceAddressPrefix": "10.0.0.0/8"}, False),
    ({"destinationPortRange": "22", "direction": "Outbound"}, False),
])
def test_deny_management_ports_from_internet(rule_properties, refused):
    """Deny-MgmtPorts-From-Internet (LZ, Deny, ports 22/3389): an Allow Inbound rule from */Internet/0.0.0.0/0
    covering a port, directly or by a range parsed with split()/int(), is refused; as an NSG and as a child rule."""
    found = rule("Deny-MgmtPorts-Internet", "Deny-MgmtPorts-From-Internet")
    nsg = _nsg(**rule_properties)
    assert applies(found, nsg) is refused
    child = {"type": "Microsoft.Network/networkSecurityGroups/securityRules", "apiVersion": "2024-05-01",
             "name": "nsg/r", "properties": nsg["properties"]["securityRules"][0]["properties"]}
    assert applies(found, child) is refused


def _secret(**properties) -> dict:
    return {"type": "Microsoft.KeyVault/vaults/secrets", "apiVersion": "2024-11-01", "name": "kv/s",
            "properties": {"value": "v", **properties}}


def _expiry(days: int) -> int:
    return int((NOW + timedelta(days=days)).timestamp())


def test_secret_content_type():
    """75262d3e (LZ, Deny): a secret without contentType is refused."""
    found = rule("Enforce-GR-KeyVault", "75262d3e")
    assert applies(found, _secret())
    assert not applies(found, _secret(contentType="text/plain"))


@pytest.mark.parametrize("attributes, refused", [
    ({}, True),
    ({"exp": _expiry(89)}, False),
    ({"exp": _expiry(90)}, False),
    ({"exp": _expiry(100)}, True),
])
def test_secret_validity_period(attributes, refused):
    """342e8053 (LZ, Deny, 90 days): no exp is refused, exp within created + 90 days passes, beyond is refused."""
    found = rule("Enforce-GR-KeyVault", "342e8053")
    assert found.parameters["maximumValidityInDays"] == 90
    assert applies(found, _secret(contentType="text/plain", attributes=attributes)) is refused


def test_storage_minimum_tls():
    """fe83a0eb (LZ via Enforce-TLS-SSL, Deny, TLS1_2): TLS1_0 or none is refused, TLS1_2 passes."""
    found = rule("Enforce-TLS-SSL-Q225", "fe83a0eb")
    storage = {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01", "name": "st",
               "location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}}
    assert applies(found, storage)
    assert applies(found, {**storage, "properties": {"minimumTlsVersion": "TLS1_0"}})
    assert not applies(found, {**storage, "properties": {"minimumTlsVersion": "TLS1_2"}})


# --- The landing-zone reader [research section 1] -----------------------------------------------------------------


def test_json_with_comments_keeps_strings_intact(tmp_path):
    """[research section 1] eslzArm.json carries // and /* */ comments and trailing commas; "//" inside a string
    (a URL) stays, and ALZ's "[[" escapes lose one bracket once deployed."""
    source = tmp_path / "t.json"
    source.write_text('{"a": "https://x//y", // note\n /* block\n */ "b": ["[[parameters(\'e\')]", 2,],}')
    document = lz.read_json_with_comments(source)
    assert document == {"a": "https://x//y", "b": ["[[parameters('e')]", 2]}
    assert lz.unescape_deployed_strings(document)["b"][0] == "[parameters('e')]"



def _effects(assignment: str) -> dict[str, tuple[str, bool]]:
    return {r.definition_id.rsplit("/", 1)[-1][:8].lower(): (r.effect, r.enforced)
            for r in landing().rules if r.assignment == assignment}


def test_reader_parses_the_template_with_comments():
    """eslzArm.json has comments and trailing commas; the portal's defaults are option values, not labels."""
    inputs = landing().deployment_inputs
    assert inputs["enforceKvGuardrails"] == "Yes"
    assert inputs["enableWsAPIMInitiatives"] == "Audit"
    assert inputs["enablePrivateSubnet"] == "Audit"
    assert inputs["wsAPIMSelectorMG"] == ["contoso-platform", "contoso-landingzones"]


@pytest.mark.parametrize("assignment, group, mode", [
    ("Deny-Public-Endpoints", lz.CORP, "Default"),
    ("Audit-PeDnsZones", lz.CORP, "Default"),
    ("Deploy-Private-DNS-Zones", lz.CORP, "Default"),
    ("Enforce-GR-KeyVault", lz.LANDING_ZONES, "Default"),
    ("Enforce-TLS-SSL-Q225", lz.LANDING_ZONES, "Default"),
    ("Deny-Storage-http", lz.LANDING_ZONES, "Default"),
    ("Deny-Subnet-Without-Nsg", lz.LANDING_ZONES, "Default"),
    ("Deny-MgmtPorts-Internet", lz.LANDING_ZONES, "Default"),
    ("Enable-DDoS-VNET", lz.LANDING_ZONES, "Default"),
    ("Enforce-Subnet-Private", lz.LANDING_ZONES, "DoNotEnforce"),
    ("Enforce-GR-APIM1", lz.LANDING_ZONES, "DoNotEnforce"),
    ("Enforce-GR-AppServices1", lz.LANDING_ZONES, "DoNotEnforce"),
    ("Enforce-GR-Storage1", lz.LANDING_ZONES, "DoNotEnforce"),
    ("Enforce-GR-Network1", lz.LANDING_ZONES, "DoNotEnforce"),
    ("Enforce-GR-KeyVaultSup1", lz.LANDING_ZONES, "DoNotEnforce"),
    ("Deploy-ASC-Monitoring", lz.ROOT, "Default"),
    ("Audit-UnusedResources", lz.ROOT, "Default"),
])
def test_reader_finds_the_default_assignments(assignment, group, mode):
    """Table 1 of the research doc: assignment, management group and enforcement mode."""
    found = [a for a in landing().assignments if a.name == assignment]
    assert [(a.management_group, a.enforcement_mode) for a in found] == [(group, mode)]
    assert found[0].definition_file is not None


def test_workload_guardrails_go_to_landing_zones_but_not_corp_or_platform():
    """The workload selectors default to platform + landing zones: one copy reaches "Landing Zones" (index 1)."""
    names = [a.name for a in landing().assignments if a.name.startswith("Enforce-GR-APIM")]
    assert names == ["Enforce-GR-APIM1"]


@pytest.mark.parametrize("assignment, definition, effect, enforced", [
    ("Deny-Public-Endpoints", "405c5871", "deny", True),
    ("Deny-Public-Endpoints", "b2982f36", "deny", True),
    ("Deny-Public-Endpoints", "4fa4b6c0", "deny", True),
    ("Deny-Public-Endpoints", "969ac98b", "deny", True),
    ("Deny-Public-Endpoints", "1b5ef780", "deny", True),
    ("Deny-Public-Endpoints", "df73bd95", "auditifnotexists", False),
    ("Enforce-GR-KeyVault", "1e66c121", "deny", True),
    ("Enforce-GR-KeyVault", "0b60c0b2", "deny", True),
    ("Enforce-GR-KeyVault", "12d4fa5e", "deny", True),
    ("Enforce-GR-KeyVault", "75262d3e", "deny", True),
    ("Enforce-GR-KeyVault", "342e8053", "deny", True),
    ("Enforce-GR-KeyVault", "98728c90", "audit", False),
    ("Enforce-GR-KeyVault", "b0eb591a", "audit", False),
    ("Enforce-TLS-SSL-Q225", "6d555dd1", "deny", True),
    ("Enforce-TLS-SSL-Q225", "fe83a0eb", "deny", True),
    ("Enforce-TLS-SSL-Q225", "Append-A", "append", True),
    ("Deny-Storage-http", "404c3081", "deny", True),
    ("Deny-Subnet-Without-Nsg", "Deny-Sub", "deny", True),
    ("Deny-MgmtPorts-Internet", "Deny-Mgm", "deny", True),
    ("Enable-DDoS-VNET", "94de2ad3", "modify", True),
    ("Enforce-Subnet-Private", "7bca8353", "audit", False),
    ("Enforce-GR-APIM1", "73ef9241", "deny", False),
    ("Enforce-GR-APIM1", "ee7495e7", "deny", False),
    ("Deploy-ASC-Monitoring", "98728c90", "disabled", False),
    ("Deploy-ASC-Monitoring", "1e66c121", "audit", False),
])
def test_reader_resolves_the_effects(assignment, definition, effect, enforced):
    """Table 1a/1b: an initiative member's effect through the initiative's parameters and defaults; enforced only
    for deny/append/modify under enforcement mode Default."""
    assert _effects(assignment)[definition.lower()[:8]] == (effect, enforced)


def test_no_enforced_rule_reaches_api_management():
    """Research summary 2: APIM has no default Deny in ALZ (its guardrails are DoNotEnforce)."""
    enforced = [r for r in lz.rules_reaching(landing().rules, lz.CORP) if r.enforced]
    assert enforced
    assert not [r for r in enforced if "Microsoft.ApiManagement" in str(r.policy_rule["if"])]


def test_rules_reaching_follows_inheritance():
    corp = {r.assignment for r in lz.rules_reaching(landing().rules, lz.CORP)}
    zones = {r.assignment for r in lz.rules_reaching(landing().rules, lz.LANDING_ZONES)}
    assert {"Deny-Public-Endpoints", "Enforce-GR-KeyVault", "Deploy-ASC-Monitoring"} <= corp
    assert "Deny-Public-Endpoints" not in zones and {"Enforce-GR-KeyVault", "Deploy-ASC-Monitoring"} <= zones


def test_every_rule_in_scope_is_readable():
    """Every rule reaching Landing Zones or Corp (ALZ, workload guardrails, MCSB members present) parses with known
    operators and functions."""
    unreadable = {r.file.name: ap.unsupported_features(r.policy_rule) for r in landing().rules
                  if ap.unsupported_features(r.policy_rule)}
    assert unreadable == {}
    assert len(landing().rules) > 200


def test_assignments_without_definitions_are_listed_not_dropped():
    """Definitions absent from shared/ (research: AUDIT-ResourceRGLocation 0a914e76, AUDIT-ZoneResilient 130fb88f)."""
    missing = {m.definition_id.rsplit("/", 1)[-1][:8] for m in landing().missing}
    assert {"0a914e76", "130fb88f"} <= missing


# --- judge ----------------------------------------------------------------------------------------------------------


def test_judge_refuses_blocks_and_audits():
    """The research doc's 1c predictions: a bare secret is refused in Landing Zones (75262d3e, 342e8053) and
    reported by the DoNotEnforce/audit rules; the vault is refused only in Corp (405c5871)."""
    resources = [_secret(), {**VAULT, "properties": {**VAULT["properties"], "enableSoftDelete": True,
                                                     "enablePurgeProtection": True, "enableRbacAuthorization": True}}]
    zones = lz.judge(resources, lz.rules_reaching(landing().rules, lz.LANDING_ZONES), now=NOW)
    corp = lz.judge(resources, lz.rules_reaching(landing().rules, lz.CORP), now=NOW)
    refused = {(v.resource_name, v.rule.definition_id[-36:][:8]) for v in zones if v.outcome is lz.Outcome.REFUSED}
    assert refused == {("kv/s", "75262d3e"), ("kv/s", "342e8053")}
    assert all(v.blocks for v in zones if v.outcome is lz.Outcome.REFUSED)
    assert any(v.outcome is lz.Outcome.AUDITED and not v.blocks for v in zones)
    assert ("kv-prod", "405c5871") in {(v.resource_name, v.rule.definition_id[-36:][:8]) for v in corp
                                       if v.outcome is lz.Outcome.REFUSED}
    assert not [v for v in zones + corp if v.rule.effect == "disabled"]


def test_judge_reports_a_failed_evaluation_as_an_implicit_deny():
    """[rule] a failed evaluation is an implicit deny; under DoNotEnforce it does not block."""
    broken = lz.Rule(assignment="a", management_group=lz.LANDING_ZONES, enforcement_mode="Default",
                     definition_id="d", display_name="broken", file=Path("x.json"), mode="All",
                     policy_rule={"if": {"value": "[int('x')]", "equals": 1}, "then": {"effect": "audit"}},
                     effect="audit", enforced=False, parameters={})
    [verdict] = lz.judge([VAULT], [broken], now=NOW)
    assert (verdict.outcome, verdict.blocks) == (lz.Outcome.ERROR, True)
    relaxed = dataclasses.replace(broken, enforcement_mode="DoNotEnforce")
    assert lz.judge([VAULT], [relaxed], now=NOW)[0].blocks is False


def test_judge_applies_modes():
    """Indexed rules skip child resources without location, Key Vault Data rules see only secrets."""
    content_type = rule("Enforce-GR-KeyVault", "75262d3e")
    soft_delete = rule("Enforce-GR-KeyVault", "1e66c121")
    assert lz.judge([VAULT], [content_type], now=NOW) == []
    assert [v.outcome for v in lz.judge([VAULT], [soft_delete], now=NOW)] == [lz.Outcome.REFUSED]
    child_without_location = {k: v for k, v in VAULT.items() if k != "location"}
    assert lz.judge([child_without_location], [soft_delete], now=NOW) == []


def test_effect_of_uses_assignment_values_then_defaults():
    definition = {"properties": {"parameters": {"effect": {"type": "String", "defaultValue": "Audit"}},
                                 "policyRule": {"if": {"field": "type", "equals": "x"},
                                                "then": {"effect": "[parameters('effect')]"}}}}
    assert ap.effect_of(definition, {}) == "audit"
    assert ap.effect_of(definition, {"Effect": "Deny"}) == "deny"
