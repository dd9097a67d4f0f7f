"""docs/models.md is rendered from the mapping tables and must say what they say."""

from __future__ import annotations

from pathlib import Path

from exact_online_core.mappings.docs import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_models_doc_matches_the_mapping_tables() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/models.md is stale: python -m exact_online_core.mappings.docs > docs/models.md"
    )


def test_models_doc_lists_every_model_and_mapped_property() -> None:
    text = render()
    for name in ("generic_contact", "generic_company", "accounting_invoice", "generic_workspace"):
        assert f"## {name}" in text
    assert "| `vat_number` | string | `VATNumber` |" in text
