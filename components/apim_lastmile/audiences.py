"""Well-known Microsoft Entra-protected Azure services: the token audience each expects, the narrowest
built-in roles that let a caller read or write through it, and any header its REST API requires.

A wrong audience is the classic AADSTS500011 ("resource principal not found") or a 401 from the
service; a broad role is the classic audit finding. Looking a service up here avoids both. Each entry
names the Microsoft Learn page its facts come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

from .errors import LastMileError
from .naming import is_guid
from .roles import BUILT_IN_ROLES

#: Storage REST API version sent as ``x-ms-version``; OAuth needs 2017-11-09 or later.
STORAGE_API_VERSION = "2023-11-03"


@dataclass(frozen=True)
class Audience:
    """One service: its token ``resource``, read and write roles (names in roles.py), headers, source."""

    name: str
    resource: str
    read_roles: tuple[str, ...]
    write_roles: tuple[str, ...]
    source: str
    headers: Mapping[str, str] = field(default_factory=dict)
    note: str = ""
    #: Where the service's token may travel (public cloud): DNS suffixes (".vault.azure.net") or exact hosts.
    hosts: tuple[str, ...] = ()

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role this service may be granted through, read roles first."""
        return tuple(dict.fromkeys(self.read_roles + self.write_roles))

    def role_ids(self) -> tuple[str, ...]:
        return tuple(BUILT_IN_ROLES[r] for r in self.roles)


_LEARN = "https://learn.microsoft.com/azure/"

CATALOGUE: dict[str, Audience] = {
    a.name: a
    for a in (
        Audience(
            "storage", "https://storage.azure.com/",
            hosts=(".blob.core.windows.net", ".dfs.core.windows.net", ".queue.core.windows.net", ".table.core.windows.net", ".file.core.windows.net", ".storage.azure.net"),
            read_roles=("Storage Blob Data Reader",), write_roles=("Storage Blob Data Contributor",),
            headers={"x-ms-version": STORAGE_API_VERSION},
            source=_LEARN + "storage/blobs/authorize-access-azure-active-directory (blob and Data Lake Gen2 endpoints; "
                   "x-ms-version 2017-11-09 or later is required with OAuth)",
        ),
        Audience(
            "arm", "https://management.azure.com/",
            hosts=("management.azure.com",),
            read_roles=("Reader",), write_roles=(),
            source=_LEARN + "azure-resource-manager/management/manage-resources-rest",
            note="no generic write role is granted: writes need the resource type's own role, never Contributor",
        ),
        Audience(
            "keyvault", "https://vault.azure.net",
            hosts=(".vault.azure.net",),
            read_roles=("Key Vault Secrets User",), write_roles=("Key Vault Secrets Officer",),
            source=_LEARN + "key-vault/general/authentication and key-vault/general/rbac-guide",
        ),
        Audience(
            "servicebus", "https://servicebus.azure.net",
            hosts=(".servicebus.windows.net",),
            read_roles=("Azure Service Bus Data Receiver",), write_roles=("Azure Service Bus Data Sender",),
            source=_LEARN + "service-bus-messaging/service-bus-managed-service-identity",
        ),
        Audience(
            "eventhubs", "https://eventhubs.azure.net",
            hosts=(".servicebus.windows.net",),
            read_roles=("Azure Event Hubs Data Receiver",), write_roles=("Azure Event Hubs Data Sender",),
            source=_LEARN + "event-hubs/authenticate-managed-identity",
        ),
        Audience(
            "cognitiveservices", "https://cognitiveservices.azure.com",
            hosts=(".cognitiveservices.azure.com", ".api.cognitive.microsoft.com"),
            read_roles=("Cognitive Services User",), write_roles=("Cognitive Services User",),
            source=_LEARN + "ai-services/authentication#authenticate-with-microsoft-entra-id",
        ),
        Audience(
            "openai", "https://cognitiveservices.azure.com",
            hosts=(".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"),
            read_roles=("Cognitive Services OpenAI User",), write_roles=("Cognitive Services OpenAI Contributor",),
            source=_LEARN + "ai-services/openai/how-to/role-based-access-control",
        ),
        Audience(
            "machinelearning", "https://ml.azure.com",
            hosts=(".inference.ml.azure.com", ".api.azureml.ms"),
            read_roles=("AzureML Data Scientist",), write_roles=("AzureML Data Scientist",),
            source=_LEARN + "machine-learning/how-to-authenticate-online-endpoint (score action, Microsoft Entra token)",
        ),
        Audience(
            "logicapps", "https://management.azure.com/",
            hosts=("management.azure.com",),
            read_roles=("Logic App Operator",), write_roles=("Logic App Contributor",),
            source=_LEARN + "logic-apps/logic-apps-securing-a-logic-app#access-to-logic-app-operations",
            note="reached through Resource Manager (workflows/triggers/run); a Standard logic app behind Easy Auth is "
                 "reached like a function instead",
        ),
        Audience(
            "sql", "https://database.windows.net/",
            hosts=(".database.windows.net",),
            read_roles=(), write_roles=(),
            source=_LEARN + "azure-sql/database/authentication-aad-configure#create-contained-users-mapped-to-azure-ad-identities",
            note="Azure SQL grants data access inside the database, not with Azure RBAC: "
                 "CREATE USER [<apim service or identity name>] FROM EXTERNAL PROVIDER; ALTER ROLE db_datareader ADD MEMBER [...]",
        ),
    )
}


def _merge(entries: list[Audience]) -> Audience:
    """One entry for services that share a token audience (cognitiveservices and openai; arm and logicapps): the
    union of their roles and hosts, so an audience written out is never looser than its catalogue names."""
    if len(entries) == 1:
        return entries[0]
    first = entries[0]
    return replace(
        first, name="/".join(e.name for e in entries),
        read_roles=tuple(dict.fromkeys(r for e in entries for r in e.read_roles)),
        write_roles=tuple(dict.fromkeys(r for e in entries for r in e.write_roles)),
        hosts=tuple(dict.fromkeys(h for e in entries for h in e.hosts)),
    )


#: Catalogue entries by their token audience (lower case, no trailing slash).
_BY_RESOURCE: dict[str, Audience] = {
    resource: _merge([e for e in CATALOGUE.values() if e.resource.lower().rstrip("/") == resource])
    for resource in {e.resource.lower().rstrip("/") for e in CATALOGUE.values()}
}


def lookup(name: str, key: str = "audience") -> Audience:
    """The catalogue entry called ``name``; the error lists the known names."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    raise LastMileError(
        key, name,
        f"expected a known service ({', '.join(sorted(CATALOGUE))}), an https:// or api:// token audience, "
        "or an application (client) id",
    )


def resolve(value: object, key: str = "audience") -> tuple[str, Optional[Audience]]:
    """The token resource to request for ``value``, and its catalogue entry when it is a known name.

    ``value`` is a catalogue name, an ``https://`` or ``api://`` audience, or an app's client id (GUID).
    """
    if isinstance(value, str) and (value.startswith("https://") or value.startswith("api://")):
        rest = value.split("://", 1)[1]
        if rest.strip("/") and not any(c.isspace() for c in value) and len(value) <= 2048:
            # A known service's audience written out is that service: same roles, same hosts, no way around them.
            known = _BY_RESOURCE.get(value.lower().rstrip("/"))
            return value, known
    if is_guid(value):
        return str(value).lower(), None
    if isinstance(value, str) and value.startswith("http://"):
        raise LastMileError(key, value, "Microsoft Entra issues tokens for https:// or api:// audiences; an http:// one is refused")
    if not isinstance(value, str):
        raise LastMileError(key, value, f"expected a service name ({', '.join(sorted(CATALOGUE))}), a URI or an app id")
    entry = lookup(value, key)
    return entry.resource, entry
