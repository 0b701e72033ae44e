"""Flex Consumption: the runtimes it runs and the settings it refuses (see apim_lastmile/flex.py for the sources)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from apim_lastmile import LastMileError, SecuredFunctionBackend, flex
from apim_lastmile.tools import config
from apim_lastmile.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "policypack"))

import lastmile_rules as rules  # noqa: E402

REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111"}


def test_unsupported_settings_are_found():
    site = {
        "isXenon": True,
        "siteConfig": {"ftpsState": "Disabled", "netFrameworkVersion": "v4.6", "minTlsVersion": "1.2",
                       "appSettings": [{"name": "FUNCTIONS_WORKER_RUNTIME", "value": "python"},
                                       {"name": "AzureWebJobsStorage__accountName", "value": "st"},
                                       {"name": "WEBSITE_CONTENTSHARE", "value": "x"}]},
    }
    assert sorted(flex.unsupported(site)) == ["isXenon", "siteConfig.appSettings.FUNCTIONS_WORKER_RUNTIME",
                                             "siteConfig.appSettings.WEBSITE_CONTENTSHARE", "siteConfig.ftpsState",
                                             "siteConfig.netFrameworkVersion"]
    assert list(flex.unsupported({"isXenon": False, "siteConfig": {"minTlsVersion": "1.2"}})) == []


@pytest.mark.parametrize(
    "runtime, expected",
    [
        ({"name": "dotnet-isolated", "version": "10"}, "write '10.0'"),
        ({"name": "python", "version": "3.9"}, "Flex Consumption runs python 3.10, 3.11, 3.12, 3.13"),
        ({"name": "node", "version": "18"}, "node 20, 22"),
        ({"name": "java", "version": 8}, "java 11, 17, 21"),
    ],
)
def test_runtime_versions_flex_does_not_run_are_refused(runtime, expected):
    with pytest.raises(LastMileError) as err:
        SecuredFunctionBackend("orders", {"gateway": REF, "resource_group_name": "rg", "api_path": "orders", "runtime": runtime})
    assert str(err.value).startswith("runtime.version") and expected in str(err.value)
    assert "list-flexconsumption-runtimes" in str(err.value)


def test_every_listed_version_is_accepted_and_defaults_are_listed():
    from apim_lastmile.function_backend import check_runtime_version

    for name, versions in flex.RUNTIME_VERSIONS.items():
        assert flex.DEFAULT_VERSIONS[name] in versions
        assert check_runtime_version(name, None) == flex.DEFAULT_VERSIONS[name]
        for version in versions:
            assert check_runtime_version(name, version) == version


def test_config_runtime_version_is_checked_before_anything_runs():
    base = {"resourceGroup": {"name": "rg"}, "gateway": {"publisherEmail": "a@b.co", "publisherName": "n"}}
    entry = {"name": "orders", "apiPath": "orders", "runtime": "dotnet-isolated", "runtimeVersion": "10"}
    with pytest.raises(ConfigError) as err:
        config.parse({**base, "functionBackends": [entry]})
    assert str(err.value).startswith("apim-lastmile:functionBackends[0].runtimeVersion: got '10'")
    assert config.parse({**base, "functionBackends": [{**entry, "runtimeVersion": "10.0"}]}).function_backends[0].runtime_version == "10.0"


def test_policy_pack_does_not_ask_a_flex_app_for_ftps_state_but_still_asks_other_function_apps():
    flex_app = {"kind": "functionapp,linux", "httpsOnly": True, "siteConfig": {"minTlsVersion": "1.2"},
                "functionAppConfig": {"runtime": {"name": "python", "version": "3.11"}}}
    assert not list(rules.violations("azure-native:web:WebApp", flex_app, "f"))
    classic = {k: v for k, v in flex_app.items() if k != "functionAppConfig"}
    assert [rule for rule, _ in rules.violations("azure-native:web:WebApp", classic, "f")] == ["function-app-hardened"]
    opened = {**flex_app, "siteConfig": {"minTlsVersion": "1.2", "ftpsState": "AllAllowed"}}
    assert [rule for rule, _ in rules.violations("azure-native:web:WebApp", opened, "f")] == ["function-app-hardened"]
