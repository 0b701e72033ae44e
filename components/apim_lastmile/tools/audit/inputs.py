"""What ``lastmile audit`` reads: an APIOps extractor artifacts folder, an ARM template or export holding
``Microsoft.ApiManagement/service`` resources, or policy XML files (one, or a folder of them).

Each becomes a :class:`Gateway`: the policy documents (global, product, API, operation policies and fragments), the
named values with their kind (plain, secret, Key Vault), the backends with their URLs and stored credentials, and the
loggers with theirs.
Everything read stays inside the given folder: a link that leaves it is refused, as are more than
:data:`MAX_FILES` files or :data:`MAX_BYTES` bytes in all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ...errors import LastMileError
from .reading import MAX_DOCUMENT_BYTES, local, parse

MAX_FILES = 5000
MAX_BYTES = 64 * 1024 * 1024
_APIM = "microsoft.apimanagement/service"


@dataclass
class Document:
    name: str
    root: Any
    #: Where the API sends requests (its serviceUrl), when known.
    backend: Optional[str] = None
    #: The line in the file where the document's text starts (ARM templates hold it in one JSON string).
    offset: int = 0


@dataclass
class Gateway:
    documents: list[Document] = field(default_factory=list)
    fragments: dict[str, Any] = field(default_factory=dict)
    #: named value -> named-value, secret-named-value or key-vault-named-value
    named_values: dict[str, str] = field(default_factory=dict)
    #: backend id -> (document, its url, its credentials object, the line it starts on)
    backends: dict[str, tuple[str, str, dict, int]] = field(default_factory=dict)
    #: logger id -> (document, its credentials object, the line they start on)
    loggers: dict[str, tuple[str, dict, int]] = field(default_factory=dict)


class _Budget:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.files = 0
        self.bytes = 0

    def read(self, path: Path) -> bytes:
        real = path.resolve()
        if real != self.root and self.root not in real.parents:
            raise LastMileError(str(path), "a link", f"leaves the folder {self.root}: lastmile audit reads nothing outside it")
        size = real.stat().st_size
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES or self.bytes > MAX_BYTES:
            raise LastMileError(str(self.root), f"{self.files} files, {self.bytes} bytes",
                                f"lastmile audit reads at most {MAX_FILES} files and {MAX_BYTES} bytes")
        if size > max(MAX_DOCUMENT_BYTES, 16 * 1024 * 1024):
            raise LastMileError(str(path), f"{size} bytes", "too large to be an APIM artifact")
        return real.read_bytes()


def _kind(properties: dict) -> str:
    if properties.get("keyVault") or properties.get("keyVaultSecretId"):
        return "key-vault-named-value"
    return "secret-named-value" if properties.get("secret") else "named-value"


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LastMileError(where, "not JSON", f"expected a JSON file ({exc})") from None


def _line_of(text: str, needle: str) -> int:
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def read(path: str) -> Gateway:
    """The gateway at ``path`` (see the module docstring); a :class:`LastMileError` for anything unreadable."""
    target = Path(path)
    if not target.exists():
        raise LastMileError("PATH", path, "no such file or folder")
    budget = _Budget(target if target.is_dir() else target.parent)
    if target.is_file():
        if target.suffix.lower() == ".json":
            return _arm(budget, target)
        gateway = Gateway()
        _policy_file(budget, gateway, target, target.name)
        return gateway
    if any((target / d).is_dir() for d in ("apis", "namedValues", "backends", "loggers", "policyFragments", "products")):
        return _apiops(budget, target)
    gateway = Gateway()
    for file in sorted(target.rglob("*")):
        if file.suffix.lower() == ".xml" and (file.is_file() or file.is_symlink()):
            _policy_file(budget, gateway, file, str(file.relative_to(target)))
        elif file.suffix.lower() == ".json" and file.is_file():
            data = _json(budget.read(file), str(file))
            if isinstance(data, dict) and ("resources" in data or "value" in data):
                _arm_resources(gateway, data, str(file.relative_to(target)), file.read_text(encoding="utf-8-sig", errors="replace"))
    return gateway


def _policy_file(budget: _Budget, gateway: Gateway, file: Path, name: str, backend: Optional[str] = None) -> None:
    root = parse(budget.read(file), name)
    if local(root.tag) == "fragment":
        gateway.fragments[file.stem if file.name != "policy.xml" else file.parent.name] = root
    gateway.documents.append(Document(name, root, backend))


def _apiops(budget: _Budget, folder: Path) -> Gateway:
    gateway = Gateway()
    for info in sorted((folder / "namedValues").glob("*/namedValueInformation.json")):
        data = _json(budget.read(info), str(info.relative_to(folder)))
        props = data.get("properties", {}) if isinstance(data, dict) else {}
        gateway.named_values[props.get("displayName") or info.parent.name] = _kind(props)
    for info in sorted((folder / "backends").glob("*/backendInformation.json")):
        raw = budget.read(info)
        data = _json(raw, str(info.relative_to(folder)))
        props = data.get("properties", {}) if isinstance(data, dict) else {}
        text = raw.decode("utf-8-sig", errors="replace")
        gateway.backends[info.parent.name] = (str(info.relative_to(folder)), str(props.get("url") or ""),
                                              props.get("credentials") or {}, _line_of(text, '"credentials"'))
    for info in sorted((folder / "loggers").glob("*/loggerInformation.json")):
        raw = budget.read(info)
        data = _json(raw, str(info.relative_to(folder)))
        props = data.get("properties", {}) if isinstance(data, dict) else {}
        credentials = props.get("credentials") if isinstance(props.get("credentials"), dict) else {}
        gateway.loggers[info.parent.name] = (str(info.relative_to(folder)), credentials,
                                             _line_of(raw.decode("utf-8-sig", errors="replace"), '"credentials"'))
    for policy in sorted((folder / "policyFragments").glob("*/policy.xml")):
        _policy_file(budget, gateway, policy, str(policy.relative_to(folder)))
    if (folder / "policy.xml").is_file():
        _policy_file(budget, gateway, folder / "policy.xml", "policy.xml")
    for policy in sorted((folder / "products").glob("*/policy.xml")):
        _policy_file(budget, gateway, policy, str(policy.relative_to(folder)))
    for api in sorted(p for p in (folder / "apis").glob("*") if p.is_dir()):
        service_url = None
        info = api / "apiInformation.json"
        if info.is_file():
            data = _json(budget.read(info), str(info.relative_to(folder)))
            service_url = (data.get("properties", {}) if isinstance(data, dict) else {}).get("serviceUrl")
        for policy in sorted([api / "policy.xml", *sorted(api.glob("operations/*/policy.xml"))]):
            if policy.is_file():
                _policy_file(budget, gateway, policy, str(policy.relative_to(folder)), backend=service_url)
    return gateway


def _arm(budget: _Budget, file: Path) -> Gateway:
    raw = budget.read(file)
    data = _json(raw, str(file))
    if not isinstance(data, dict) or not isinstance(data.get("resources", data.get("value")), list):
        raise LastMileError(str(file), "JSON", "expected an ARM template or export (an object with a resources list)")
    gateway = Gateway()
    _arm_resources(gateway, data, file.name, raw.decode("utf-8-sig", errors="replace"))
    return gateway


def _flatten(resources: list, parent: str = "") -> list[tuple[str, dict]]:
    out = []
    for r in resources:
        if not isinstance(r, dict):
            continue
        kind = str(r.get("type", ""))
        full = kind if "/" in kind.split("/", 1)[-1] or not parent else f"{parent}/{kind}"
        out.append((full, r))
        out += _flatten(r.get("resources") or [], full)
    return out


def _last_name(name: Any) -> str:
    text = str(name or "")
    literal = re.findall(r"'([^']*)'", text) if text.startswith("[") else [text]
    return (literal[-1] if literal else text).strip("/").rsplit("/", 1)[-1] or text


def _segments(name: Any) -> list[str]:
    text = str(name or "")
    if text.startswith("["):
        text = "".join(re.findall(r"'([^']*)'", text)) or text
    return [part for part in text.split("/") if part]


def _arm_resources(gateway: Gateway, data: dict, file: str, text: str) -> None:
    resources = _flatten(data.get("resources", data.get("value")) or [])
    services = {}
    for kind, r in resources:
        props = r.get("properties") or {}
        lower = kind.lower()
        if not lower.startswith(_APIM):
            continue
        name = _last_name(r.get("name"))
        where = f"{file}#{r.get('name')}"
        if lower.endswith("/namedvalues") or lower.endswith("/properties"):
            gateway.named_values[props.get("displayName") or name] = _kind(props)
        elif lower.endswith("/backends"):
            gateway.backends[name] = (where, str(props.get("url") or ""), props.get("credentials") or {},
                                      _line_of(text, f'"{r.get("name")}"'))
        elif lower.endswith("/apis"):
            services[name] = props.get("serviceUrl")
        elif lower.endswith("/loggers"):
            credentials = props.get("credentials") if isinstance(props.get("credentials"), dict) else {}
            gateway.loggers[name] = (where, credentials, _line_of(text, f'"{r.get("name")}"'))
    for kind, r in resources:
        lower = kind.lower()
        props = r.get("properties") or {}
        if not lower.startswith(_APIM) or not (lower.endswith("/policies") or lower.endswith("/policyfragments")):
            continue
        value, fmt = props.get("value"), str(props.get("format") or "xml").lower()
        if not isinstance(value, str) or fmt.endswith("-link"):
            continue
        where = f"{file}#{r.get('name')}"
        root = parse(value.encode("utf-8"), where)
        if lower.endswith("/policyfragments"):
            gateway.fragments[_last_name(r.get("name"))] = root
        # service/apis/policies is named <service>/<api>/policy; service/apis/operations/policies <service>/<api>/<op>/policy.
        segments = _segments(r.get("name"))
        depth = 3 if lower.endswith("/apis/operations/policies") else 2 if lower.endswith("/apis/policies") else 0
        api = segments[-depth] if depth and len(segments) >= depth else None
        gateway.documents.append(Document(where, root, services.get(api) if api else None))
