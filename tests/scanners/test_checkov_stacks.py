"""checkov's ARM checks over both stacks' templates (`lastmile plan <stack> --arm`): no failed check outside the
committed, reasoned skip list (checkov-skips.yaml), and no entry in that list without a failure it explains."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import yaml

SKIPS = yaml.safe_load(Path(__file__).with_name("checkov-skips.yaml").read_text())
STACKS = ("dev", "prod")
_ARM_TYPES = ("Microsoft.KeyVault/vaults/secrets", "Microsoft.KeyVault/vaults", "Microsoft.Storage/storageAccounts",
              "Microsoft.Web/serverfarms", "Microsoft.Web/sites")


def _explained(stack: str, check: str, resource: str) -> list[int]:
    return [i for i, entry in enumerate(SKIPS) if entry["check"] == check and stack in entry["stacks"]
            and any(fnmatch.fnmatchcase(resource, pattern) for pattern in entry["resources"])]


def test_every_entry_names_a_check_stacks_resources_and_a_reason():
    for entry in SKIPS:
        assert set(entry) == {"check", "stacks", "resources", "why"}, entry
        assert entry["check"].startswith("CKV_AZURE_") and set(entry["stacks"]) <= set(STACKS) and entry["resources"]
        assert len(entry["why"]) > 40, entry["check"]


def test_checkov_finds_nothing_outside_the_reasoned_skip_list(checkov_results):
    _, results = checkov_results
    used: set[int] = set()
    unexplained = []
    for stack in STACKS:
        assert results[stack].passed, f"checkov judged nothing in {stack}"
        for finding in results[stack].failed:
            matched = _explained(stack, finding.check_id, finding.resource)
            used.update(matched)
            if not matched:
                unexplained.append(f"{stack}: {finding.check_id} {finding.resource} ({finding.name})")
    assert not unexplained, "checkov failures without a reason in tests/scanners/checkov-skips.yaml:\n" + "\n".join(unexplained)
    stale = [f"{SKIPS[i]['check']} {SKIPS[i]['stacks']}" for i in range(len(SKIPS)) if i not in used]
    assert not stale, f"skip entries no failure needs any more (remove them): {stale}"
    # What the landing-zone work fixed stays fixed: prod's vault, secret, subnets and storage pass their checks.
    passed = {(f.check_id, t) for f in results["prod"].passed for t in _ARM_TYPES if f.resource.startswith(t + ".")}
    for check, arm_type in [("CKV_AZURE_41", "Microsoft.KeyVault/vaults/secrets"), ("CKV_AZURE_114", "Microsoft.KeyVault/vaults/secrets"),
                            ("CKV_AZURE_109", "Microsoft.KeyVault/vaults"), ("CKV_AZURE_189", "Microsoft.KeyVault/vaults"),
                            ("CKV_AZURE_59", "Microsoft.Storage/storageAccounts"), ("CKV_AZURE_225", "Microsoft.Web/serverfarms"),
                            ("CKV_AZURE_222", "Microsoft.Web/sites")]:
        assert (check, arm_type) in passed, (check, arm_type)
