"""Helpers the tests share (imported as a plain module: tests/ is on sys.path)."""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

from apim_lastmile.tools import contract
from apim_lastmile.tools import plan as plan_mod

REPO = Path(__file__).resolve().parents[1]


def run(program, **kwargs) -> plan_mod.Plan:
    """Run ``program`` under the mocks; every recorded input must also hold to Azure's contract."""
    result = plan_mod.run(program, **kwargs)
    assert_azure_accepts(result)
    return result


#: The real planner, bound at import: the cached_plans fixture replaces plan_mod.plan_stack with a function that
#: calls stack_plan, which must not call that replacement back.
_PLAN_STACK = plan_mod.plan_stack


@functools.lru_cache(maxsize=None)
def _stack_plan(stack: str) -> plan_mod.Plan:
    return _PLAN_STACK(stack, REPO)


def stack_plan(stack: str) -> plan_mod.Plan:
    """The repository's plan of ``stack`` (``lastmile plan <stack>``), made once per test process: a stack's plan is
    deterministic (tests/test_day_two.py plans it twice to prove it), so tests that only read it share one run. A deep
    copy, so that a test that mutates its plan cannot change another's."""
    return copy.deepcopy(_stack_plan(stack))


def assert_azure_accepts(result: plan_mod.Plan) -> None:
    findings = contract.check_plan(result.registrations)
    assert not findings, "inputs Azure would refuse:\n" + "\n".join(map(str, findings))


def registered():
    """What the last mock run registered, even when it raised."""
    from pulumi.runtime.settings import SETTINGS

    return list(getattr(SETTINGS.monitor, "registrations", []))


_CS_ESCAPE = re.compile(r'\\(U[0-9A-Fa-f]{8}|u[0-9A-Fa-f]{4}|\\|")')


def decode_literal(text: str) -> str:
    """What APIM would see for a rendered literal: the text itself, or the value of @("...")."""
    if text.startswith('@("') and text.endswith('")'):
        body = text[3:-2]
        assert "{" not in body and "}" not in body and "@" not in body, body
        assert re.fullmatch(r'(?:[^"\\]|\\(?:U[0-9A-F]{8}|u[0-9A-F]{4}|\\|"))*', body), body

        def sub(m):
            esc = m.group(1)
            return esc if esc in ('\\', '"') else chr(int(esc[1:], 16))

        return _CS_ESCAPE.sub(sub, body)
    assert not text.startswith("@") and "{{" not in text and "}}" not in text, text
    return text


class LoopbackServer:
    """An HTTP server on 127.0.0.1 that records each GET (path, headers) and lets ``answer(handler)`` reply."""

    def __init__(self, answer) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.seen: list = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.seen.append((self.path, dict(self.headers)))
                answer(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll interval: shutdown() waits for the serving loop to notice, up to one interval per server.
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
