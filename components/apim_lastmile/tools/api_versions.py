"""The Azure API versions a plan sends: the SDK releases that send what our contract facts describe, and the dates
Azure retires them.

Azure's contract (``azure_contract.json``) was checked at the API version each resource type is sent with. Which
version that is depends on the installed pulumi-azure-native (each class's docstring says "Uses Azure REST API
version ..."): an older release sends older versions, on which the plan's inputs may not be valid (for example the
v2 tiers fail at APIM 2022-09-01-preview: pulumi/pulumi-azure-native#4510). :func:`check_installed` refuses to plan
with such an SDK; :func:`retirements` warns of a version Azure has announced to retire.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, Optional

#: The first release of each dependency that does what the library relies on, and why. pulumi-azure-native 3.29.0
#: is the first release checked to send every API version in ``contract.WIRES`` (APIM 2024-05-01 from 3.15.0,
#: pulumi/pulumi-azure-native#4574; Microsoft.Web 2025-05-01 after 3.21.0) and whose provider serves Key Vault
#: 2026-02-01 as a parameterized package; pulumi 3.247.0 is the first with ``pulumi.runtime.register_package``.
FLOORS: dict[str, tuple[str, str]] = {
    "pulumi": ("3.247.0", "the first release with pulumi.runtime.register_package (Key Vault's parameterized package)"),
    "pulumi-azure-native": ("3.29.0", "the first release checked to send every API version the Azure contract facts describe"),
    "pulumi-azuread": ("6.0.0", "ApplicationRegistration, ApplicationIdentifierUri, ApplicationAppRole, AppRoleAssignment"),
    "pulumi-random": ("4.16.0", "RandomString and RandomPassword with keepers"),
    "pulumiverse-time": ("0.1.1", "time.Sleep for the RBAC propagation wait"),
}

_SENT = re.compile(r"Uses Azure REST API version (\d{4}-\d{2}-\d{2}(?:-preview)?)")
_VERSIONED = re.compile(r"azure-native(?:_([a-z]+)_v(\d{8}(?:preview)?))?:([a-z]+)(?:/v(\d{8}(?:preview)?))?:(\w+)")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _sdk_module_file(module: str, name: str, sdk_dir: Path) -> Path:
    """The installed SDK's file for ``azure-native:<module>:<Name>`` (``WebAppAuthSettingsV2`` ->
    ``web/web_app_auth_settings_v2.py``), found without importing the module."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return sdk_dir / module / f"{snake}.py"


def installed_sdk_dir() -> Optional[Path]:
    spec = importlib.util.find_spec("pulumi_azure_native")
    return Path(spec.origin).parent if spec and spec.origin else None


def sdk_sends(token: str, sdk_dir: Optional[Path] = None) -> Optional[str]:
    """The API version a plan sends for an azure-native token: written in the token for an explicit version or a
    parameterized package, else what the installed SDK's class says it uses (None if unknown)."""
    match = _VERSIONED.fullmatch(token)
    if not match:
        return None
    explicit = match.group(2) or match.group(4)
    if explicit:
        day = explicit[:8]
        return f"{day[:4]}-{day[4:6]}-{day[6:8]}" + ("-preview" if explicit.endswith("preview") else "")
    sdk_dir = sdk_dir or installed_sdk_dir()
    path = _sdk_module_file(match.group(3), match.group(5), sdk_dir) if sdk_dir else None
    if path is None or not path.is_file():
        return None
    found = _SENT.search(path.read_text(encoding="utf-8"))
    return found.group(1) if found else None


@dataclass(frozen=True)
class Problem:
    """An installed dependency the plan cannot trust: which package, what is installed, what is needed."""

    package: str
    installed: str
    needed: str
    why: str

    def __str__(self) -> str:
        return f"{self.package} {self.installed} is installed; apim-lastmile needs {self.needed}: {self.why}"


def check_installed(version_of: Optional[Callable[[str], str]] = None, sdk_dir: Optional[Path] = None) -> list[Problem]:
    """Every dependency below its floor, and every resource type the installed azure-native would send at another
    API version than the contract facts were checked at."""
    from .contract import WIRES

    version_of = version_of or importlib.metadata.version
    problems: list[Problem] = []
    for package, (floor, why) in FLOORS.items():
        try:
            installed = version_of(package)
        except importlib.metadata.PackageNotFoundError:
            problems.append(Problem(package, "(none)", f">= {floor}", f"{why}; pip install '{package}>={floor}'"))
            continue
        if _version_tuple(installed) < _version_tuple(floor):
            problems.append(Problem(package, installed, f">= {floor}", f"{why}; pip install -U '{package}>={floor}'"))
    try:
        azure_native = version_of("pulumi-azure-native")
    except importlib.metadata.PackageNotFoundError:
        return problems
    for token, wire in sorted(WIRES.items()):
        sent = sdk_sends(token, sdk_dir)
        if sent is not None and sent != wire.sent_version:
            problems.append(Problem(
                "pulumi-azure-native", azure_native, f"a release that sends {wire.sent_version} for {token}",
                f"it sends {sent}, and Azure's contract facts describe {wire.sent_version}; "
                f"pip install 'pulumi-azure-native=={FLOORS['pulumi-azure-native'][0]}' (or re-extract the facts for it)"))
    return problems


@dataclass(frozen=True)
class Retirement:
    """Azure retires every API version of ``namespace`` before ``before`` on ``on``."""

    namespace: str
    before: str
    on: date
    source: str
    what_to_do: str


#: Announced retirements of control-plane API versions, for the providers whose resources a plan may hold. Where
#: none is announced for a version we send, none is listed (checked 2026-12: learn.microsoft.com breaking-change and
#: version pages of each provider).
RETIREMENTS: tuple[Retirement, ...] = (
    Retirement("Microsoft.KeyVault", "2026-02-01", date(2027, 2, 27),
               "learn.microsoft.com/azure/key-vault/general/migrate-api-version",
               "send 2026-02-01 or later: apim_lastmile.keyvault_api, or `pulumi package add azure-native keyvault 2026-02-01`"),
    Retirement("Microsoft.ApiManagement", "2021-08-01", date(2024, 6, 1),
               "learn.microsoft.com/azure/api-management/breaking-changes/api-version-retirement-sep-2023",
               "use the SDK's default apimanagement module (2024-05-01)"),
)
#: azure-native modules -> the resource provider namespace whose retirements apply to them.
MODULE_NAMESPACES = {"keyvault": "Microsoft.KeyVault", "apimanagement": "Microsoft.ApiManagement"}
#: How far ahead ``lastmile plan`` warns.
WARN_DAYS = 180


@dataclass(frozen=True)
class Retiring:
    """A resource type a plan sends at an API version Azure retires (or has retired)."""

    token: str
    api_version: str
    on: date
    days_left: int
    retirement: Retirement

    @property
    def retired(self) -> bool:
        return self.days_left < 0

    def __str__(self) -> str:
        when = f"retired on {self.on}" if self.retired else f"retires on {self.on} ({self.days_left} days)"
        return (f"{self.token} is sent at API version {self.api_version}, which Azure {when}: "
                f"{self.retirement.what_to_do} ({self.retirement.source})")


def retirements(tokens: Iterable[str], today: date, within_days: int = WARN_DAYS,
                sdk_dir: Optional[Path] = None) -> list[Retiring]:
    """The tokens a plan sends at an API version retired before ``today`` or retiring within ``within_days``."""
    found: list[Retiring] = []
    for token in sorted(set(tokens)):
        match = _VERSIONED.fullmatch(token)
        sent = sdk_sends(token, sdk_dir) if match else None
        if sent is None:
            continue
        namespace = MODULE_NAMESPACES.get(match.group(1) or match.group(3))
        for rule in RETIREMENTS:
            if rule.namespace == namespace and sent[:10] < rule.before:
                days = (rule.on - today).days
                if days <= within_days:
                    found.append(Retiring(token, sent, rule.on, days, rule))
    return found
