"""Built-in role ids: looked up by name or id, never invented."""

import pytest

from apim_lastmile import LastMileError
from apim_lastmile.naming import is_guid
from apim_lastmile.roles import BUILT_IN_ROLES, role_id


def test_every_role_id_is_a_guid_and_unique():
    assert all(is_guid(g) for g in BUILT_IN_ROLES.values())
    assert len(set(BUILT_IN_ROLES.values())) == len(BUILT_IN_ROLES)
    assert BUILT_IN_ROLES["Key Vault Secrets User"] == "4633458b-17de-408a-b874-0445c86b69e6"
    assert BUILT_IN_ROLES["Storage Blob Data Reader"] == "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"


def test_role_lookup_by_name_or_known_id():
    assert role_id("Storage Blob Data Owner") == "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
    assert role_id("4633458B-17DE-408A-B874-0445C86B69E6") == "4633458b-17de-408a-b874-0445c86b69e6"
    with pytest.raises(LastMileError) as err:
        role_id("Owner")
    assert "Owner" in str(err.value) and "never granted" in str(err.value)
    with pytest.raises(LastMileError):
        role_id("8e3af657-a8ff-443c-a75c-2fe8c4bcb635")  # Owner's id: not one we hand out
