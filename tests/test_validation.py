"""Bad input: a library error naming the argument, the value and what is valid, before any resource."""

from __future__ import annotations

import pytest

from apim_lastmile import Gateway, LastMileError, SecuredFunctionBackend

from helpers import registered, run

REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111"}
GW = {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso"}


def backend(**overrides):
    args = {"gateway": REF, "resource_group_name": "rg", "api_path": "orders", **overrides}
    return lambda: SecuredFunctionBackend("orders", args)


def expect_error(program, key, value_text):
    with pytest.raises(LastMileError) as err:
        run(program)
    message = str(err.value)
    assert key in message and value_text in message, message
    assert isinstance(err.value, ValueError)
    assert registered() == [], [r.name for r in registered()]
    return message


@pytest.mark.parametrize(
    "overrides, key, value_text",
    [
        ({"app_client_id": "not-a-guid"}, "app_client_id", "not-a-guid"),
        ({"api_path": ""}, "api_path", "''"),
        ({"api_path": "my orders"}, "api_path", "my orders"),
        ({"api_path": "/orders"}, "api_path", "/orders"),
        ({"function_app_name": "f" * 61}, "function_app_name", "f" * 61),
        ({"operations": [{"method": "FETCH", "url_template": "/x"}]}, "operations[0].method", "FETCH"),
        ({"operations": [{"method": "GET", "url_template": "x"}]}, "operations[0].url_template", "'x'"),
        ({"runtime": {"name": "cobol"}}, "runtime.name", "cobol"),
        ({"gateway": {"service_name": "apim"}}, "gateway.resource_group_name", "None"),
        ({"gateway": {**REF, "principal_id": "nope"}}, "gateway.principal_id", "nope"),
        ({"gateway": {**REF, "gateway_url": "http://apim-contoso.azure-api.net"}}, "gateway.gateway_url", "http://"),
        ({"maximum_instance_count": 0}, "maximum_instance_count", "0"),
    ],
)
def test_backend_rejects_bad_input(overrides, key, value_text):
    expect_error(backend(**overrides), key, value_text)


def test_backend_name_too_long_for_a_function_app():
    expect_error(lambda: SecuredFunctionBackend("a" * 41, {"gateway": REF, "resource_group_name": "rg", "api_path": "x"}),
                 "SecuredFunctionBackend name", "a" * 41)


def test_api_path_repeating_another_backends_is_refused():
    def program():
        SecuredFunctionBackend("orders", {"gateway": REF, "resource_group_name": "rg", "api_path": "orders", "function_app_name": "func-a", "app_client_id": REF["principal_id"]})
        SecuredFunctionBackend("orders2", {"gateway": REF, "resource_group_name": "rg", "api_path": "Orders", "function_app_name": "func-b", "app_client_id": REF["principal_id"]})

    with pytest.raises(LastMileError) as err:
        run(program)
    assert "api_path" in str(err.value) and "already used by 'orders'" in str(err.value)
    assert not [r for r in registered() if r.name.startswith("orders2")]


def test_same_path_on_different_gateways_is_fine():
    def program():
        for i, service in enumerate(("apim-one", "apim-two")):
            SecuredFunctionBackend(f"orders{i}", {"gateway": {**REF, "service_name": service}, "resource_group_name": "rg",
                                                 "api_path": "orders", "function_app_name": f"func-{i}", "app_client_id": REF["principal_id"]})

    plan = run(program)
    assert len(plan.of_type("azure-native:apimanagement:Api")) == 2


@pytest.mark.parametrize(
    "overrides, key, value_text",
    [
        ({"sku": "Gold"}, "sku", "Gold"),
        ({"publisher_email": None}, "publisher_email", "None"),
        ({"publisher_email": "not-an-email"}, "publisher_email", "not-an-email"),
        ({"publisher_email": "ops@contoso"}, "publisher_email", "ops@contoso"),
        ({"service_name": "a" * 51}, "service_name", "a" * 51),
        ({"service_name": "-bad"}, "service_name", "-bad"),
        ({"sku": "Consumption", "capacity": 2}, "capacity", "2"),
        ({"sku": "BasicV2", "capacity": 0}, "capacity", "0"),
        ({"resource_group_name": "x" * 91}, "resource_group_name", "(93 chars)"),
        ({"user_assigned_identity": "yes"}, "user_assigned_identity", "yes"),
    ],
)
def test_gateway_rejects_bad_input(overrides, key, value_text):
    expect_error(lambda: Gateway("edge", {**GW, **overrides}), key, value_text)


def test_gateway_name_too_long_for_generated_service_name():
    message = expect_error(lambda: Gateway("g" * 40, GW), "Gateway name", "g" * 40)
    assert "50" in message


def test_errors_say_what_is_valid():
    message = expect_error(lambda: Gateway("edge", {**GW, "sku": "Gold"}), "sku", "Gold")
    assert "Consumption" in message and "StandardV2" in message
