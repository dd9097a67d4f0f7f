"""Which properties a catalog selects, by singer-sdk's own rule: an explicit ``selected``
wins; a property left unset follows its ``selected-by-default``, else its stream; automatic
ones are always selected. Those properties narrow Exact's ``$select``."""

from __future__ import annotations

from typing import Any

import pytest

from tap_exact_online.tap import TapExactOnline

CONFIG = {"base_url": "http://127.0.0.1:9", "client_id": "c", "client_secret": "s",
          "divisions": [100001]}
STREAM = "generic_company"


def catalog_with(props: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """The discovered catalog, ``generic_company`` selected, each named property's metadata
    set to ``props[name]`` (None: ``selected`` and ``selected-by-default`` removed)."""
    catalog: dict[str, Any] = TapExactOnline(config=CONFIG).catalog_dict
    for stream in catalog["streams"]:
        if stream["tap_stream_id"] != STREAM:
            continue
        for entry in stream["metadata"]:
            meta, crumb = entry["metadata"], entry["breadcrumb"]
            if crumb == []:
                meta["selected"] = True
            elif crumb[-1] in props:
                meta.pop("selected", None)
                meta.pop("selected-by-default", None)
                meta.update(props[crumb[-1]] or {})
    return catalog


def selected(props: dict[str, dict[str, Any] | None]) -> list[str] | None:
    tap = TapExactOnline(config=CONFIG, catalog=catalog_with(props))
    return tap.streams[STREAM].selected_properties()


def test_a_property_left_unset_follows_its_selected_stream() -> None:
    names = selected({"name": {"selected": True}, "email": None})
    assert names is None or {"name", "email"} <= set(names)


def test_a_property_left_unset_follows_selected_by_default() -> None:
    names = selected({"name": {"selected": True}, "email": {"selected-by-default": False}})
    assert names is not None and "name" in names and "email" not in names


def test_an_explicitly_deselected_property_is_left_out() -> None:
    names = selected({"email": {"selected": False}})
    assert names is not None and "email" not in names and "name" in names


@pytest.mark.parametrize("prop", ["id", "division"])
def test_an_automatic_property_is_selected_even_when_deselected(prop: str) -> None:
    names = selected({"email": {"selected": False}, prop: {"selected": False}})
    assert names is not None and prop in names
