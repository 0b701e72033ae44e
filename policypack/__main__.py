"""The apim-lastmile policy pack: `pulumi preview --policy-pack policypack` (rules in lastmile_rules.py)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from lastmile_rules import ALL_RULES

PolicyPack(name="apim-lastmile", enforcement_level=EnforcementLevel.MANDATORY, policies=ALL_RULES)
