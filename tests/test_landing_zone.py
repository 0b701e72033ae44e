"""Landing-zone readiness that is ours to choose per stack: zone redundancy (on in prod)."""

from __future__ import annotations

import pytest

from apim_lastmile import Gateway, LastMileError, SecuredFunctionBackend
from helpers import registered, run, stack_plan

PLAN = "azure-native:web:AppServicePlan"
ACCOUNT = "azure-native:storage:StorageAccount"


def test_prod_is_zone_redundant_and_dev_is_not():
    prod, dev = stack_plan("prod"), stack_plan("dev")
    for plan in prod.of_type(PLAN):
        assert plan.plain_inputs["zoneRedundant"] is True, plan.name
    for account in prod.of_type(ACCOUNT):  # the function host storage and the Data Lake account
        assert account.plain_inputs["sku"] == {"name": "Standard_ZRS"}, account.name
    assert {p.plain_inputs["zoneRedundant"] for p in dev.of_type(PLAN)} == {False}
    assert {a.plain_inputs["sku"]["name"] for a in dev.of_type(ACCOUNT)} == {"Standard_LRS"}


def _backend(**extra):
    def body():
        gateway = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso"})
        SecuredFunctionBackend("orders", {"gateway": gateway.ref, "resource_group_name": "rg", "api_path": "orders", **extra})
    return body


def test_zone_redundancy_is_refused_for_an_adopted_app_and_must_be_a_switch():
    with pytest.raises(LastMileError) as err:
        run(_backend(zone_redundant=True, function_app_name="func-legacy"))
    assert str(err.value).startswith("zone_redundant: got True; only for a function app this backend creates")
    assert not any(r.name.startswith("orders") for r in registered())
    with pytest.raises(LastMileError) as err:
        run(_backend(zone_redundant="yes"))
    assert str(err.value).startswith("zone_redundant: got 'yes'; expected True or False")


def test_zone_redundant_backend_writes_the_plan_and_zrs_storage():
    plan = run(_backend(zone_redundant=True))
    assert plan.one(PLAN).plain_inputs["zoneRedundant"] is True
    assert plan.one(ACCOUNT).plain_inputs["sku"] == {"name": "Standard_ZRS"}
