"""Hostile input to `lastmile diff` and `lastmile verify`: every malformed input ends as one clean error line.

Each case runs ``apim_lastmile.tools.cli.main`` as the console script would, with the subscription key in play (from the
environment and/or the flag), and asserts: the exit code, a message naming the input, no traceback, the key never
printed, a short message, and that it finished in well under 5 seconds. Verify cases that must be refused before any
request point their other URL at a recording server and assert it saw nothing.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apim_lastmile.tools.cli import main
from apim_lastmile.tools.diff import MAX_BYTES, diff_plans, load_plan, render
from apim_lastmile.errors import LastMileError

from helpers import LoopbackServer

KEY = "k3y-S3CRET-9f8e7d6c"
TYPE = "azure-native:apimanagement:Api"
URN = f"urn:pulumi:dev::apim-lastmile::{TYPE}::orders"


def plan(**changes: Any) -> dict:
    """A small plan of the shape `lastmile plan --json` writes; ``changes`` replace top-level keys."""
    data = {
        "stack": "dev",
        "resources": [{"urn": URN, "type": TYPE, "name": "orders", "parent": None, "protect": False,
                       "inputs": {"path": "orders", "protocols": ["https"]}}],
        "policies": {"orders-policy": "<policies>\n  <inbound>\n    <base/>\n  </inbound>\n</policies>\n"},
        "outputs": {"gateway_url": "https://apim.example.net"},
    }
    data.update(changes)
    return data


def resource(**changes: Any) -> dict:
    data = dict(plan()["resources"][0])
    data.update(changes)
    return data


def without(key: str, data: Optional[dict] = None) -> dict:
    data = dict(data or plan())
    del data[key]
    return data


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"x": value}
    return value


# --- servers ------------------------------------------------------------------------------------------------

class EchoServer(LoopbackServer):
    """Answers every GET with ``status`` and a body that echoes the request headers (a leaky error page)."""

    def __init__(self, status: int):
        self.status = status

        def answer(handler):
            body = f"error: you sent {handler.headers}".encode()
            handler.send_response(status, f"echo {handler.headers.get('Ocp-Apim-Subscription-Key')}")
            handler.send_header("X-Echo", str(handler.headers.get("Ocp-Apim-Subscription-Key")))
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        super().__init__(answer)


class RawServer:
    """Reads a request and answers with ``reply(request_bytes)``, whatever bytes that is (not HTTP, say)."""

    def __init__(self, reply: Callable[[bytes], bytes]):
        self.seen: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.reply, self.running = reply, True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    self.seen.append(data)
                    conn.sendall(self.reply(data))
                except OSError:
                    pass

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def _key_line(request: bytes) -> bytes:
    return next((line for line in request.split(b"\r\n") if line.lower().startswith(b"ocp-apim")), b"no key")


@pytest.fixture
def servers():
    made: list = []

    def make(kind: str, arg: Any):
        made.append(EchoServer(arg) if kind == "echo" else RawServer(arg))
        return made[-1]

    yield make
    for server in made:
        server.close()


# --- the corpus ---------------------------------------------------------------------------------------------

@dataclass
class Ctx:
    tmp: Path
    servers: Callable
    sentinel: Any = None  # a server that must see no request
    stdin: Optional[str] = None
    env: dict = field(default_factory=lambda: {"LASTMILE_SUBSCRIPTION_KEY": KEY})

    def file(self, name: str, content: Any) -> str:
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
        return str(path)

    def good(self) -> str:
        return self.file("good.json", plan())

    def diff(self, content: Any, name: str = "bad-plan.json") -> list[str]:
        return ["diff", self.file(name, content), self.good()]

    def outputs(self, function_url: Any = None, api_url: Any = None, backends: Any = None, **extra) -> dict:
        """Outputs with one backend; a URL not given points at the sentinel (which must see nothing)."""
        if self.sentinel is None:
            self.sentinel = self.servers("echo", 200)
        if backends is None:
            backends = {"orders": {"function_url": function_url or self.sentinel.url + "/api",
                                   "api_url": api_url or self.sentinel.url + "/orders"}}
        return {"gateway_url": "https://apim.example.net", "function_backends": backends, **extra}

    def verify(self, outputs: Any, *extra: str) -> list[str]:
        self.stdin = outputs if isinstance(outputs, str) else json.dumps(outputs)
        return ["verify", "dev", *extra]


@dataclass
class Case:
    id: str
    argv: Callable[[Ctx], list[str]]
    names: tuple[str, ...]  # every one of these appears in stderr (stdout when `where` says so)
    code: int = 1
    where: str = "err"
    env: Optional[dict] = None  # replaces the default environment (the key in LASTMILE_SUBSCRIPTION_KEY)
    no_request: bool = False  # the sentinel server must have seen no request
    hidden: tuple[str, ...] = ()  # besides the key, these must not be printed


def _big(ctx: Ctx) -> list[str]:
    path = ctx.tmp / "huge.json"
    with open(path, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: no 64 MiB written
    return ["diff", str(path), ctx.good()]


def _userinfo(ctx: Ctx) -> list[str]:
    return ctx.verify(ctx.outputs(function_url="https://admin:hunter2@func.example.net/api"))


def _echo(status: int) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        function, gateway = ctx.servers("echo", 401), ctx.servers("echo", status)
        return ctx.verify(ctx.outputs(function.url + "/api", gateway.url + "/orders"), "--subscription-key", KEY, "--timeout", "3")
    return argv


def _raw(reply: Callable[[bytes], bytes]) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        function, gateway = ctx.servers("echo", 401), ctx.servers("raw", reply)
        return ctx.verify(ctx.outputs(function.url + "/api", gateway.url + "/orders"), "--timeout", "2")
    return argv


CASES = [
    # diff: the file itself
    Case("plan-missing", lambda c: ["diff", str(c.tmp / "no-such-plan.json"), c.good()], ("no-such-plan.json", "No such file")),
    Case("plan-directory", lambda c: ["diff", str(c.tmp), c.good()], ("a directory",)),
    Case("plan-not-utf8", lambda c: c.diff(b'{"stack": "\xff\xfe"}'), ("bad-plan.json", "not UTF-8")),
    Case("plan-utf16", lambda c: c.diff(json.dumps(plan()).encode("utf-16")), ("bad-plan.json", "not UTF-8")),
    Case("plan-empty-file", lambda c: c.diff(""), ("bad-plan.json", "line 1 column 1")),
    Case("plan-not-json", lambda c: c.diff("stack: dev\n"), ("bad-plan.json", "line 1 column 1")),
    Case("plan-truncated-json", lambda c: c.diff('{\n  "stack": "dev",\n  "resources": ['), ("bad-plan.json", "line 3 column")),
    Case("plan-nan", lambda c: c.diff('{"stack": NaN}'), ("bad-plan.json", "NaN")),
    Case("plan-too-large", _big, ("huge.json", "bytes")),
    Case("plan-deep-nesting", lambda c: c.diff("[" * 200_000 + "]" * 200_000), ("bad-plan.json", "nested")),
    Case("plan-deep-inputs", lambda c: c.diff(plan(resources=[resource(inputs=nested(80))])), ("bad-plan.json", "nested more than")),
    Case("plan-lone-surrogate", lambda c: c.diff('{"stack": "dev\\ud800"}'), ("bad-plan.json", "surrogate")),
    # diff: JSON, but not a plan
    Case("plan-is-array", lambda c: c.diff([plan()]), ("bad-plan.json", "array")),
    Case("plan-is-string", lambda c: c.diff('"plan"'), ("bad-plan.json", "string")),
    Case("plan-is-null", lambda c: c.diff(None), ("bad-plan.json", "null")),
    Case("plan-no-stack", lambda c: c.diff(without("stack")), ("bad-plan.json: stack", "lastmile plan <stack> --json")),
    Case("plan-stack-number", lambda c: c.diff(plan(stack=7)), ("bad-plan.json: stack", "7")),
    Case("plan-stack-escape-sequence", lambda c: c.diff(plan(stack="dev\x1b[2J\rprod")), ("bad-plan.json: stack", "control")),
    Case("plan-no-resources", lambda c: c.diff(without("resources")), ("bad-plan.json: resources", "nothing")),
    Case("plan-resources-object", lambda c: c.diff(plan(resources={"a": 1})), ("bad-plan.json: resources", "list")),
    Case("plan-resource-string", lambda c: c.diff(plan(resources=["urn:x"])), ("resources[0]", "resource object")),
    Case("plan-urn-number", lambda c: c.diff(plan(resources=[resource(urn=5)])), ("resources[0].urn", "string")),
    Case("plan-type-missing", lambda c: c.diff(plan(resources=[without("type", resource())])), ("resources[0].type",)),
    Case("plan-name-empty", lambda c: c.diff(plan(resources=[resource(name="")])), ("resources[0].name", "non-empty")),
    Case("plan-name-newline", lambda c: c.diff(plan(resources=[resource(name="a\n+ forged  line")])), ("resources[0].name", "control")),
    Case("plan-inputs-list", lambda c: c.diff(plan(resources=[resource(inputs=[1, 2])])), ("resources[0].inputs", "object")),
    Case("plan-inputs-missing", lambda c: c.diff(plan(resources=[without("inputs", resource())])), ("resources[0].inputs",)),
    Case("plan-parent-number", lambda c: c.diff(plan(resources=[resource(parent=3)])), ("resources[0].parent",)),
    Case("plan-protect-string", lambda c: c.diff(plan(resources=[resource(protect="yes")])), ("resources[0].protect", "true or false")),
    Case("plan-duplicate-urn", lambda c: c.diff(plan(resources=[resource(), resource(name="again")])), ("resources[1].urn", "each URN once")),
    Case("plan-policies-list", lambda c: c.diff(plan(policies=["<policies/>"])), ("bad-plan.json: policies", "object")),
    Case("plan-policy-number", lambda c: c.diff(plan(policies={"p": 1})), ("policies.p", "string")),
    Case("plan-policy-name-bidi", lambda c: c.diff(plan(policies={"p\u202eevil": "<policies/>"})), ("policies", "bidirectional")),
    Case("plan-policy-too-large", lambda c: c.diff(plan(policies={"p": "x" * (1024 * 1024 + 1)})), ("policies.p", "characters")),
    Case("plan-no-outputs", lambda c: c.diff(without("outputs")), ("bad-plan.json: outputs",)),
    Case("plan-outputs-list", lambda c: c.diff(plan(outputs=[])), ("bad-plan.json: outputs",)),
    Case("plan-huge-value-shown-short", lambda c: c.diff(plan(resources="A" * 100_000)), ("bad-plan.json: resources", "AAA...")),
    # verify: the outputs
    Case("outputs-not-json", lambda c: c.verify("stack: dev"), ("outputs", "line 1 column 1", "pulumi stack output --json")),
    Case("outputs-not-utf8", lambda c: ["verify", "dev", "--outputs", c.file("out.json", b"\xff{}")], ("out.json", "not UTF-8")),
    Case("outputs-missing-file", lambda c: ["verify", "dev", "--outputs", str(c.tmp / "nope.json")], ("nope.json", "No such file")),
    Case("outputs-directory", lambda c: ["verify", "dev", "--outputs", str(c.tmp)], ("--outputs", "a directory")),
    Case("outputs-array", lambda c: c.verify([1, 2]), ("outputs", "pulumi stack output --json")),
    Case("outputs-deep", lambda c: c.verify("[" * 100_000), ("outputs", "nested")),
    Case("outputs-no-backends", lambda c: c.verify({"gateway_url": "https://x"}), ("outputs.function_backends",)),
    Case("outputs-backends-list", lambda c: c.verify({"function_backends": [{"api_url": "https://x"}]}), ("outputs.function_backends", "object of objects")),
    Case("outputs-backend-string", lambda c: c.verify(c.outputs(backends={"orders": "https://x"})), ("function_backends.orders", "object")),
    Case("outputs-url-number", lambda c: c.verify(c.outputs(api_url=443)), ("function_backends.orders.api_url", "URL"), no_request=True),
    Case("outputs-url-secret", lambda c: c.verify(c.outputs(function_url="[secret]")), ("function_backends.orders.function_url", "--show-secrets"), no_request=True),
    Case("outputs-backend-name-control", lambda c: c.verify(c.outputs(backends={"or\x1b]0;x\x07ders": {}})), ("function_backends", "printable")),
    # verify: URLs that must not be called
    Case("url-userinfo", _userinfo, ("function_backends.orders.function_url", "credentials"), no_request=True, hidden=("hunter2",)),
    Case("url-ip-literal", lambda c: c.verify(c.outputs(api_url="https://10.0.0.5/orders")), ("api_url", "not an IP address"), no_request=True),
    Case("url-metadata", lambda c: c.verify(c.outputs(function_url="https://169.254.169.254/metadata/instance")), ("function_url", "link-local or metadata"), no_request=True),
    Case("url-metadata-decimal", lambda c: c.verify(c.outputs(function_url="http://2852039166/latest/")), ("function_url", "link-local or metadata"), no_request=True),
    Case("url-metadata-hex", lambda c: c.verify(c.outputs(function_url="https://0xa9.0xfe.0xa9.0xfe/")), ("function_url", "link-local or metadata"), no_request=True),
    Case("url-ipv6-link-local", lambda c: c.verify(c.outputs(api_url="https://[fe80::1]/orders")), ("api_url", "link-local or metadata"), no_request=True),
    Case("url-ipv4-mapped-metadata", lambda c: c.verify(c.outputs(api_url="https://[::ffff:169.254.169.254]/")), ("api_url", "link-local or metadata"), no_request=True),
    Case("url-file-scheme", lambda c: c.verify(c.outputs(function_url="file:///etc/passwd")), ("function_url", "https://"), no_request=True),
    Case("url-crlf", lambda c: c.verify(c.outputs(api_url="https://apim.example.net/x\r\nHost: evil")), ("api_url", "control"), no_request=True),
    Case("url-bad-port", lambda c: c.verify(c.outputs(api_url="https://apim.example.net:99999/")), ("api_url", "well-formed"), no_request=True),
    Case("url-plain-http-remote", lambda c: c.verify(c.outputs(function_url="http://func.example.net/api")), ("func.example.net", "only https://"), where="out"),
    # verify: options
    Case("path-relative", lambda c: c.verify(c.outputs(), "--path", "health"), ("--path", "starting with /"), no_request=True),
    Case("path-host", lambda c: c.verify(c.outputs(), "--path", "//evil.example/x"), ("--path", "no scheme or host"), no_request=True),
    Case("path-scheme", lambda c: c.verify(c.outputs(), "--path", "/https://evil.example/x"), ("--path", "no scheme or host"), no_request=True),
    Case("path-dotdot", lambda c: c.verify(c.outputs(), "--path", "/api/../admin"), ("--path", "'..'"), no_request=True),
    Case("path-encoded-dotdot", lambda c: c.verify(c.outputs(), "--path", "/api/%2e%2e/admin"), ("--path", "'..'"), no_request=True),
    Case("path-crlf", lambda c: c.verify(c.outputs(), "--path", "/x\r\nHost: evil"), ("--path", "CR/LF"), no_request=True),
    Case("path-encoded-crlf", lambda c: c.verify(c.outputs(), "--path", "/x%0d%0aSet-Cookie:a"), ("--path", "CR/LF"), no_request=True),
    Case("timeout-zero", lambda c: c.verify(c.outputs(), "--timeout", "0"), ("--timeout", "more than 0"), no_request=True),
    Case("timeout-negative", lambda c: c.verify(c.outputs(), "--timeout", "-5"), ("--timeout",), no_request=True),
    Case("timeout-nan", lambda c: c.verify(c.outputs(), "--timeout", "nan"), ("--timeout",), no_request=True),
    Case("timeout-huge", lambda c: c.verify(c.outputs(), "--timeout", "1e9"), ("--timeout", "at most 120"), no_request=True),
    Case("timeout-not-a-number", lambda c: c.verify(c.outputs(), "--timeout", "soon"), ("--timeout", "invalid float"), code=2, no_request=True),
    Case("stack-control", lambda c: ["verify", "dev\x1b[31m", "--outputs", c.file("o.json", c.outputs())], ("stack",), no_request=True),
    # verify: the key
    Case("key-crlf-flag", lambda c: c.verify(c.outputs(), "--subscription-key", KEY + "\r\nX-Evil: 1"), ("--subscription-key", "CR/LF"), no_request=True, env={}),
    Case("key-crlf-env", lambda c: c.verify(c.outputs()), ("LASTMILE_SUBSCRIPTION_KEY", "CR/LF"), no_request=True,
         env={"LASTMILE_SUBSCRIPTION_KEY": KEY + "\nX-Evil: 1"}),
    Case("key-non-ascii", lambda c: c.verify(c.outputs(), "--subscription-key", KEY + "é"), ("--subscription-key", "non-ASCII"), no_request=True, env={}),
    Case("key-in-argparse-error", lambda c: ["diff", "a.json", "b.json", "--subscription-key", KEY], ("unrecognized arguments", "***"), code=2),
    Case("key-in-argparse-error-abbreviated", lambda c: ["verify", "dev", "--subscr=" + KEY, "--bogus=" + KEY], ("unrecognized arguments", "***"), code=2),
    Case("key-in-url-query", lambda c: c.verify(c.outputs(c.servers("echo", 401).url + "/api", c.servers("echo", 200).url + "/orders?subscription-key=" + KEY)), ("subscription-key=***",), code=0, where="out"),
    # verify: servers that echo the key back
    Case("server-echoes-headers-500", _echo(500), ("expected a 2xx answer through the gateway, got 500",), where="out"),
    Case("server-echoes-headers-401", _echo(401), ("401: the function refused",), where="out"),
    Case("server-bad-status-line-with-key", _raw(lambda req: b"HTTP/1.1 OK " + _key_line(req) + b"\r\n\r\n"), ("no answer", "***"), where="out"),
    Case("server-not-http", _raw(lambda req: b"\x00\x1b[2J" + req), ("no answer",), where="out"),
    Case("server-header-line-too-long", _raw(lambda req: b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n"), ("no answer",), where="out"),
    # the command line itself
    Case("no-command", lambda c: [], ("required",), code=2),
    Case("unknown-command", lambda c: ["deploy"], ("invalid choice",), code=2),
    Case("diff-one-file", lambda c: ["diff", c.good()], ("required", "head"), code=2),
]


def test_the_corpus_is_large():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_cleanly(case, tmp_path, servers, monkeypatch, capsys):
    ctx = Ctx(tmp_path, servers)
    for name in ("LASTMILE_SUBSCRIPTION_KEY",):
        monkeypatch.delenv(name, raising=False)
    for name, value in (ctx.env if case.env is None else case.env).items():
        monkeypatch.setenv(name, value)
    argv = case.argv(ctx)
    monkeypatch.setattr("sys.stdin", io.StringIO(ctx.stdin if ctx.stdin is not None else ""))
    capsys.readouterr()

    start = time.monotonic()
    code = main(argv)
    elapsed = time.monotonic() - start
    out, err = capsys.readouterr()

    assert code == case.code, (out, err)
    assert elapsed < 5, f"took {elapsed:.1f}s"
    both = out + err
    assert "Traceback" not in both
    assert KEY not in both and KEY.lower() not in both.lower()
    for secret in case.hidden:
        assert secret not in both
    where = out if case.where == "out" else err
    for name in case.names:
        assert name in where, (name, out, err)
    if case.code == 1 and case.where == "err":
        assert err.startswith("lastmile: error: ") and err.count("\n") == 1, err
        assert len(err) < 600, f"message too long ({len(err)} chars)"
        assert out == ""
    if case.no_request:
        assert ctx.sentinel is None or ctx.sentinel.seen == [], "a request was made before the input was refused"


def test_a_plan_with_a_byte_order_mark_and_odd_text_is_diffed_safely(tmp_path, capsys):
    """Text a plan may legally hold (backticks, escape-like characters in inputs) cannot forge lines or fences."""
    head = plan(policies={"orders-policy": "<policies>\n```\n<!-- \x1b[2J -->\n</policies>\n"},
                resources=[resource(inputs={"path": "orders", "evil\nkey": 1})])
    (tmp_path / "b.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(plan()).encode())
    (tmp_path / "h.json").write_text(json.dumps(head))
    assert main(["diff", str(tmp_path / "b.json"), str(tmp_path / "h.json"), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "inputs.evil\\x0akey" in out
    assert "````diff" in out, "the fence is longer than the backticks inside"


def test_verify_passes_and_never_prints_the_key(servers, monkeypatch, capsys):
    function, gateway = servers("echo", 401), servers("echo", 200)
    data = {"function_backends": {"orders": {"function_url": function.url + "/api", "api_url": gateway.url + "/orders"}}}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(data)))
    monkeypatch.setenv("LASTMILE_SUBSCRIPTION_KEY", KEY)
    assert main(["verify", "dev", "--path", "/health?probe=1"]) == 0
    out, err = capsys.readouterr()
    assert KEY not in out + err and "2 checks, 0 failed" in out
    assert gateway.seen[0][1]["Ocp-Apim-Subscription-Key"] == KEY and gateway.seen[0][0] == "/orders/health?probe=1"


# --- fuzz ---------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
names = st.one_of(st.text(max_size=12), st.sampled_from(["orders", "dev", URN, TYPE]), st.integers(), st.none())
resources = st.fixed_dictionaries(
    {"urn": names, "type": names, "name": names},
    optional={"inputs": st.one_of(st.dictionaries(st.text(max_size=6), json_values, max_size=3), json_values),
              "parent": st.one_of(st.none(), names), "protect": st.one_of(st.booleans(), json_values)},
)
plans = st.fixed_dictionaries(
    {},
    optional={"stack": names, "resources": st.one_of(st.lists(resources, max_size=4), json_values),
              "policies": st.one_of(st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=60), json_values), max_size=3), json_values),
              "outputs": st.one_of(st.dictionaries(st.text(max_size=5), json_values, max_size=2), json_values)},
)
documents = st.one_of(
    json_values.map(json.dumps),
    plans.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n),
)


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(base=documents, head=documents)
def test_fuzz_load_plan_raises_only_lastmile_error_and_diff_never_crashes(tmp_path_factory, base, head):
    folder = tmp_path_factory.mktemp("fuzz", numbered=True)
    loaded = []
    for name, document in (("base.json", base), ("head.json", head)):
        path = folder / name
        path.write_bytes(document if isinstance(document, bytes) else document.encode("utf-8", "surrogatepass"))
        try:
            loaded.append(load_plan(str(path)))
        except LastMileError as exc:
            assert len(str(exc)) < 1000
    for a in loaded:
        for b in loaded:
            text = render(diff_plans(a, b), a, b, markdown=True) + render(diff_plans(a, b), a, b)
            text.encode("utf-8")


def test_a_host_name_that_resolves_to_the_metadata_address_is_not_called(monkeypatch, capsys):
    """A name (DNS rebinding, nip.io) for 169.254.169.254 is refused after resolution, before the request."""
    calls = []

    def resolve(host, port, *args, **kwargs):
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr("apim_lastmile.tools.verify.socket.getaddrinfo", resolve)
    monkeypatch.setattr("apim_lastmile.tools.verify._opener", lambda: pytest.fail("a request was made"))
    data = {"function_backends": {"orders": {"function_url": "https://metadata.example.net/api", "api_url": "https://apim.example.net/orders"}}}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(data)))
    assert main(["verify", "dev", "--subscription-key", KEY]) == 1
    out, err = capsys.readouterr()
    assert out.count("resolves to a link-local or metadata address") == 2 and KEY not in out + err
    assert calls == ["metadata.example.net", "apim.example.net"]
