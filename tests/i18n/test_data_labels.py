"""Labels held as data rather than code (legal-basis titles) exist in the six UN languages,
as request templates' titles and deadline titles do; the API keeps the English."""

from __future__ import annotations

import pytest

from mla import i18n, legal


@pytest.mark.parametrize("code", sorted(legal.all_bases()))
def test_every_legal_basis_is_titled_in_the_six_languages(code: str) -> None:
    basis = legal.all_bases()[code]
    assert set(basis.titles) == set(i18n.LANGUAGES)
    assert all(text.strip() for text in basis.titles.values())
    # Not English left in place of a translation.
    assert all(basis.titles[lang] != basis.titles["en"] for lang in i18n.LANGUAGES
               if lang != "en"), basis.titles
    # Code and the API keep reading the English title.
    assert basis.title == basis.titles["en"]


def test_a_title_missing_a_language_is_refused_when_loading() -> None:
    with pytest.raises(ValueError, match=r"untoc: title needs the languages \['ar', 'zh'\]"):
        legal._titles("untoc", {"en": "a", "fr": "b", "ru": "c", "es": "d"})
    with pytest.raises(ValueError, match="mapping of the six UN languages"):
        legal._titles("untoc", "UN Convention against Transnational Organized Crime (2000)")


def test_the_reader_language_chooses_the_title() -> None:
    assert legal.title("uncac", "fr") == "Convention des Nations Unies contre la corruption (2003)"
    assert legal.title("uncac", "ar") == "اتفاقية الأمم المتحدة لمكافحة الفساد (2003)"
    with i18n.reading("es"):
        assert legal.title("ece_1957") == "Convenio Europeo de Extradición (1957)"
    assert legal.title("no_such_basis", "fr") == "no_such_basis"
