"""Shared fixtures: the APIM policy schemas and a mock-run helper."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest
from lxml import etree


REPO = Path(__file__).resolve().parents[1]
XSD_DIR = Path(os.environ.get("APIM_POLICY_XSD", REPO.parent / "shared" / "apim-policy-xsd"))


@pytest.fixture(scope="session")
def policy_schema():
    """The published APIM policy schemas (XSD 1.1), loaded once per session."""
    import xmlschema

    root = XSD_DIR / "policies.xsd"
    if not root.is_file():
        pytest.fail(f"APIM policy schemas not found at {root}: set APIM_POLICY_XSD or put shared/ beside the repo")
    return xmlschema.XMLSchema11(str(root))


def _nested_sections(xml: str):
    """The contents of every <when>/<otherwise> as a standalone section.

    The schema declares choose's branches with processContents="skip", so it does not look inside
    them; we validate each branch's policies again as if they were a section of their own.
    """
    doc = etree.fromstring(xml.encode())
    for section in doc:
        for branch in section.iter("when", "otherwise"):
            wrapper = etree.Element("policies")
            sec = etree.SubElement(wrapper, section.tag)
            for child in branch:
                sec.append(etree.fromstring(etree.tostring(child)))
            yield etree.tostring(wrapper, encoding="unicode")


@pytest.fixture
def assert_valid_policy(policy_schema):
    def check(xml: str) -> None:
        policy_schema.validate(xml)
        for nested in _nested_sections(xml):
            policy_schema.validate(nested)

    return check




@pytest.fixture
def cached_plans(monkeypatch):
    """``lastmile``'s commands plan the repository's stacks from the per-process cache (``helpers.stack_plan``); a
    plan of any other project directory still runs. For tests of the commands' output, not of planning itself
    (tests/test_day_two.py and test_cli_text_and_json plan for real, twice, to prove plans are deterministic)."""
    from apim_lastmile.tools import plan as plan_mod
    from helpers import stack_plan

    real = plan_mod.plan_stack

    def cached(stack, project_dir=None):
        if project_dir is not None and Path(project_dir).resolve() == REPO:
            return stack_plan(stack)
        return real(stack, project_dir)

    monkeypatch.setattr(plan_mod, "plan_stack", cached)


def _fixed(status: int):
    def answer(handler):
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return answer


@pytest.fixture
def servers():
    """``servers(200)`` or ``servers(handler)``: local HTTP servers on 127.0.0.1, closed after the test."""
    from helpers import LoopbackServer

    made = []

    def make(answer):
        made.append(LoopbackServer(_fixed(answer) if isinstance(answer, int) else answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


def pytest_configure(config):
    """Fewer runs of Python's cyclic garbage collector: an offline plan allocates hundreds of thousands of short-lived
    objects (Pulumi's Outputs, futures, protobuf messages), and with the default thresholds (700, 10, 10) the collector
    keeps re-scanning everything imported. Larger generations measured a fifth less CPU on the network tests (under
    coverage, 2-core build machine); nothing the tests assert depends on when garbage is collected."""
    gc.set_threshold(100_000, 50, 100)


def pytest_collection_finish(session):
    """What exists once the tests are collected (modules, schemas, the SDKs) lives for the whole run: kept out of the
    collector's scans."""
    gc.freeze()
