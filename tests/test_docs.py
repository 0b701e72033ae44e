"""The front page and the guides: every code and config sample is tested, every guide is linked and exists."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import run

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def test_the_front_page_stays_a_front_page():
    assert README.count("\n") <= 250


def test_every_guide_is_linked_from_the_readme_and_every_link_resolves():
    linked = set(re.findall(r"\]\((docs/[^)#]+)", README))
    guides = {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")}
    assert guides <= linked, guides - linked
    for doc in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+\.md)", doc.read_text()):
            assert (doc.parent / target).resolve().is_file(), f"{doc.name} links to {target}"


def test_the_readmes_first_program_runs_and_declares_what_it_says():
    [program] = blocks(README, "python")
    plan = run(lambda: exec(compile(program, "README.md", "exec"), {"__name__": "readme"}))
    service = plan.one("azure-native:apimanagement:ApiManagementService").plain_inputs
    assert service["sku"]["name"] == "BasicV2" and service["identity"]["type"] == "SystemAssigned"
    assert plan.one("azure-native:apimanagement:Api").plain_inputs["path"] == "orders"
    assert "orders_url" in plan.outputs


def test_the_other_language_samples_are_the_tested_examples():
    """The guide's samples are abridged from examples/, which tests/test_package.py checks against the schema: every
    line of a sample is a line of its example."""
    guide = (REPO / "docs" / "other-languages.md").read_text()
    for language, example in (("yaml", "examples/yaml/Pulumi.yaml"), ("typescript", "examples/typescript/index.ts")):
        [sample] = blocks(guide, language)
        text = re.sub(r"\s+", " ", (REPO / example).read_text())
        for line in sample.splitlines():  # a sample may join lines: each of its comma-separated parts is in the example
            for part in re.split(r"[,{}]", line):
                part = re.sub(r"\s+", " ", part).strip()
                assert not part or part in text, f"{example}: {part}"
