"""Wire JSON to models: one cattrs converter with strict hooks, and one lenient record decoder.

A field whose value has the wrong type keeps its raw value (reported once in the log) so that
one odd record never kills its page; unknown fields land in ``extra``.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

from calleague_async.errors import InvalidResponseError
from calleague_async.models import (
    Agent,
    AgentAvailability,
    Call,
    CallStatus,
    Campaign,
    Contact,
    Webhook,
)

__all__ = ["converter", "structure", "structure_many"]

log = logging.getLogger("calleague_async")

T = TypeVar("T")


def _strict(kind: type[Any], name: str) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _: Any) -> Any:
        # bool is an int subclass; a "true" where a number belongs is a wrong type, not 1.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise TypeError(f"expected {name}, got {type(value).__name__}")
        return value

    return hook


def _datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # Epoch seconds, or milliseconds when the number is too large to be seconds.
        parsed = datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    else:
        raise TypeError(f"expected an ISO-8601 string, got {type(value).__name__}")
    # The API speaks UTC; a timestamp without an offset is read as UTC, never as local time.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_STATUSES = {s.value: s for s in CallStatus}


def _status(value: Any, _: Any) -> CallStatus | str:
    if not isinstance(value, str):
        raise TypeError(f"expected a status string, got {type(value).__name__}")
    return _STATUSES.get(value, value)


def _string_list(value: Any, _: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    return value


def _transcript(value: Any, _: Any) -> list[dict[str, Any]] | str:
    # A call's transcript: a list of turns (objects) or one text. Turns are kept as they came.
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    raise TypeError("expected a list of objects or a string")


converter = cattrs.Converter()
"""The SDK's one converter. Hooks are strict: a wrong type raises instead of being coerced."""
converter.register_structure_hook(str, _strict(str, "a string"))
converter.register_structure_hook(bool, _strict(bool, "a boolean"))
converter.register_structure_hook(int, _strict(int, "an integer"))
converter.register_structure_hook(float, _strict(int | float, "a number"))  # type: ignore[arg-type]
# Generic aliases are not classes, so these two are matched by predicate.
converter.register_structure_hook_func(lambda t: t == dict[str, Any], _strict(dict, "an object"))
converter.register_structure_hook_func(lambda t: t == list[str], _string_list)
converter.register_structure_hook(datetime, _datetime)
converter.register_structure_hook_func(lambda t: t == CallStatus | str, _status)
converter.register_structure_hook_func(lambda t: t == list[dict[str, Any]] | str, _transcript)


def _without_none(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return Union[tuple(args)]  # noqa: UP007 - rebuilding a union from a runtime tuple
    return tp


_reported: set[tuple[str, str]] = set()


def _report_once(cls: type[Any], field: str, value: Any, exc: Exception) -> None:
    if (cls.__name__, field) in _reported:
        return
    _reported.add((cls.__name__, field))
    log.warning(
        "calleague_async: %s.%s has an unexpected value (%s); keeping the raw %s as it came",
        cls.__name__,
        field,
        exc,
        type(value).__name__,
    )


# Values of these types need no conversion for a field of the key type: the hot path
# (a page of calls) skips the hook for them. bool is not an int here (see _strict).
_AS_IS: dict[Any, tuple[type, ...]] = {
    str: (str,),
    bool: (bool,),
    int: (int,),
    float: (int, float),
    dict[str, Any]: (dict,),
}


_MISSING = object()


def _record_decoder(cls: type[T]) -> Callable[[Mapping[str, Any]], T]:
    """Generate a straight-line decoder for ``cls``, the way attrs and cattrs generate theirs.

    Per field: pop its wire names in order (the canonical one first), keep ``None`` and values
    that already have the field's type, convert the rest through the converter's hook (raw
    value kept, reported once, if that fails). What is left of the record is ``extra``.
    The instance gets its ``__dict__`` in one step (a dict display of the fields), the same
    as the frozen ``__init__`` minus its argument handling and per-field assignment.
    """
    attrs.resolve_types(cls)  # type: ignore[type-var]
    in_dict = "__dict__" in dir(cls) and not cls.__dict__.get("__slots__")
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_M": _MISSING,
        "_new": object.__new__,
        "_set_attr": object.__setattr__,
        "_statuses": _STATUSES,
    }
    lines = ["def decode(raw):", "    rest = dict(raw)", "    pop = rest.pop"]
    names: list[str] = []
    first = True
    for n, f in enumerate(attrs.fields(cls)):  # type: ignore[arg-type]
        if f.name == "extra":
            continue
        wires = _wire_names(f)
        tp = _without_none(f.type)
        hook = converter.get_structure_hook(tp)
        namespace[f"_fix{n}"] = _fixer(cls, f.name, hook, tp)
        namespace[f"_as_is{n}"] = _AS_IS.get(tp, ())
        lines.append(f"    v{n} = pop({wires[0]!r}, _M)")
        lines += [f"    if v{n} is _M: v{n} = pop({w!r}, _M)" for w in wires[1:]]
        if first and f.default is attrs.NOTHING:
            # The id (a model's first field, when required): a record without it is the
            # server's fault; keep it, flag it once. A model with no id starts with an optional
            # field (AgentAvailability), which is None when missing, like any other.
            namespace["_no_id"] = _no_id(cls, f.name, " / ".join(wires))
            lines.append(f"    if v{n} is _M: v{n} = _no_id(None)")
        else:
            lines.append(f"    if v{n} is _M: v{n} = None")
        first = False
        if tp == CallStatus | str:
            # A known status becomes its enum member, an unknown one stays a str (inlined).
            lines.append(f"    elif type(v{n}) is str: v{n} = _statuses.get(v{n}, v{n})")
        lines.append(
            f"    elif v{n} is not None and type(v{n}) not in _as_is{n}: v{n} = _fix{n}(v{n})"
        )
        names.append(f"{f.name!r}: v{n}")
    if in_dict:
        fields = ", ".join([*names, "'extra': rest"])
        lines += ["    inst = _new(_cls)", f"    _set_attr(inst, '__dict__', {{{fields}}})"]
    else:  # a slotted class: each slot's own setter
        lines.append("    inst = _new(_cls)")
        for n, f in enumerate(attrs.fields(cls)):  # type: ignore[arg-type]
            namespace[f"_set{n}"] = _setter(cls, f.name)
            value = "rest" if f.name == "extra" else f"v{n}"
            lines.append(f"    _set{n}(inst, {value})")
    lines.append("    return inst")
    exec("\n".join(lines), namespace)  # noqa: S102 - code generated from our own model fields
    decode: Callable[[Mapping[str, Any]], T] = namespace["decode"]
    return decode


def _setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    """The fastest way to fill one field of a frozen, slotted instance: its slot's setter."""
    slot = cls.__dict__.get(name)
    if slot is not None and hasattr(slot, "__set__"):
        setter: Callable[[Any, Any], None] = slot.__set__
        return setter
    return lambda inst, value: object.__setattr__(inst, name, value)


def _fixer(
    cls: type[Any], name: str, hook: Callable[[Any, Any], Any], tp: Any
) -> Callable[[Any], Any]:
    def fix(value: Any) -> Any:
        try:
            return hook(value, tp)
        except Exception as exc:  # any failure keeps the raw value
            _report_once(cls, name, value, exc)
            return value

    return fix


def _wire_names(f: attrs.Attribute[Any]) -> tuple[str, ...]:
    """The names a field is read from on the wire, the canonical one first."""
    return tuple(dict.fromkeys((*f.metadata.get("wire", ()), f.name)))


def _no_id(cls: type[Any], name: str, wires: str) -> Callable[[Any], str]:
    def missing(_: Any) -> str:
        _report_once(cls, name, None, KeyError(wires))
        return ""

    return missing


_DECODERS: dict[type[Any], Callable[[Mapping[str, Any]], Any]] = {
    cls: _record_decoder(cls)
    for cls in (Call, Agent, Webhook, Contact, Campaign, AgentAvailability)
}


def structure(raw: Mapping[str, Any], cls: type[T]) -> T:
    """Decode one wire record (a JSON object) into ``cls``, whatever its fields hold.

    A record that is no JSON object raises :class:`~calleague_async.errors.InvalidResponseError`
    (records come from 2xx replies whose shape the wire layer has already checked).
    """
    if not isinstance(raw, dict):
        raise InvalidResponseError(
            f"expected a JSON object for {cls.__name__}, got {type(raw).__name__}",
            status_code=200,
        )
    decoder: Callable[[Mapping[str, Any]], T] = _DECODERS[cls]
    return decoder(raw)


def structure_many(raws: list[Any], cls: type[T]) -> list[T]:
    """Decode a list of wire records; ``InvalidResponseError`` if any item is no object.

    The common record is checked and converted in C (msgspec), an unusual one by the lenient
    decoder: the same models either way.
    """
    fast = FAST_CONVERTERS.get(cls)
    if fast is None:
        return [structure(raw, cls) for raw in raws]
    out = []
    for raw in raws:
        model = fast(raw) if type(raw) is dict else None
        out.append(model if model is not None else structure(raw, cls))
    return out


# --- the C-speed path for the common record ---------------------------------------------------
# A record whose fields all have their declared types, under their canonical wire names, with
# nothing unknown: msgspec reads it from the bytes straight into a struct, checking every type
# in C, and the model is made from that. Anything else (an unknown field, a wrong type, a field
# under another of its names, a big number, a missing id) makes msgspec refuse, and the record
# goes the lenient way above: the same model, field for field (tests/test_fast_records.py).


def _fast_type(tp: Any) -> Any:
    """The type msgspec checks a field against: the model's, where msgspec's check is ours."""
    if tp in (str, bool, int, dict[str, Any], list[str], list[dict[str, Any]] | str):
        return tp
    if tp is float:  # an int stays an int, as on the lenient path
        return int | float
    if tp == CallStatus | str or tp is datetime:
        return str  # a status is looked up, a time parsed, after (as the lenient path does)
    return None


FastPage = tuple[list[Any], list[str], "int | None"]
"""A list page read at C speed: its models, their ids (in order) and its ``total``."""


def _fast_pair(
    cls: type[T],
) -> (
    tuple[
        Callable[[bytes], T | None],
        Callable[[Mapping[str, Any]], T | None],
        Callable[[bytes], FastPage | None],
    ]
    | None
):
    """``read(body)``, ``convert(record)`` and ``read_page(body)``; ``None``: lenient decoder.

    ``read`` takes a reply's bytes, ``convert`` a record already parsed (a page's), and
    ``read_page`` the bytes of a ``{"total": N, "list": [...]}`` page whose every record is the
    common kind (anything else, in any record or around them, is ``None``).
    """
    try:
        import msgspec
    except ImportError:
        return None
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    post: list[str] = []
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        "_set_attr": object.__setattr__,
        "_statuses": _STATUSES,
        "_fromiso": datetime.fromisoformat,
        "_UTC": UTC,
    }
    names = []
    for n, f in enumerate(attrs.fields(cls)):  # type: ignore[arg-type]
        if f.name == "extra":
            continue
        tp = _without_none(f.type)
        checked = _fast_type(tp)
        if checked is None:
            return None  # a field type msgspec cannot check as we do: lenient only
        rename[f"f{n}"] = _wire_names(f)[0]
        if n == 0 and f.default is attrs.NOTHING:
            fields.append((f"f{n}", checked))  # the id is required here; missing: lenient
        else:
            fields.append((f"f{n}", checked | None, None))
        if tp == CallStatus | str:
            post.append(f"    if type(v{n}) is str: v{n} = _statuses.get(v{n}, v{n})")
        elif tp is datetime:
            # _datetime inlined for the usual ISO string; anything else takes the hook (which
            # keeps the raw value and reports it, as the lenient path does).
            namespace[f"_fix{n}"] = _fixer(cls, f.name, converter.get_structure_hook(tp), tp)
            post += [
                f"    if v{n} is not None:",
                "        try:",
                f"            v{n} = _fromiso(v{n})",
                "        except ValueError:",
                f"            v{n} = _fix{n}(v{n})",
                "        else:",
                f"            if v{n}.tzinfo is None: v{n} = v{n}.replace(tzinfo=_UTC)",
            ]
        names.append(n)
    struct = msgspec.defstruct(
        f"_Fast{cls.__name__}", fields, rename=rename, forbid_unknown_fields=True
    )
    # A page in Calleague's shape and nothing else (an envelope, `items`, a total that is not a
    # count all refuse): what PageStyle.read would make of it, record for record.
    page = msgspec.defstruct(
        f"_Fast{cls.__name__}Page",
        [
            ("list", list[struct]),  # type: ignore[valid-type]
            ("total", Annotated[int, msgspec.Meta(ge=0)] | None, None),
        ],
        forbid_unknown_fields=True,
    )
    namespace.update(
        _decode_page=msgspec.json.Decoder(page).decode,
        _decode=msgspec.json.Decoder(struct).decode,
        _convert=msgspec.convert,
        _struct=struct,
        _astuple=msgspec.structs.astuple,
        _refused=(msgspec.ValidationError, msgspec.DecodeError),
    )
    values = ", ".join(f"v{n}" for n in names) + ("," if len(names) == 1 else "")
    model_fields = attrs.fields(cls)  # type: ignore[arg-type]
    display = ", ".join([*(f"{model_fields[n].name!r}: v{n}" for n in names), "'extra': {}"])
    build = [
        f"    {values} = _astuple(record)",
        *post,
        "    inst = _new(_cls)",
        f"    _set_attr(inst, '__dict__', {{{display}}})",
        "    return inst",
    ]
    lines = [
        "def read(body):",
        "    try:",
        "        record = _decode(body)",
        "    except _refused:",
        "        return None",
        *build,
        "def convert(raw):",
        "    try:",
        "        record = _convert(raw, _struct)",
        "    except _refused:",
        "        return None",
        *build,
        "def read_page(body):",
        "    try:",
        "        page = _decode_page(body)",
        "    except _refused:",
        "        return None",
        "    models, ids = [], []",
        "    for record in page.list:",
        *("    " + line.replace("return inst", "models.append(inst)") for line in build),
        "        ids.append(v0)",
        "    return models, ids, page.total",
    ]
    exec("\n".join(lines), namespace)  # noqa: S102 - code generated from our own model fields
    return namespace["read"], namespace["convert"], namespace["read_page"]


_FAST = {
    cls: pair
    for cls in (Call, Agent)
    if "__dict__" in dir(cls) and (pair := _fast_pair(cls)) is not None
}
FAST_READERS: dict[type[Any], Callable[[bytes], Any]] = {cls: p[0] for cls, p in _FAST.items()}
"""The models a reply body can be read into at C speed (msgspec installed): the hot ones."""
FAST_CONVERTERS: dict[type[Any], Callable[[Mapping[str, Any]], Any]] = {
    cls: p[1] for cls, p in _FAST.items()
}
"""The same, from a record already parsed (each record of a page)."""
FAST_PAGES: dict[type[Any], Callable[[bytes], FastPage | None]] = {
    cls: p[2] for cls, p in _FAST.items()
}
"""A whole list page of the model at C speed, when every record on it is the common kind."""


def id_wire_name(cls: type[Any]) -> str:
    """The wire name a model's id is read from (its first field's canonical name)."""
    return _wire_names(attrs.fields(cls)[0])[0]
