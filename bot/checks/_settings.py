"""Decode Harvester setting values the way Harvester's Go code does, for the settings checks.

Harvester decodes JSON-typed settings with Go's ``encoding/json`` into fixed structs
(reference/harvester.md §1.5): keys match struct fields case-insensitively, unknown keys
are ignored, ``null`` (the whole document or one field) changes nothing, duplicate keys
merge with the last one winning, and a type mismatch is an error. ``decode`` mirrors that
and words errors as Go does, so a finding can quote the webhook. Structs decode to dicts
holding every field (zero values included), indexable like the Go struct.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from bot.checks.base import NotEvaluable
from bot.core.snapshot import Setting, Snapshot


@dataclass(frozen=True, slots=True)
class Struct:
    go_name: str  # as Go prints the type: "util.HTTPProxyConfig"
    fields: tuple[tuple[str, GoType], ...]  # (JSON key as declared, type)


@dataclass(frozen=True, slots=True)
class Of:
    """A slice ("[]"), a map with string keys ("map[string]") or a pointer ("*")."""

    prefix: str
    elem: GoType


# "string", "bool" and "int" are the scalar kinds the settings use.
GoType: TypeAlias = "str | Struct | Of"


def _struct(go_name: str, **fields: GoType) -> Struct:
    return Struct(go_name, tuple(fields.items()))


_S, _SLICE = "string", Of("[]", "string")
HTTP_PROXY = _struct("util.HTTPProxyConfig", httpProxy=_S, httpsProxy=_S, noProxy=_S)
AUTO_ROTATE = _struct("settings.AutoRotateRKE2Certs", enable="bool", expiringInHours="int")
SSL_CERTIFICATES = _struct("settings.SSLCertificate", ca=_S, publicCertificate=_S, privateKey=_S)
SSL_PARAMETERS = _struct("settings.SSLParameter", protocols=_S, ciphers=_S)
_AUTH = _struct("containerd.AuthConfig", Username=_S, Password=_S, Auth=_S, IdentityToken=_S)
_TLS = _struct(
    "containerd.TLSConfig", CAFile=_S, CertFile=_S, KeyFile=_S, InsecureSkipVerify="bool"
)
# rancher/wharfie's Registry has no json tags: the keys are the Go field names (§2.6).
CONTAINERD_REGISTRY = _struct(
    "containerd.Registry",
    Mirrors=Of(
        "map[string]",
        _struct("containerd.Mirror", Endpoints=_SLICE, Rewrites=Of("map[string]", _S)),
    ),
    Configs=Of(
        "map[string]", _struct("containerd.RegistryConfig", Auth=Of("*", _AUTH), TLS=Of("*", _TLS))
    ),
    Auths=Of("map[string]", _AUTH),
)
TLS_OPTIONS = _struct(
    "settings.TLSOptionSpec",
    minVersion=_S,
    maxVersion=_S,
    cipherSuites=_SLICE,
    curvePreferences=_SLICE,
    clientAuth=_struct("settings.ClientAuth", secretNames=_SLICE, clientAuthType=_S),
    sniStrict="bool",
    alpnProtocols=_SLICE,
    disableSessionTickets="bool",
)
SCHEMAS: dict[str, Struct] = {
    "http-proxy": HTTP_PROXY,
    "auto-rotate-rke2-certs": AUTO_ROTATE,
    "ssl-certificates": SSL_CERTIFICATES,
    "ssl-parameters": SSL_PARAMETERS,
    "containerd-registry": CONTAINERD_REGISTRY,
    "traefik-default-tls-options": TLS_OPTIONS,
}


class GoJSONError(ValueError):
    """The text does not decode into the Go type; the message reads like Go's."""


class _Num(str):
    """A JSON number kept as its literal (Go checks int fields against the literal)."""


class _Obj(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, in order, duplicates kept."""


def type_name(typ: GoType) -> str:
    """The type as Go's reflect prints it: ``[]string``, ``*containerd.AuthConfig``."""
    if isinstance(typ, Struct):
        return typ.go_name
    return typ.prefix + type_name(typ.elem) if isinstance(typ, Of) else typ


def zero(typ: GoType) -> Any:
    """Go's zero value of ``typ`` (a struct is a dict of its fields' zero values)."""
    if isinstance(typ, Struct):
        return {name: zero(t) for name, t in typ.fields}
    if isinstance(typ, Of):
        return None  # nil
    return {"string": "", "bool": False, "int": 0}[typ]


def _fold_rune(ch: str) -> str:
    # Go folds each rune with ToUpper(ToLower(r)), using one-to-one mappings only.
    low = ch.lower() if len(ch.lower()) == 1 else ch
    return low.upper() if len(low.upper()) == 1 else low


def _json_kind(raw: Any) -> str:
    for kind, cls in (("number", _Num), ("bool", bool), ("string", str), ("object", _Obj)):
        if isinstance(raw, cls):
            return kind
    return "array"


_INT64 = 1 << 63


def _decode(raw: Any, typ: GoType, *, into: Any, path: tuple[str, tuple[str, ...]]) -> Any:
    """Decode one non-null JSON value into ``typ``; ``into`` is the existing Go value."""
    struct_name, stack = path

    def mismatch(value: str) -> GoJSONError:
        target = f"Go struct field {struct_name}.{'.'.join(stack)}" if stack else "Go value"
        return GoJSONError(f"json: cannot unmarshal {value} into {target} of type {type_name(typ)}")

    if isinstance(typ, Of) and typ.prefix == "*":
        return _decode(raw, typ.elem, into=zero(typ.elem) if into is None else into, path=path)
    if isinstance(typ, Struct):
        if not isinstance(raw, _Obj):
            raise mismatch(_json_kind(raw))
        out = dict(into) if isinstance(into, dict) else zero(typ)
        short = typ.go_name.rsplit(".", 1)[-1]
        for key, value in raw:
            # Go prefers an exact match; no two fields here differ only by case.
            folded = "".join(map(_fold_rune, key))
            match = next((f for f in typ.fields if "".join(map(_fold_rune, f[0])) == folded), None)
            if match is None:
                continue  # unknown keys are ignored
            name, ftype = match
            if value is None:
                if isinstance(ftype, Of):
                    out[name] = None  # null sets pointers, maps and slices to nil
                continue
            out[name] = _decode(value, ftype, into=out[name], path=(short, (*stack, name)))
        return out
    if isinstance(typ, Of) and typ.prefix == "map[string]":
        if not isinstance(raw, _Obj):
            raise mismatch(_json_kind(raw))
        merged = dict(into) if isinstance(into, dict) else {}
        for key, value in raw:
            elem = zero(typ.elem)
            merged[key] = elem if value is None else _decode(value, typ.elem, into=elem, path=path)
        return merged
    if isinstance(typ, Of):  # a slice
        if not isinstance(raw, list) or isinstance(raw, _Obj):
            raise mismatch(_json_kind(raw))
        return [
            zero(typ.elem) if v is None else _decode(v, typ.elem, into=None, path=path) for v in raw
        ]
    if typ == "int" and _json_kind(raw) == "number":
        # 19 digits bound the literal before int() (int64 has 19 digits at most).
        if re.fullmatch(r"-?[0-9]{1,19}", raw) and -_INT64 <= int(raw) < _INT64:
            return int(raw)
        raise mismatch(f"number {raw}")
    if (typ, _json_kind(raw)) in (("string", "string"), ("bool", "bool")):
        return raw
    raise mismatch(_json_kind(raw))


def decode(text: str, typ: Struct) -> dict[str, Any]:
    """Decode ``text`` into ``typ`` like ``json.Unmarshal``; raise GoJSONError otherwise."""
    raw = parse(text)
    return zero(typ) if raw is None else dict(_decode(raw, typ, into=None, path=("", ())))


def parse(text: str) -> Any:
    """Parse JSON text, keeping number literals and duplicate keys (see _Num, _Obj)."""
    try:
        hooks: dict[str, Any] = {"parse_int": _Num, "parse_float": _Num}
        return json.loads(text, object_pairs_hook=_Obj, parse_constant=_reject_constant, **hooks)
    except json.JSONDecodeError as e:
        raise GoJSONError(_go_syntax_message(e)) from None
    except RecursionError:
        raise GoJSONError("exceeded max depth") from None


def _reject_constant(name: str) -> Any:
    # Python accepts NaN/Infinity; Go does not.
    where = "in numeric literal" if name.startswith("-") else "looking for beginning of value"
    raise GoJSONError(f"invalid character {_quote_char(name.lstrip('-')[0])} {where}")


# Where Go's strconv.Quote differs from Python's repr for one character.
_GO_QUOTE = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v", "'": "\\'", '"': '"'}


def _quote_char(ch: str) -> str:
    # Go quotes the offending byte: the first UTF-8 byte of a non-ASCII character.
    byte = chr(ch.encode("utf-8", "surrogatepass")[0])
    if byte in _GO_QUOTE:
        return f"'{_GO_QUOTE[byte]}'"
    if ord(byte) >= 0x80 and not byte.isprintable():
        return f"'\\u{ord(byte):04x}'"
    return repr(byte)


def _open_container(text: str, pos: int) -> str:
    """'{' or '[' for the innermost container open at ``pos`` ('' at top level)."""
    open_: list[str] = []
    for ch in re.sub(r"[^{}\[\]]", "", re.sub(r'"(?:[^"\\]|\\.)*"', "", text[:pos])):
        if ch in "{[":
            open_.append(ch)
        elif open_:
            open_.pop()
    return open_[-1] if open_ else ""


def _go_syntax_message(e: json.JSONDecodeError) -> str:
    """Phrase Python's syntax error the way Go's scanner does (the common cases)."""
    text, pos, msg = e.doc, e.pos, e.msg
    if msg.startswith("Unterminated string") or pos >= len(text):
        return "unexpected end of JSON input"
    ch = text[pos]
    if msg.startswith(("Expecting value", "Unexpected UTF-8 BOM")):
        for lit in ("true", "false", "null"):
            got = text[pos : pos + len(lit)]
            bad = next((i for i, c in enumerate(got) if c != lit[i]), len(got))
            if ch == lit[0] and bad == len(got):
                return "unexpected end of JSON input"
            if ch == lit[0]:
                q, want = _quote_char(got[bad]), _quote_char(lit[bad])
                return f"invalid character {q} in literal {lit} (expecting {want})"
        if ch == "-":
            if pos + 1 >= len(text):
                return "unexpected end of JSON input"
            return f"invalid character {_quote_char(text[pos + 1])} in numeric literal"
        return f"invalid character {_quote_char(ch)} looking for beginning of value"
    if msg.startswith("Expecting property name"):
        return f"invalid character {_quote_char(ch)} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {_quote_char(ch)} after object key"
    if msg.startswith("Expecting ','"):
        inside = "object key:value pair" if _open_container(text, pos) == "{" else "array element"
        return f"invalid character {_quote_char(ch)} after {inside}"
    if msg.startswith("Invalid control character"):
        return f"invalid character {_quote_char(ch)} in string literal"
    if msg.startswith("Invalid \\u"):
        return "invalid character in \\u hexadecimal character escape"
    if msg.startswith("Invalid \\escape"):
        esc = text[pos + 1] if ch == "\\" and pos + 1 < len(text) else ch
        return f"invalid character {_quote_char(esc)} in string escape code"
    return f"invalid character {_quote_char(ch)} after top-level value"  # "Extra data"


def require_setting(snapshot: Snapshot, name: str) -> Setting | None:
    """The setting, None if the source read settings and it is not there (= not set);
    raise NotEvaluable if the source could not read it (e.g. excluded from bundles, §4)."""
    item = snapshot.setting_coverage(name)
    if not item.usable:
        detail = f": {item.detail}" if item.detail else ""
        raise NotEvaluable(f"setting {name} not readable ({item.status.value}{detail})")
    return snapshot.settings.get(name)


def effective_field(setting: Setting | None) -> tuple[str, str] | None:
    """("value"|"default", text) a fallback controller uses (§1.2), None when both empty."""
    if setting is None:
        return None
    if setting.value:
        return "value", setting.value
    return ("default", setting.default) if setting.default else None


def decode_or_unknown(name: str, *, field: str, text: str) -> dict[str, Any]:
    """Decode a setting field for a check; NotEvaluable (not a pass) when it is invalid."""
    try:
        return decode(text, SCHEMAS[name])
    except GoJSONError as e:
        raise NotEvaluable(f"{name} {field} does not decode ({e}); see setting-invalid") from None


def version_tuple(version: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of "v1.4.2", "v1.9.0-rc6", "1.3"; None when not a version."""
    m = re.match(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
