"""Reading YAML we did not write: stack config files and ``Pulumi.yaml``, treated as hostile input.

A stack file is edited by hand, copied between repositories and reviewed in pull requests, so the
loader has to fail cleanly on anything a YAML parser can be made to do. :func:`load_yaml` reads one
file with :class:`StrictLoader` (PyYAML's ``SafeLoader`` narrowed down) and raises
:class:`~apim_lastmile.errors.ConfigError` for every problem, naming ``<file>:<line>:<column>``, a short
excerpt of what it found and what to write instead. Nothing else escapes it: no ``yaml.YAMLError``,
``UnicodeDecodeError``, ``RecursionError`` or ``ValueError`` from a scalar constructor.

The rules, in the order they apply:

- **Size.** Files over :data:`MAX_BYTES` (256 KiB) are refused before anything is parsed (at most that
  much is read). The pure-Python parser reads 60-400 KB a second (dense flow syntax like ``{a: [b]}`` is the
  slowest), so this also bounds the time any file can take to a few seconds; the stack files in ``stacks/``
  are about 2 KB.
- **Encoding.** UTF-8 only (a UTF-8 byte order mark is accepted and dropped). YAML's ban on control
  characters applies.
- **Aliases** (``*name``): at most :data:`MAX_ALIASES` uses per file; an alias may not point into the node
  it sits in (a recursive structure no config can mean); and the document, with every alias counted as
  a full copy of the node it names, may hold at most :data:`MAX_ALIAS_NODES` nodes more than the file
  spells out. The count is kept by the composer, which reuses one node per anchor, so a "billion laughs"
  document is refused after a few hundred bytes, before a single Python object is constructed.
- **Depth**: nesting deeper than :data:`MAX_DEPTH` is refused (no ``RecursionError`` for ``[[[[...``).
- **Tags.** Only the plain ones: ``str``, ``int``, ``float``, ``bool``, ``null``, ``map``, ``seq``
  (written explicitly or, as usual, implied). ``!!set``, ``!!omap``, ``!!pairs``, ``!!binary``,
  ``!!timestamp``, ``!!python/...`` and custom ``!tags`` are refused, and so are merge keys (``<<``):
  write the keys out. An explicit scalar tag must agree with the value (``!!int abc`` is refused).
- **No implicit dates.** ``rotation: 2026-11-23`` stays the string ``"2026-11-23"`` (SafeLoader would
  make it a ``datetime.date``, which no config value wants and JSON cannot carry).
- **Duplicate keys** in any mapping are refused (YAML parsers keep the last one silently, which hides
  a mistake in a config file).
- **Shape.** The top level is a mapping with string keys (an empty file is ``{}``); each key named in
  ``sections`` holds a mapping with string keys (Pulumi config: a value with a ``secure`` key is exactly
  ``{secure: <string>}``); each key named in ``strings`` holds a string.

Errors never show a ``secure:`` value: an excerpt of a line that mentions ``secure`` is cut at that word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import ConfigError

#: Largest file read, in bytes.
MAX_BYTES = 256 * 1024
#: Most alias uses (``*name``) in one file.
MAX_ALIASES = 100
#: Most nodes aliases may add to a document, each alias counted as a full copy of the node it names.
MAX_ALIAS_NODES = 10_000
#: Deepest nesting of mappings and sequences.
MAX_DEPTH = 32
#: Longest excerpt of the input shown in an error.
MAX_EXCERPT = 60

_Y = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MAP, SEQ, MERGE = (_Y + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge"))
ALLOWED_TAGS = frozenset({STR, INT, FLOAT, BOOL, NULL, MAP, SEQ})
_CHECKED_SCALARS = frozenset({INT, FLOAT, BOOL, NULL})
_BREAKS = "\r\n\x85\u2028\u2029"


class _Refused(Exception):
    """Raised inside the loader; :func:`load_yaml` turns it into a ConfigError naming the file."""

    def __init__(self, mark: Any, value: str | None, expected: str, safe: bool = False) -> None:
        super().__init__(expected)
        # safe: ``value`` was composed by us (no input text in it), so it is shown even next to a secret.
        self.mark, self.value, self.expected, self.safe = mark, value, expected, safe


def _tag(tag: str | None) -> str:
    return "!!" + tag[len(_Y):] if tag and tag.startswith(_Y) else str(tag)


def _seen(node: Node) -> str | None:
    """A scalar's text; for a collection None: the error shows the input from where it starts."""
    return node.value if isinstance(node, ScalarNode) else None


def _wrap_scalar(construct):
    """A scalar constructor whose ValueError (``0x_``, ``!!bool maybe``, 5000-digit ints) is a refusal."""

    def wrapped(self, node):
        try:
            return construct(self, node)
        except (ValueError, KeyError, IndexError, TypeError, OverflowError) as exc:
            raise _Refused(node.start_mark, node.value, f"expected a valid {_tag(node.tag)[2:]} ({str(exc).split(';')[0]}); quote the value to keep it a string") from None

    return wrapped


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` for untrusted config: bounded aliases and depth, plain tags only, no implicit
    timestamps, no duplicate keys. One instance reads one document (see the module docstring)."""

    # Copies, so SafeLoader's own tables (class attributes shared by every user of PyYAML) stay as they are.
    # Implicit types kept: null, bool, int, float, and merge (only so that `<<` is refused by name); gone:
    # timestamp (dates stay strings), value (`=` is a string) and yaml (no constructor; `!` alone).
    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag in (NULL, BOOL, INT, FLOAT, MERGE)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    yaml_constructors: ClassVar[dict] = {
        tag: (_wrap_scalar(fn) if tag in (NULL, BOOL, INT, FLOAT, STR) else fn)
        for tag, fn in yaml.SafeLoader.yaml_constructors.items()
        if tag in ALLOWED_TAGS
    }
    yaml_multi_constructors: ClassVar[dict] = {}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._alias_uses = 0
        self._alias_nodes = 0
        self._depth = 0
        self._weights: dict[int, int] = {}  # id(node) -> node count with aliases expanded; absent while composing

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is left to PyYAML's own error
                self._alias_uses += 1
                if self._alias_uses > MAX_ALIASES:
                    raise _Refused(event.start_mark, f"*{event.anchor}", f"expected at most {MAX_ALIASES} aliases (*name) in a config file; write the values out")
                weight = self._weights.get(id(target))
                if weight is None:
                    raise _Refused(event.start_mark, f"*{event.anchor}", f"an alias inside the node &{event.anchor} it names makes a recursive structure; expected an alias to a finished node")
                self._alias_nodes += weight
                if self._alias_nodes > MAX_ALIAS_NODES:
                    raise _Refused(event.start_mark, f"*{event.anchor}", f"aliases would expand the document by more than {MAX_ALIAS_NODES} nodes (an alias bomb?); write the values out")
            return super().compose_node(parent, index)
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in ALLOWED_TAGS:
            hint = "merge keys (<<) are not supported: write the keys out" if tag == MERGE else "write the value without a tag (quote it to keep it a string)"
            raise _Refused(event.start_mark, _tag(tag), f"expected only plain YAML values (strings, numbers, true/false, null, mappings, lists); {hint}")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(event.start_mark, None, f"expected mappings and lists nested at most {MAX_DEPTH} deep")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, ScalarNode):
            weight = 1
            if node.tag == MERGE:
                raise _Refused(node.start_mark, node.value, "expected plain keys: merge keys (<<) are not supported, write the keys out")
            if node.tag in _CHECKED_SCALARS:
                implied = self.resolve(ScalarNode, node.value, (True, False))
                if implied != node.tag and not (node.tag == FLOAT and implied == INT):
                    raise _Refused(node.start_mark, node.value, f"expected a value of type {_tag(node.tag)[2:]}; drop the tag {_tag(node.tag)} or fix the value")
        elif isinstance(node, SequenceNode):
            weight = 1 + sum(self._weights[id(item)] for item in node.value)
        else:
            weight = 1 + sum(self._weights[id(k)] + self._weights[id(v)] for k, v in node.value)
        self._weights[id(node)] = weight
        return node

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, MappingNode):
            raise _Refused(node.start_mark, _seen(node), "expected a mapping")
        mapping: dict[Any, Any] = {}
        first: dict[Any, Node] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                seen = key in mapping
            except TypeError:
                raise _Refused(key_node.start_mark, _seen(key_node), "expected a plain key (a string or number), not a list or mapping") from None
            if seen:
                raise _Refused(
                    key_node.start_mark, str(key_node.value),
                    f"duplicate key (first at line {first[key].start_mark.line + 1}); YAML would keep only the last one: remove or merge them",
                )
            first[key] = key_node
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _line_at(text: str, index: int) -> tuple[int, int]:
    """Start and end of the line holding character ``index``."""
    start = max(text.rfind(c, 0, index) for c in _BREAKS) + 1
    ends = [e for e in (text.find(c, index) for c in _BREAKS) if e >= 0]
    return start, min(ends) if ends else len(text)


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character ``index``, counting line breaks as YAML does."""
    head = text[:index]
    line = head.count("\n") + len(re.findall("\r(?!\n)|[\x85\u2028\u2029]", head)) + 1
    return line, index - _line_at(text, index)[0] + 1


def _near_secret(text: str, index: int) -> bool:
    """Whether ``index`` is on a line that mentions ``secure``, or just after a line ending in ``secure:``."""
    start, end = _line_at(text, index)
    if "secure" in text[start:end].lower():
        return True
    if start == 0:
        return False
    p_start, p_end = _line_at(text, start - 1)
    return re.search(r"secure['\"]?\s*:\s*[|>]?[-+]?\s*$", text[p_start:p_end], re.IGNORECASE) is not None


def _shown(text: str, index: int | None, value: str | None, whole_line: bool = False) -> str:
    """What an error shows: ``value``, else the input from ``index`` to the end of its line (the whole line
    with ``whole_line``); never a ``secure:`` value; cut to :data:`MAX_EXCERPT` characters."""
    if index is None:
        return cut(value or "")
    index = min(index, len(text))
    if _near_secret(text, index):
        return "[secret]"
    if value is None or value == "":
        start, end = _line_at(text, index)
        value = text[start if whole_line else index:end].strip() or text[start:end].strip()
    return cut(value)


def cut(text: str) -> str:
    """``text`` cut to about :data:`MAX_EXCERPT` characters."""
    return text if len(text) <= MAX_EXCERPT else text[: MAX_EXCERPT - 3] + "..."


def load_yaml(path: Path, what: str, *, display: str | None = None, sections: Iterable[str] = (),
              strings: Iterable[str] = ()) -> dict[str, Any]:
    """The mapping in the YAML file ``path`` (``{}`` when empty), read by the rules in the module docstring.

    ``what`` says what the file is (e.g. ``"stack config"``) in messages; ``display`` is the name they
    use (default: ``path`` as given). ``sections`` are top-level keys that must hold a mapping of string
    keys (or nothing); ``strings`` top-level keys that must hold a string (or nothing).
    Raises :class:`ConfigError` with key ``<display>:<line>:<column>`` (the position where known).
    """
    name = display or str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(name, str(path), f"expected a readable {what} file ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(name, f"more than {MAX_BYTES} bytes", f"a {what} file may be at most {MAX_BYTES // 1024} KiB; is this the right file?")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{name}:{line}:{column}", f"byte 0x{data[exc.start]:02x}",
            f"expected a UTF-8 {what} file; save it as UTF-8 (e.g. iconv -f <encoding> -t UTF-8)",
        ) from None

    def refused(mark: Any, value: str | None, expected: str, whole_line: bool = False, safe: bool = False) -> ConfigError:
        if mark is None or safe:
            where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
            return ConfigError(where, cut(value or ""), expected)
        return ConfigError(f"{name}:{mark.line + 1}:{mark.column + 1}", _shown(text, mark.index, value, whole_line), expected)

    loader = None
    try:
        loader = StrictLoader(text)  # checks for control characters here
        root = loader.get_single_node()
        _check_shape(root, what, sections, strings)
        result = {} if root is None or root.tag == NULL else loader.construct_document(root)
    except _Refused as exc:
        raise refused(exc.mark, exc.value, exc.expected, safe=exc.safe) from None
    except yaml.MarkedYAMLError as exc:
        problem = "; ".join(p for p in (exc.context, exc.problem) if p)
        mark = exc.problem_mark
        if mark is None or (exc.context_mark is not None and not _shown(text, mark.index, None, True)):
            mark = exc.context_mark  # the problem is at the end of the input: show where the construct began
        raise refused(mark, None, f"expected valid YAML ({problem}){_hint(exc)}", whole_line=True) from None
    except yaml.reader.ReaderError as exc:
        line, column = _position(text, exc.position)
        shown = f"character {exc.character:#x}" if isinstance(exc.character, int) else ""
        raise ConfigError(
            f"{name}:{line}:{column}", shown,
            f"expected text without control characters ({exc.reason}); remove it, or write it as an escape in double quotes",
        ) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises only the errors above for str input
        raise ConfigError(name, "", f"expected valid YAML ({exc})") from None
    finally:
        if loader is not None:
            loader.dispose()
    return result


def _hint(exc: yaml.MarkedYAMLError) -> str:
    problem = f"{exc.problem or ''} {exc.context or ''}"
    if "'\\t'" in problem or "\\t" in problem:
        return "; YAML indents with spaces, not tabs"
    if "quoted scalar" in problem:
        return "; close the quote"
    if "mapping values are not allowed" in problem:
        return "; check the indentation, or quote a value that contains ': '"
    if "found undefined alias" in problem:
        return "; define the anchor (&name) before using *name"
    if "expected a single document" in problem:
        return "; a config file holds one document: remove the extra '---'"
    return "; check the indentation and quoting at this position"


def _check_shape(root: Node | None, what: str, sections: Iterable[str], strings: Iterable[str]) -> None:
    if root is None or root.tag == NULL:
        return
    if not isinstance(root, MappingNode):
        raise _Refused(root.start_mark, _seen(root), f"expected a mapping at the top level of a {what} file (key: value lines)")
    sections, strings = set(sections), set(strings)
    for key, value in root.value:
        if not (isinstance(key, ScalarNode) and key.tag == STR):
            raise _Refused(key.start_mark, _seen(key), f"expected a string key at the top level of a {what} file")
        if key.value in strings and value.tag != NULL and not (isinstance(value, ScalarNode) and value.tag == STR):
            raise _Refused(value.start_mark, _seen(value), f"expected `{key.value}` to be a string")
        if key.value in sections and value.tag != NULL:
            _check_section(key.value, value)


def _check_section(section: str, node: Node) -> None:
    if not isinstance(node, MappingNode):
        raise _Refused(node.start_mark, _seen(node), f"expected `{section}:` to be a mapping of keys to values, e.g. `{section}:` then `  project:key: value`")
    for key, value in node.value:
        if not (isinstance(key, ScalarNode) and key.tag == STR):
            raise _Refused(key.start_mark, _seen(key), f"expected a string key under `{section}:` (quote it: \"{key.value}\")" if isinstance(key, ScalarNode) else f"expected a string key under `{section}:`")
        if isinstance(value, MappingNode) and any(isinstance(k, ScalarNode) and k.value == "secure" for k, _ in value.value):
            keys = [cut(k.value) if isinstance(k, ScalarNode) else "..." for k, _ in value.value]
            if len(value.value) != 1:
                raise _Refused(value.start_mark, "{" + ", ".join(f"{k}: ..." for k in keys) + "}", f"expected a secure value `{key.value}: {{secure: <ciphertext>}}` with no other keys; set it again with pulumi config set --secret", safe=True)
            secret = value.value[0][1]
            if not (isinstance(secret, ScalarNode) and secret.tag == STR):
                raise _Refused(value.start_mark, "{secure: [secret]}", "expected the secure value to be the ciphertext string pulumi config set --secret writes", safe=True)
