"""The claim mapping (mla/identity/mapping.py): a table that is data, and refusals, never a
default role."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mla.identity import mapping

TABLE = mapping.parse(yaml.safe_load("""
claims: {username: upn, full_name: name, groups: roles, active: enabled}
group_pattern: "CN=MLA-{authority}-{role},OU=Groups"
groups:
  "Justice-IntlCoop-Heads": {authority: FR-MJ, role: supervisor}
role_precedence: [admin, supervisor, validator, officer, contact_point, liaison]
"""))


def test_pattern_and_table_give_one_authority_and_the_first_role_by_precedence() -> None:
    got = mapping.assign(TABLE, {"sub": "s1", "upn": "a.diallo", "name": "A. Diallo",
                                 "roles": ["CN=MLA-FR-MJ-officer,OU=Groups",
                                           "Justice-IntlCoop-Heads", "Everyone"]})
    assert (got.authority, got.role, got.username, got.active) == \
        ("FR-MJ", "supervisor", "a.diallo", True)


@pytest.mark.parametrize("claims, reason", [
    ({"sub": "s"}, "no group of this instance"),
    ({"sub": "s", "roles": ["Everyone", "CN=MLA-FR-MJ-boss,OU=Groups"]},
     "no group of this instance"),
    ({"sub": "s", "roles": "not-a-list-nor-ours"}, "no group of this instance"),
    ({"sub": "s", "roles": ["CN=MLA-FR-MJ-officer,OU=Groups",
                            "CN=MLA-KE-ODPP-officer,OU=Groups"]}, "several authorities"),
])
def test_no_single_mapping_is_a_refusal(claims: dict[str, object], reason: str) -> None:
    with pytest.raises(mapping.NotMapped, match=reason):
        mapping.assign(TABLE, claims)


def test_the_active_claim_false_marks_the_person_disabled() -> None:
    got = mapping.assign(TABLE, {"sub": "s", "enabled": False,
                                 "roles": ["CN=MLA-FR-MJ-officer,OU=Groups"]})
    assert got.active is False and got.username == "s"  # no upn: the subject


@pytest.mark.parametrize("text, message", [
    ("groups: {g: {authority: FR-MJ, role: emperor}}", "group 'g' needs"),
    ("group_pattern: 'mla-{role}'", "must contain {authority} and {role}"),
    ("role_precedence: [admin]", "role_precedence must list each"),
    ("- a list", "a mapping with"),
])
def test_a_bad_mapping_file_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(mapping.MappingError, match=message):
        mapping.parse(yaml.safe_load(text))


def test_the_shipped_default_reads_the_mla_group_convention() -> None:
    shipped = mapping.parse(yaml.safe_load(Path(mapping.DEFAULT_FILE).read_text()))
    got = mapping.assign(shipped, {"sub": "x", "preferred_username": "x.y",
                                   "groups": ["mla:KE-ODPP:contact_point"]})
    assert (got.authority, got.role) == ("KE-ODPP", "contact_point")
