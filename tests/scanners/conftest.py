"""One checkov run per test process for every template the scanner tests read (checkov's cold start is most of a
scan's cost): the runner's hand-written templates and both stacks' ARM templates."""

from __future__ import annotations

import pytest

from scanners.checkov_scan import scan


@pytest.fixture(scope="session")
def checkov_results(tmp_path_factory):
    """(the folder the templates were written to, checkov's result per template name)."""
    from apim_lastmile.tools.arm_template import to_template
    from helpers import stack_plan
    from scanners.test_checkov_runner import TEMPLATES

    stacks = {stack: to_template(stack_plan(stack)) for stack in ("dev", "prod")}
    folder = tmp_path_factory.mktemp("checkov")
    return folder, scan({**TEMPLATES, **stacks}, folder)
