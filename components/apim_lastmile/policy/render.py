"""Render fragments into a complete, validated ``<policies>`` document."""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from lxml import etree

from .fragments import Fragment
from .values import refuse

SECTIONS = ("inbound", "backend", "outbound", "on-error")
# The parser used to check what we render: no entities, no network, no huge trees.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


def _check_section(fragments: Iterable[Fragment], section: str, path: str) -> None:
    for index, fragment in enumerate(fragments):
        where = f"{path}[{index}]"
        if not isinstance(fragment, Fragment):
            raise refuse(where, fragment, "expected a policy fragment such as policy.set_header(...)")
        if section not in fragment.sections:
            allowed = ", ".join(s for s in SECTIONS if s in fragment.sections)
            raise refuse(where, fragment.tag, f"<{fragment.tag}> is not allowed in <{section}>; APIM allows it in: {allowed}")
        fragment.check_section(section, where)
        _check_section(fragment.nested(), section, f"{where}.{fragment.tag}")


def _as_list(fragments: object, key: str) -> list:
    if fragments is None:
        return []
    if isinstance(fragments, (Fragment, str, bytes)):
        raise refuse(key, fragments, "expected a list of policy fragments")
    try:
        return list(fragments)  # type: ignore[call-overload]
    except TypeError:
        raise refuse(key, fragments, "expected a list of policy fragments") from None


def _forwards(fragments: Iterable[Fragment]) -> bool:
    return any(f.tag == "forward-request" or _forwards(f.nested()) for f in fragments)


def render(
    inbound: Optional[Sequence[Fragment]] = None,
    backend: Optional[Sequence[Fragment]] = None,
    outbound: Optional[Sequence[Fragment]] = None,
    on_error: Optional[Sequence[Fragment]] = None,
    *,
    backend_base: bool = True,
) -> str:
    """Render a ``<policies>`` document with ``<base />`` first in every section, except a backend section that makes
    its own call (``backend_base=False``: its fragments must hold a ``forward-request``, e.g. inside a retry; the
    inherited backend section would forward the request a second time).

    Raises :class:`~apim_lastmile.errors.PolicyError` when a fragment sits in a section APIM does not
    allow it in, or when the result is not well-formed XML.
    """
    root = etree.Element("policies")
    for section, fragments in zip(SECTIONS, (inbound, backend, outbound, on_error)):
        fragments = _as_list(fragments, section.replace("-", "_"))
        _check_section(fragments, section, section.replace("-", "_"))
        el = etree.SubElement(root, section)
        if section == "backend" and not backend_base:
            if not _forwards(fragments):
                raise refuse("backend", [f.tag for f in fragments], "a backend section without <base /> must forward the request "
                                                                     "itself: add policy.forward_request()")
        else:
            etree.SubElement(el, "base")
        for fragment in fragments:
            el.append(fragment.to_element())
    text = etree.tostring(root, pretty_print=True, encoding="unicode")
    try:
        etree.fromstring(text, _PARSER)
    except etree.XMLSyntaxError as exc:  # pragma: no cover - lxml escapes everything we emit
        raise refuse("policy", text, f"rendered XML is not well-formed: {exc}") from exc
    return text
