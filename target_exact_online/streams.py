"""Which streams this target writes: unified models, their camelCase ids, custom streams.

:func:`resolve_stream` turns a SCHEMA's stream name into a :class:`StreamSpec`, or refuses
it with a message that says why (generic_user and generic_workspace have no write API in
Exact; a custom stream needs a ``write_endpoint``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from exact_online_core.errors import ValidationError
from exact_online_core.mappings import (
    MODELS,
    CustomStream,
    FieldMap,
    FieldMapping,
    Model,
    field_maps,
    get_model,
)


class StreamRefusedError(Exception):
    """A stream this target cannot write: raised at its SCHEMA message, before any write."""


@dataclass(frozen=True)
class StreamSpec:
    """A writable stream: a unified model (with its mapped custom fields) or a custom stream."""

    name: str
    model: Model | None = None
    custom: CustomStream | None = None
    extra_fields: tuple[FieldMap, ...] = ()

    @property
    def endpoint(self) -> str:
        if self.model is not None:
            return self.model.entity
        assert self.custom is not None and self.custom.write_endpoint is not None
        return self.custom.write_endpoint

    @property
    def id_property(self) -> str:
        if self.model is not None:
            return "id"
        assert self.custom is not None
        return self.custom.primary_keys[0]

    @property
    def natural_key(self) -> str | None:
        return self.model.natural_key if self.model is not None else None

    def fields(self) -> dict[str, FieldMap]:
        if self.model is None:
            return {}
        return {f.unified: f for f in (*self.model.fields, *self.extra_fields)}


def resolve_stream(
    name: str,
    field_mappings: Mapping[str, tuple[FieldMapping, ...]],
    custom_streams: Collection[CustomStream],
) -> StreamSpec:
    """The writable stream called ``name``, or :class:`StreamRefusedError` saying why not."""
    for custom in custom_streams:
        if custom.name == name:
            if custom.write_endpoint is None:
                raise StreamRefusedError(
                    f"Stream '{name}' cannot be written: the custom stream has no "
                    "'write_endpoint' in the custom_streams setting. Add one (for example "
                    "'project/Projects') to write its records back to Exact Online."
                )
            return StreamSpec(name=name, custom=custom)
    try:
        model = get_model(name)
    except ValidationError:
        known = ", ".join(sorted(n for n, m in MODELS.items()
                                 if {"create", "update", "delete"} & m.operations))
        raise StreamRefusedError(
            f"Stream '{name}' is not something this target can write. Writable streams: "
            f"{known} (or their camelCase ids), and custom streams with a write_endpoint."
        ) from None
    writable = {"create", "update", "delete"} & set(model.operations)
    if not writable:
        reason = model.write_refusal or "Exact Online has no write API for it."
        raise StreamRefusedError(
            f"Stream '{name}' ({model.name}) is refused before any write: {reason} "
            "Deselect this stream for target-exact-online."
        )
    return StreamSpec(name=model.name, model=model,
                      extra_fields=field_maps(field_mappings, model.name))
