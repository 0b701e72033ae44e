"""`lastmile verify` and the backends' network mode (``function_backends.<name>.network``), against local servers.

identity-only (or no field): the direct anonymous call gets 401. gateway-ip / private: it gets no connection or 403;
a 401 means the function is reachable from the internet, so the network layer is not in place.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
import urllib.error

import pytest

from apim_lastmile.tools import verify as verify_mod
from apim_lastmile.tools.cli import main
from apim_lastmile.errors import LastMileError
from apim_lastmile.tools.verify import verify


NETWORKED = ["gateway-ip", "private"]


@pytest.fixture
def closed_port():
    """A loopback URL nothing listens on: connection refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def outputs(function: str, gateway: str, network=None, **more) -> dict:
    entry = {"function_url": f"{function}/api", "api_url": f"{gateway}/orders"}
    if network is not None:
        entry["network"] = network
    return {"gateway_url": gateway, "function_backends": {"orders": entry, **more}}


def run_verify(monkeypatch, capsys, data, *extra):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(data)))
    code = main(["verify", "dev", "--subscription-key", "k-123", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- gateway-ip / private -----------------------------------------------------------------------------------

@pytest.mark.parametrize("network", NETWORKED)
def test_network_mode_passes_when_the_function_answers_403(network, servers, monkeypatch, capsys):
    function, gateway = servers(403), servers(200)
    code, out, _ = run_verify(monkeypatch, capsys, outputs(function.url, gateway.url, network), "--path", "/health")
    assert code == 0, out
    assert "2 checks, 0 failed" in out and "FAILED" not in out
    assert f"no connection or 403 (network: {network})" in out
    assert function.seen and function.seen[0][0] == "/api/health"
    assert "Authorization" not in function.seen[0][1] and "Ocp-Apim-Subscription-Key" not in function.seen[0][1]
    assert gateway.seen[0][1]["Ocp-Apim-Subscription-Key"] == "k-123"


@pytest.mark.parametrize("network", NETWORKED)
def test_network_mode_fails_when_the_function_answers_401(network, servers, monkeypatch, capsys):
    code, out, _ = run_verify(monkeypatch, capsys, outputs(servers(401).url, servers(200).url, network))
    assert code == 1
    assert "2 checks, 1 failed" in out
    [line] = [l for l in out.splitlines() if l.startswith("FAILED")]
    assert line.startswith("FAILED orders / function, anonymous: 401: the function is reachable from the internet")
    assert "the network layer is not in place" in line
    assert f"expected no connection or 403 (network: {network})" in line


@pytest.mark.parametrize("network", [None, "identity-only"])
def test_identity_only_or_no_field_still_wants_401(network, servers, monkeypatch, capsys):
    code, out, _ = run_verify(monkeypatch, capsys, outputs(servers(401).url, servers(200).url, network))
    assert code == 0, out
    assert "401 (network: identity-only)" in out and "2 checks, 0 failed" in out
    # ...and a 403 is still no pass there: identity-only proves Easy Auth, which answers 401.
    code, out, _ = run_verify(monkeypatch, capsys, outputs(servers(403).url, servers(200).url, network))
    assert code == 1 and "FAILED orders / function, anonymous: expected Easy Auth's 401, got 403" in out


@pytest.mark.parametrize("network", NETWORKED)
def test_network_mode_passes_when_the_connection_is_refused(network, closed_port, servers, monkeypatch, capsys):
    code, out, _ = run_verify(monkeypatch, capsys, outputs(closed_port, servers(200).url, network), "--timeout", "2")
    assert code == 0, out
    assert "no connection (connection refused)" in out and "2 checks, 0 failed" in out
    # the same closed port is a failure for identity-only: no 401, no proof Easy Auth is on
    code, out, _ = run_verify(monkeypatch, capsys, outputs(closed_port, servers(200).url, "identity-only"), "--timeout", "2")
    assert code == 1 and "FAILED orders / function, anonymous: no answer" in out


@pytest.mark.parametrize("status, why", [
    (200, "the function answered 200 to an anonymous call from the internet: neither the network layer (network: private)"),
    (204, "the function answered 204 to an anonymous call from the internet"),
    (302, "302 redirect: the function is reachable from the internet, so the network layer is not in place"),
    (404, "expected no connection or 403 (network: private), got 404"),
    (500, "expected no connection or 403 (network: private), got 500"),
])
def test_network_mode_fails_on_any_other_answer(status, why, servers, monkeypatch, capsys):
    code, out, _ = run_verify(monkeypatch, capsys, outputs(servers(status).url, servers(200).url, "private"))
    assert code == 1
    assert f"FAILED orders / function, anonymous: {why}" in out
    assert "2 checks, 1 failed" in out


def test_network_mode_keeps_the_gateway_check(servers, monkeypatch, capsys):
    code, out, _ = run_verify(monkeypatch, capsys, outputs(servers(403).url, servers(401).url, "gateway-ip"))
    assert code == 1
    assert "FAILED orders / through the gateway: 401: the function refused the gateway's token" in out
    assert "FAILED orders / function, anonymous" not in out


def test_modes_are_judged_per_backend(servers, monkeypatch, capsys):
    gateway = servers(200)
    data = outputs(servers(401).url, gateway.url, None,
                   billing={"function_url": servers(403).url + "/api", "api_url": gateway.url + "/billing", "network": "private"})
    code, out, _ = run_verify(monkeypatch, capsys, data)
    assert code == 0, out
    assert "4 checks, 0 failed" in out
    # swap the answers: each backend now gets the other's, and both direct checks fail
    data["function_backends"]["orders"]["function_url"], data["function_backends"]["billing"]["function_url"] = (
        data["function_backends"]["billing"]["function_url"], data["function_backends"]["orders"]["function_url"])
    code, out, _ = run_verify(monkeypatch, capsys, data)
    assert code == 1 and "4 checks, 2 failed" in out
    assert "FAILED billing / function, anonymous: 401: the function is reachable from the internet" in out
    assert "FAILED orders / function, anonymous: expected Easy Auth's 401, got 403" in out


# --- what counts as "no connection" -------------------------------------------------------------------------

def test_a_name_that_does_not_resolve_is_not_proof(servers, monkeypatch):
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "func-orders.example.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    data = outputs("https://func-orders.example.invalid", servers(200).url, "private")
    [direct, through] = verify(data, timeout=2)
    assert not direct.ok and direct.got == "does not resolve", direct
    assert direct.why.startswith("the name does not resolve: check the outputs file")
    assert through.ok
    [direct, _] = verify(outputs("https://func-orders.example.invalid", servers(200).url), timeout=2)
    assert not direct.ok and "cannot resolve the host" in direct.why


def test_a_tls_handshake_failure_is_no_connection(servers):
    plain = servers(401)  # speaks plain HTTP: a TLS client hello gets no TLS answer
    [direct, _] = verify(outputs(plain.url.replace("http://", "https://"), servers(200).url, "gateway-ip"), timeout=2)
    assert direct.ok and direct.got == "no connection (TLS handshake failed)", direct


def test_a_reset_or_closed_connection_is_no_connection(servers):
    def hang_up(handler):
        handler.close_connection = True  # closes without a status line

    [direct, _] = verify(outputs(servers(hang_up).url, servers(200).url, "private"), timeout=2)
    assert direct.ok and direct.got == "no connection (connection reset)", direct


def test_a_timeout_is_no_connection(servers):
    with socket.socket() as silent:  # listens, never accepts: the call connects (backlog) and waits for nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        [direct, _] = verify(outputs(url, servers(200).url, "gateway-ip"), timeout=0.3)
    assert direct.ok and direct.got == "no connection (timed out)", direct


def test_a_malformed_answer_or_a_refused_url_proves_nothing(servers):
    def garbage(handler):
        handler.wfile.write(b"\x00\x1b[2J not http\r\n\r\n")
        handler.close_connection = True

    [direct, _] = verify(outputs(servers(garbage).url, servers(200).url, "private"), timeout=2)
    assert not direct.ok and direct.got == "-"
    assert direct.why.startswith("no answer") and "expected no connection or 403 (network: private)" in direct.why
    # a URL verify will not call is not "no connection" either
    [direct, _] = verify(outputs("http://func.example.net", "http://apim.example.net", "private"), timeout=1)
    assert not direct.ok and "only https://" in direct.why


@pytest.mark.parametrize("exc, kind", [
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "the name does not resolve"),
    (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
    (ConnectionResetError(104, "Connection reset by peer"), "connection reset"),
    (http.client.RemoteDisconnected("Remote end closed connection without response"), "connection reset"),
    (urllib.error.URLError(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")), "TLS handshake failed"),
    (urllib.error.URLError(TimeoutError("timed out")), "timed out"),
    (TimeoutError("The read operation timed out"), "timed out"),
    (urllib.error.URLError(ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]")), None),
    (http.client.BadStatusLine("garbage"), None),
    (urllib.error.URLError("unknown url type"), None),
    (ValueError("bad"), None),
])
def test_no_connection_kinds(exc, kind):
    assert verify_mod._no_connection(exc) == kind


# --- the field itself, checked before any request -----------------------------------------------------------

@pytest.mark.parametrize("value", ["Private", "vnet", "", " private", None, 1, True, ["private"], {"mode": "private"}, "[secret]"])
def test_a_bad_network_value_is_refused_before_any_request(value, servers, monkeypatch, capsys):
    function, gateway = servers(401), servers(200)
    data = outputs(function.url, gateway.url, None)
    # an earlier, valid backend: not called either, every backend is checked before the first call
    data["function_backends"] = {"aaa": {"function_url": function.url + "/a", "api_url": gateway.url + "/a", "network": "private"},
                                 "orders": {**data["function_backends"]["orders"], "network": value}}
    code, out, err = run_verify(monkeypatch, capsys, data)
    assert code == 1 and out == ""
    assert "outputs.function_backends.orders.network" in err
    assert '"identity-only", "gateway-ip" or "private"' in err
    assert function.seen == [] and gateway.seen == []
    with pytest.raises(LastMileError, match=r"function_backends\.orders\.network"):
        verify(data, timeout=1)
    assert function.seen == [] and gateway.seen == []


def test_the_report_says_what_each_mode_expects(closed_port, servers, monkeypatch, capsys):
    gateway = servers(200)
    data = outputs(closed_port, gateway.url, "gateway-ip",
                   billing={"function_url": servers(401).url + "/api", "api_url": gateway.url + "/billing"})
    code, out, _ = run_verify(monkeypatch, capsys, data, "--timeout", "2")
    assert code == 0, out
    rows = {tuple(line.split()[:2]): line for line in out.splitlines() if "function, anonymous" in line}
    assert set(rows) == {("orders", "function,"), ("billing", "function,")}
    assert "no connection or 403 (network: gateway-ip)  no connection (connection refused)  ok" in rows[("orders", "function,")]
    assert "401 (network: identity-only)" in rows[("billing", "function,")]


def test_help_names_the_network_modes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "identity-only" in out and "gateway-ip, private" in out and "403" in out
