"""What ``lastmile audit`` prints: a report grouped by where the credentials go, or stable JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

from .detector import Finding, backend_findings, detect, logger_findings
from .inputs import Gateway, read


def audit(path: str) -> list[Finding]:
    """Every credential the gateway at ``path`` sends on its last mile (see :mod:`.inputs` for what ``path`` may be)."""
    gateway = read(path)
    return findings_of(gateway)


def findings_of(gateway: Gateway) -> list[Finding]:
    urls = {backend: url for backend, (_, url, _, _) in gateway.backends.items()}
    found: list[Finding] = []
    for document in gateway.documents:
        found += detect(document.name, document.root, named_values=gateway.named_values, fragments=gateway.fragments,
                        backend=document.backend, backend_urls=urls)
    for where, url, credentials, line in gateway.backends.values():
        found += backend_findings(where, url, credentials, line, gateway.named_values)
    for where, credentials, line in gateway.loggers.values():
        found += logger_findings(where, credentials, line, gateway.named_values)
    # A fragment's findings once, however many documents include it.
    unique = {(f.credential, f.source, f.document, f.line): f for f in found}
    return sorted((dataclasses.replace(f, replacement=replacement(f.credential, f.service or f.target)) for f in unique.values()),
                  key=lambda f: (f.document, f.line, f.credential))


def as_json(findings: list[Finding]) -> str:
    """The findings as stable JSON: credential, source, document, line and replacement of each, sorted."""
    rows = [{"credential": f.credential, "source": f.source, "document": f.document, "line": f.line,
             "replacement": f.replacement} for f in findings]
    return json.dumps({"findings": rows}, indent=2, sort_keys=True) + "\n"


def as_text(path: str, findings: list[Finding]) -> str:
    if not findings:
        return f"{path}: no credential on the last mile: every backend call is passwordless\n"
    lines = [f"{path}: {len(findings)} credential{'s' if len(findings) != 1 else ''} on the last mile", ""]
    by_target: dict[str, list[Finding]] = {}
    for f in findings:
        by_target.setdefault(f.target, []).append(f)
    for target in sorted(by_target):
        lines.append(f"to {target}:")
        for f in by_target[target]:
            lines.append(f"  {f.credential} ({f.source})  {f.document}:{f.line}")
            lines.append(f"    instead: {f.replacement or 'no passwordless replacement known: keep it in Key Vault'}")
        lines.append("")
    return "\n".join(lines)


def replacement(credential: str, target: str) -> Optional[str]:
    """The passwordless component for a credential sent to ``target`` (a host): its audience and narrowest role."""
    from ...audiences import CATALOGUE

    host = (target or "").lower()
    if credential == "function-key" or host.endswith(".azurewebsites.net"):
        return "SecuredFunctionBackend adopting the app (function_app_name, app_client_id): a token for its app registration"
    if credential == "basic-auth":
        return "KeyVaultSecretBackend: the password in Key Vault, read by the gateway's managed identity"
    if credential == "client-certificate":
        return None
    if credential == "telemetry-key":
        if host == "application insights":
            return ("Gateway(telemetry=...): a logger with the gateway's managed identity (identityClientId) and "
                    "Monitoring Metrics Publisher on the component, local authentication off")
        return ("a logger with the gateway's managed identity (credentials identityClientId and endpointAddress) and "
                "Azure Event Hubs Data Sender on the hub")
    for name in ("openai", "storage", "servicebus", "cognitiveservices", "keyvault", "machinelearning", "sql", "arm"):
        audience = CATALOGUE[name]
        if any(host.endswith(h) if h.startswith(".") else host == h for h in audience.hosts):
            role = (audience.read_roles or ("a role inside the service",))[0]
            return f"EntraBackend audience {name!r} with {role!r}"
    return None

