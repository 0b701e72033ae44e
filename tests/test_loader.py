"""Hostile stack config files: every one is refused with a ConfigError naming file:line:column, quickly,
before the program runs; the CLI turns that into `lastmile: error: ...` and exit 1, no traceback."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
from apim_lastmile.tools import plan as plan_mod
from apim_lastmile.tools.cli import main
from apim_lastmile.errors import ConfigError
from apim_lastmile.tools.loader import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, load_yaml
from apim_lastmile.tools.plan import load_stack_config
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
DEV = (REPO / "stacks" / "Pulumi.dev.yaml").read_text()
BOUND = 2.0  # seconds: a bound on hostile input, not a benchmark
CIPHER = "AAABAJ1tbW9ja2VkLWNpcGhlcnRleHQ="


def project(tmp: Path, name: str, content: str | bytes) -> Path:
    """A project like the repo's (Pulumi.yaml, __main__.py) with stacks/Pulumi.<name>.yaml = content."""
    for file in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / file, tmp / file)
    (tmp / "stacks").mkdir(exist_ok=True)
    target = tmp / "stacks" / f"Pulumi.{name}.yaml"
    target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return tmp


def laughs(levels: int, width: int = 9, mapping: bool = False) -> str:
    """The "billion laughs" document: each level names the previous one ``width`` times."""
    if mapping:
        lines = ["a: &a {" + ", ".join(f"k{i}: lol" for i in range(width)) + "}"]
        lines += [f"{chr(98 + n)}: &{chr(98 + n)} {{" + ", ".join(f"k{i}: *{chr(97 + n)}" for i in range(width)) + "}" for n in range(levels)]
    else:
        lines = ["a: &a [" + ", ".join(['"lol"'] * width) + "]"]
        lines += [f"{chr(98 + n)}: &{chr(98 + n)} [" + ", ".join([f"*{chr(97 + n)}"] * width) + "]" for n in range(levels)]
    return "config:\n" + "".join(f"  apim-lastmile:{line}\n" for line in lines)


# (case id, file content, "line:column" in the message or None, text the message must contain)
HOSTILE = [
    ("billion-laughs", laughs(8), "6:24", "more than 10000 nodes"),
    ("billion-laughs-mappings", laughs(8, mapping=True), "5:68", "more than 10000 nodes"),
    ("alias-bomb-nested-deep", laughs(20, width=2), "13:24", "more than 10000 nodes"),
    ("too-many-aliases", "x: &x 1\nl: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n", "2:405", f"at most {MAX_ALIASES} aliases"),
    ("alias-recursive-list", "config:\n  apim-lastmile:a: &x [*x]\n", "2:24", "recursive"),
    ("alias-recursive-mapping", "config:\n  apim-lastmile:a: &x {self: *x}\n", "2:30", "recursive"),
    ("alias-undefined", "config:\n  apim-lastmile:a: *nope\n", "2:20", "undefined alias"),
    ("anchor-duplicate", "a: &x 1\nb: &x 2\n", "2:4", "duplicate anchor"),
    ("tag-set", "config:\n  apim-lastmile:a: !!set {x, y}\n", "2:20", "'!!set'"),
    ("tag-omap", "config:\n  apim-lastmile:a: !!omap [{x: 1}]\n", "2:20", "'!!omap'"),
    ("tag-pairs", "config:\n  apim-lastmile:a: !!pairs [{x: 1}]\n", "2:20", "'!!pairs'"),
    ("tag-binary", "config:\n  apim-lastmile:a: !!binary aGVsbG8=\n", "2:20", "'!!binary'"),
    ("tag-timestamp", "config:\n  apim-lastmile:a: !!timestamp 2026-11-23\n", "2:20", "'!!timestamp'"),
    ("tag-python-object", "config:\n  apim-lastmile:a: !!python/object:os.system {}\n", "2:20", "'!!python/object:os.system'"),
    ("tag-python-apply", "config:\n  apim-lastmile:a: !!python/object/apply:os.system [id]\n", "2:20", "'!!python/object/apply:os.system'"),
    ("tag-python-name", "config:\n  apim-lastmile:a: !!python/name:os.system ''\n", "2:20", "'!!python/name:os.system'"),
    ("tag-python-module", "a: !!python/module:os ''\n", "1:4", "'!!python/module:os'"),
    ("tag-custom", "config:\n  apim-lastmile:a: !Ref other\n", "2:20", "'!Ref'"),
    ("tag-verbatim-custom", "a: !<tag:example.com,2026:x> y\n", "1:4", "tag:example.com,2026:x"),
    ("tag-on-key", "!!python/object:os.system x: 1\n", "1:1", "python/object"),
    ("merge-key", "base: &b {x: 1}\nconfig:\n  <<: *b\n", "3:3", "merge keys"),
    ("explicit-int-not-a-number", "config:\n  apim-lastmile:a: !!int abc\n", "2:20", "type int"),
    ("explicit-bool-not-a-bool", "config:\n  apim-lastmile:a: !!bool maybe\n", "2:20", "type bool"),
    ("int-literal-without-digits", "config:\n  apim-lastmile:a: 0x_\n", "2:20", "valid int"),
    ("int-with-5000-digits", "config:\n  apim-lastmile:a: " + "7" * 5000 + "\n", "2:20", "valid int"),
    ("duplicate-top-level-key", "config:\n  apim-lastmile:a: 1\nconfig:\n  apim-lastmile:b: 2\n", "3:1", "duplicate key (first at line 1)"),
    ("duplicate-config-key", DEV + "  apim-lastmile:gateway: {sku: Premium}\n", f"{DEV.count(chr(10)) + 1}:3", "duplicate key (first at line 7)"),
    ("duplicate-nested-key", "config:\n  apim-lastmile:gateway:\n    sku: Consumption\n    sku: Premium\n", "4:5", "duplicate key (first at line 3)"),
    ("duplicate-equal-keys", "config:\n  apim-lastmile:a: {1: x, 1.0: y}\n", "2:27", "duplicate key"),
    ("unhashable-key", "config:\n  apim-lastmile:a: {[1]: x}\n", "2:21", "plain key"),
    ("tab-indentation", "config:\n\tapim-lastmile:a: 1\n", "2:1", "not tabs"),
    ("bad-indentation", "config:\n  apim-lastmile:a: 1\n   apim-lastmile:b: 2\n  x\n", "3:19", "expected valid YAML"),
    ("mapping-in-plain-value", "config:\n  apim-lastmile:a: b: c\n", "2:21", "quote a value"),
    ("unterminated-single-quote", "config:\n  apim-lastmile:a: 'abc\n", "2:20", "close the quote"),
    ("unterminated-double-quote", 'config:\n  apim-lastmile:a: "abc\n  apim-lastmile:b: 1\n', "2:20", "close the quote"),
    ("unclosed-flow", "config:\n  apim-lastmile:a: {x: [1, 2\n", "2:24", "expected valid YAML"),
    ("two-documents", "config: {}\n---\nconfig: {}\n", "2:1", "one document"),
    ("control-character", "config:\n  apim-lastmile:a: b\x07c\n", "2:21", "control characters"),
    ("nul-byte", b"config:\n  apim-lastmile:a: b\x00c\n", "2:21", "control characters"),
    ("not-utf8-latin1", "config:\n  apim-lastmile:a: caf\xe9\n".encode("latin-1"), "2:23", "UTF-8"),
    ("not-utf8-utf16", "config: {}\n".encode("utf-16"), "1:1", "UTF-8"),
    ("top-level-list", "- config\n- a\n", "1:1", "mapping at the top level"),
    ("top-level-scalar", "just some text\n", "1:1", "mapping at the top level"),
    ("top-level-int-key", "5: x\n", "1:1", "string key at the top level"),
    ("config-is-int", "config: 5\n", "1:9", "`config:` to be a mapping"),
    ("config-is-list", "config: [1,2]\n", "1:9", "`config:` to be a mapping"),
    ("config-is-string", "config: apim-lastmile:a\n", "1:9", "`config:` to be a mapping"),
    ("config-key-int", "config:\n  5: x\n", "2:3", "string key under `config:`"),
    ("config-key-bool", "config:\n  true: x\n", "2:3", "string key under `config:`"),
    ("config-key-list", "config:\n  [a, b]: x\n", "2:3", "string key under `config:`"),
    ("secure-with-extra-keys", f"config:\n  apim-lastmile:pw:\n    secure: {CIPHER}\n    plain: hunter2\n", "3:5", "{secure: ..., plain: ...}"),
    ("secure-not-a-string", f"config:\n  apim-lastmile:pw: {{secure: [{CIPHER}]}}\n", "2:21", "ciphertext string"),
    ("secure-syntax-error", f"config:\n  apim-lastmile:pw: {{secure: {CIPHER}\n", "2:21", "expected valid YAML"),
    # the root and `config:` are two of the MAX_DEPTH levels
    ("deep-nesting", "config:\n  apim-lastmile:a: " + "[" * 100_000, f"2:{20 + MAX_DEPTH - 2}", f"at most {MAX_DEPTH} deep"),
    ("pulumi-yaml-name-not-a-string", None, "1:7", "`name` to be a string"),
    ("file-over-the-size-limit", "a: " + "x" * MAX_BYTES + "\n", None, "at most 256 KiB"),
    ("file-of-2-mib", "config:\n" + "  apim-lastmile:k: v\n" * (2 * 1024 * 1024 // 20), None, "at most 256 KiB"),
]


@pytest.fixture
def no_program(monkeypatch):
    """The loader must refuse before the program runs: running it fails the test."""

    def refuse_to_run(*args, **kwargs):
        raise AssertionError("the program ran: the loader should have refused the file first")

    monkeypatch.setattr(plan_mod, "run", refuse_to_run)


@pytest.mark.parametrize("case, content, where, says", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_stack_file_is_refused_cleanly(case, content, where, says, tmp_path, no_program, capsys):
    stack = case
    if content is None:  # the hostile file is Pulumi.yaml itself
        proj = project(tmp_path, stack, DEV)
        (proj / "Pulumi.yaml").write_text("name: [apim-lastmile]\nruntime: python\n")
        shown = "Pulumi.yaml"
    else:
        proj = project(tmp_path, stack, content)
        shown = f"stacks/Pulumi.{stack}.yaml"

    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_stack_config(proj, stack)
    assert time.monotonic() - started < BOUND, f"{case}: took {time.monotonic() - started:.2f} s"
    message = str(err.value)
    assert message.startswith(shown + (f":{where}:" if where else ":")), message
    assert says in message, message
    assert CIPHER not in message and "hunter2" not in message, message
    assert len(message) < 400, message

    started = time.monotonic()
    assert main(["plan", stack, "--project-dir", str(proj)]) == 1
    assert time.monotonic() - started < BOUND
    out, errors = capsys.readouterr()
    assert errors == f"lastmile: error: {message}\n" and out == ""
    assert "Traceback" not in errors


def test_billion_laughs_is_refused_with_bounded_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(laughs(9))
    assert len(path.read_bytes()) < 1000
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(ConfigError, match="alias bomb"):
            load_yaml(path, "stack config")
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5 and peak < 5_000_000, (elapsed, peak)


@pytest.mark.parametrize("stack", ["../dev", "dev/../../x", "", "a b", "dev\n"])
def test_stack_names_cannot_leave_the_stack_directory(stack, no_program):
    with pytest.raises(ConfigError, match="stack name"):
        load_stack_config(REPO, stack)


# ---- what stays accepted ----

def test_unquoted_date_stays_a_string_and_plans(tmp_path, capsys):
    text = DEV.replace('rotation: "2026-11-23"', "rotation: 2026-11-23")
    assert text != DEV
    proj = project(tmp_path, "dated", text)
    _, config, _ = load_stack_config(proj, "dated")
    assert config["apim-lastmile:secretBackends"][0]["rotation"] == "2026-11-23"
    assert main(["plan", "dated", "--json", "--project-dir", str(proj)]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    keepers = [r["inputs"]["keepers"] for r in json.loads(out.out)["resources"] if r["type"] == "random:index/randomPassword:RandomPassword"]
    assert keepers == [{"rotation": "2026-11-23"}]


@pytest.mark.parametrize(
    "content, config",
    [
        (b"\xef\xbb\xbfconfig:\n  apim-lastmile:a: 1\n", {"apim-lastmile:a": 1}),  # UTF-8 BOM
        ("", {}),
        ("# only a comment\n", {}),
        ("config:\n", {}),
        ("---\nconfig: {}\n...\n", {}),
        ("config:\n  a: !!str 123\n  b: !!float 1\n  d: '2026-11-23'\n", {"apim-lastmile:a": "123", "apim-lastmile:b": 1.0, "apim-lastmile:d": "2026-11-23"}),
        ("ops: &ops [{method: GET, urlTemplate: /*}]\nconfig:\n  a: *ops\n  b: *ops\n",
         {"apim-lastmile:a": [{"method": "GET", "urlTemplate": "/*"}], "apim-lastmile:b": [{"method": "GET", "urlTemplate": "/*"}]}),
        ("config:\n  a: =\n  b: yes\n  c: 0x1F\n", {"apim-lastmile:a": "=", "apim-lastmile:b": True, "apim-lastmile:c": 31}),
    ],
    ids=["bom", "empty", "comment-only", "config-null", "explicit-document", "explicit-plain-tags", "modest-aliases", "yaml-1.1-scalars"],
)
def test_valid_files_still_load(content, config, tmp_path):
    proj = project(tmp_path, "ok", content)
    assert load_stack_config(proj, "ok") == ("apim-lastmile", config, [])


def test_secure_values_become_placeholders(tmp_path):
    proj = project(tmp_path, "sec", f"config:\n  apim-lastmile:pw:\n    secure: {CIPHER}\n  other:pw: {{secure: x}}\n")
    _, config, secret_keys = load_stack_config(proj, "sec")
    assert config == {"apim-lastmile:pw": "offline-placeholder-for-a-secure-value", "other:pw": "offline-placeholder-for-a-secure-value"}
    assert secret_keys == ["apim-lastmile:pw", "other:pw"]


def test_safeloader_itself_is_left_alone():
    import datetime

    import yaml

    assert isinstance(yaml.safe_load("d: 2026-11-23")["d"], datetime.date)
    assert yaml.safe_load("s: !!set {a}")["s"] == {"a"}


def test_the_repo_stacks_load_as_before():
    for stack in ("dev", "prod"):
        project_name, config, _ = load_stack_config(REPO, stack)
        assert project_name == "apim-lastmile" and config["azure-native:location"] == "westeurope"
    assert load_stack_config(REPO, "prod")[2] == ["apim-lastmile:erpPassword"]


# ---- fuzz: nothing but ConfigError escapes, and what loads is plain JSON-able data ----

FRAGMENTS = [
    "a: &x [*x]", "a: &x 1", "b: *x", "*x", "&y ", "*y", "!!set ", "!!binary ", "!!python/object:os.system ", "!foo ",
    "!!int ", "!!bool ", "!", "<<: ", "- ", ": ", "? ", "{", "}", "[", "]", ",", "'", '"', "\t", "\n", "\r\n", "  ", "    ",
    "#", "|\n", ">-\n", "---\n", "...\n", "%YAML 1.1\n", "%TAG !e! tag:example.com,2000:\n", "config:", "config: ",
    "secure: ", "apim-lastmile:a", "rotation: 2026-11-23", "0x_", "0b", "1_000", "1:30", ".5", ".inf", "~", "null", "yes",
    "=", "\ufeff", "\x00", "\x85", "\u2028", "é", "\\u00e9", "key", "1", "1.0",
]


def _check(data: bytes, sections=()) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Pulumi.fuzz.yaml"
        path.write_bytes(data)
        try:
            result = load_yaml(path, "stack config", display="Pulumi.fuzz.yaml", sections=sections)
        except ConfigError as exc:
            assert str(exc).startswith("Pulumi.fuzz.yaml"), exc
            return
    assert isinstance(result, dict) and all(isinstance(k, str) for k in result), result
    json.dumps(result)  # plain data only: no dates, sets, bytes or cycles
    for section in sections:
        value = result.get(section)
        assert value is None or (isinstance(value, dict) and all(isinstance(k, str) for k in value)), value


@settings(max_examples=60, deadline=None)  # the suite's 90 s budget (docs/design.md)
@given(st.text())
def test_fuzz_random_text(text):
    _check(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=60, deadline=None)  # the suite's 90 s budget (docs/design.md)
@given(st.binary())
def test_fuzz_random_bytes(data):
    _check(data)


@settings(max_examples=60, deadline=None)  # the suite's 90 s budget (docs/design.md)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_fuzz_yamlish_documents(text):
    _check(text.encode("utf-8", "surrogatepass"), sections=("config",))
