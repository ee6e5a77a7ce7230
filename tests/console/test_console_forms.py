"""The console's generated forms without a browser: for every template, the form rendered
with the complete example and submitted as a browser would submit it reads back as the same
data; problems land next to their fields."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import FormData

from api.web import forms
from api.web.session import html as jinja
from mla import templates
from mla.errors import FieldProblem
from tests.console.submitted import Submitted


def render(kind: str, data: dict[str, Any], problems: list[FieldProblem] = ()) -> str:
    tree = forms.build(templates.get(kind).root, data)
    forms.attach_errors(tree, problems)
    macro = jinja.env.get_template("_fields.html").module.field  # type: ignore[attr-defined]
    return "".join(str(macro(w)) for w in tree.children)


@pytest.mark.parametrize("kind", templates.kinds())
def test_example_survives_the_form(kind: str) -> None:
    example = templates.example(kind)
    parser = Submitted()
    parser.feed(render(kind, example))
    assert forms.parse(templates.get(kind).root, FormData(parser.pairs)) == example


def test_empty_rows_and_unticked_boxes_are_not_data() -> None:
    root = templates.get("extradition.provisional_arrest").root
    form = FormData([("data.offences.0.name", " "), ("data.acts.3.place", "Nairobi"),
                     ("__boolean", "data.assurances.speciality"),
                     ("__boolean", "data.assurances.death_penalty|no"),
                     ("__boolean", "data.formal_request_to_follow|no"),
                     ("data.formal_request_to_follow", "true"),
                     ("data.person_sought.date_of_birth", "1991-09-02")])
    # Unticked: "not given", or "no" where the box asks for an answer; a row of nothing but
    # unticked boxes was not filled in.
    assert forms.parse(root, form) == {"acts": [{"place": "Nairobi"}],
                                       "formal_request_to_follow": True,
                                       "person_sought": {"date_of_birth": "1991-09-02"}}


def test_typed_values_that_do_not_convert_stay_for_the_validator() -> None:
    root = templates.get("mla.evidence").root
    data = forms.parse(root, FormData([("data.persons.0.nationality", "France")]))
    problems = templates.validate("mla.evidence", data, complete=False)
    assert [p.path for p in problems] == ["persons.0.nationality"]


def test_problems_sit_next_to_their_fields() -> None:
    html = render("mla.evidence", {}, [
        FieldProblem("data.offences.0.name", "is required (Offence)"),
        FieldProblem("data.offences", "needs at least 1 item(s)"),
        FieldProblem("data.competent_authority.kind.extra", "odd"),
    ])
    assert 'id="f-data--offences--0--name-error"' in html
    assert 'aria-describedby="f-data--offences--0--name-help f-data--offences--0--name-error"' \
        in html
    assert 'id="f-data--offences-error"' in html
    # Deeper than any field: shown on the nearest one, saying where.
    assert "extra: odd" in html
