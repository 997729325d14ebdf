#!/usr/bin/env python3
"""Generates the C++ Kafka codecs from broker/protocol/spec/*.json.

Run by CMake at build time (broker/protocol/CMakeLists.txt); the output goes into the build
tree and is never committed. For every message (requests, responses, headers, data) it
writes one header with one struct per message (nested structs for the message's own and
common structs) and the Encode / DecodeFrom / Size definitions, grouped into a few .cc files
so that the build stays quick on two cores. It also writes the API key table, the ErrorCode
enum, type visitors, and (for tests) rapidcheck generators of valid values per version.

Usage: protocol_gen.py --spec DIR --advertised FILE --errors FILE --out DIR [--chunks N]
"""
import argparse
import csv
import io
import json
import os
import re
import sys

NONE_VERSION = 0x7FFF  # "no version": above any real version

CPP_KEYWORDS = {
    "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char", "class",
    "concept", "const", "constexpr", "continue", "default", "delete", "do", "double", "else",
    "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if",
    "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "nullptr",
    "operator", "or", "private", "protected", "public", "register", "requires", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw",
    "true", "try", "typedef", "typename", "union", "unsigned", "using", "virtual", "void",
    "volatile", "while", "xor",
}
# Names the generated function bodies use for their own locals and parameters.
RESERVED_MEMBERS = {"ver", "w", "r", "unknown_tagged_fields"}

PRIMS = {
    # type: (C++ type, fixed size, writer suffix, rapidcheck generator type)
    "bool": ("bool", 1, "Bool"),
    "int8": ("int8_t", 1, "Int8"),
    "int16": ("int16_t", 2, "Int16"),
    "uint16": ("uint16_t", 2, "Uint16"),
    "int32": ("int32_t", 4, "Int32"),
    "uint32": ("uint32_t", 4, "Uint32"),
    "int64": ("int64_t", 8, "Int64"),
    "float64": ("double", 8, "Float64"),
    "uuid": ("Uuid", 16, "Uuid"),
}


def snake(name):
    name = name.replace("KRaft", "Kraft")
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


class Versions:
    """An inclusive version range parsed from "N", "N+", "N-M" or "none"."""

    def __init__(self, text):
        text = str(text).strip()
        if text == "none":
            self.lo, self.hi = NONE_VERSION, -1
        elif text.endswith("+"):
            self.lo, self.hi = int(text[:-1]), NONE_VERSION
        elif "-" in text:
            a, b = text.split("-")
            self.lo, self.hi = int(a), int(b)
        else:
            self.lo = self.hi = int(text)

    def empty(self):
        return self.lo > self.hi

    def intersect(self, other):
        r = Versions("none")
        r.lo, r.hi = max(self.lo, other.lo), min(self.hi, other.hi)
        return r

    def contains(self, v):
        return self.lo <= v <= self.hi

    def covers(self, other):
        return other.empty() or (self.lo <= other.lo and other.hi <= self.hi)

    def cond(self, valid, var="ver"):
        """A C++ condition for `var` in this range, given var is within `valid`."""
        r = self.intersect(valid)
        if r.empty():
            return "false"
        parts = []
        if r.lo > valid.lo:
            parts.append(f"{var} >= {r.lo}")
        if r.hi < valid.hi:
            parts.append(f"{var} <= {r.hi}")
        return " && ".join(parts) if parts else "true"

    def __repr__(self):
        return f"{self.lo}-{self.hi}"


class Type:
    def __init__(self, kind, prim=None, elem=None, struct=None):
        self.kind = kind  # prim | string | bytes | records | struct | array
        self.prim = prim
        self.elem = elem
        self.struct = struct

    def cpp(self):
        if self.kind == "prim":
            return PRIMS[self.prim][0]
        if self.kind == "string":
            return "std::string"
        if self.kind == "bytes":
            return "std::vector<uint8_t>"
        if self.kind == "records":
            return "RecordsView"
        if self.kind == "struct":
            return self.struct.name
        return f"std::vector<{self.elem.cpp()}>"


class Field:
    pass


class Struct:
    def __init__(self, name, qualified):
        self.name = name
        self.qualified = qualified
        self.fields = []
        self.children = []  # nested struct definitions, in dependency order


class Message:
    pass


def cpp_string_literal(s):
    return json.dumps(s)


def parse_int_default(text, prim):
    value = int(text, 0)
    return f"static_cast<{PRIMS[prim][0]}>({value}LL)"


class Generator:
    def __init__(self, spec_dir):
        self.rd = "r"  # the Reader the decode code reads from
        self.messages = []
        for name in sorted(os.listdir(spec_dir)):
            if name.endswith(".json"):
                with open(os.path.join(spec_dir, name), encoding="utf-8") as f:
                    self.messages.append(self.load(json.load(f)))

    # ---------------------------------------------------------------- model
    def load(self, spec):
        m = Message()
        m.spec = spec
        m.name = spec["name"]
        m.kind = spec["type"]
        m.api_key = spec.get("apiKey")
        m.valid = Versions(spec["validVersions"])
        m.flexible = Versions(spec["flexibleVersions"])
        m.deprecated = Versions(spec.get("deprecatedVersions", "none"))
        m.unstable_latest = bool(spec.get("latestVersionUnstable", False))
        m.listeners = spec.get("listeners", [])
        m.common = {}
        m.all_structs = []
        m.root = Struct(m.name, m.name)
        # Common structs first: any field may refer to them by type name.
        common_specs = {s["name"]: s for s in spec.get("commonStructs", [])}
        m.common_specs = common_specs
        m.pending_common = dict(common_specs)
        m.defined = set()
        self.build_struct(m, m.root, spec["fields"], m.name)
        m.root.fields_spec = spec["fields"]
        # Common structs not referenced by any field are still generated.
        for cname in list(m.pending_common):
            self.define_common(m, cname)
        return m

    def define_common(self, m, cname):
        if cname in m.common:
            return m.common[cname]
        cs = m.common_specs[cname]
        st = Struct(cname, f"{m.name}::{cname}")
        m.common[cname] = st
        m.pending_common.pop(cname, None)
        self.build_struct(m, st, cs["fields"], f"{m.name}.{cname}")
        m.root.children.append(st)
        return st

    def resolve_struct(self, m, parent, tname, f, where):
        if "fields" in f:
            if tname in m.defined or tname in m.common_specs:
                raise SystemExit(f"{where}: struct {tname} defined twice")
            m.defined.add(tname)
            st = Struct(tname, f"{m.name}::{tname}")
            self.build_struct(m, st, f["fields"], f"{where}.{tname}")
            m.root.children.append(st)
            return st
        if tname in m.common_specs:
            return self.define_common(m, tname)
        raise SystemExit(f"{where}: unknown type {tname}")

    def build_struct(self, m, st, fields, where):
        m.all_structs.append(st)
        for fs in fields:
            f = Field()
            f.spec = fs
            f.name = fs["name"]
            f.member = snake(f.name)
            if f.member in CPP_KEYWORDS or f.member in RESERVED_MEMBERS:
                f.member += "_value"
            f.versions = Versions(fs["versions"])
            f.nullable = Versions(fs.get("nullableVersions", "none"))
            f.tagged = "tag" in fs
            f.tag = int(fs["tag"]) if "tag" in fs else None
            f.tagged_versions = Versions(fs.get("taggedVersions", "none"))
            f.ignorable = bool(fs.get("ignorable", False))
            f.flex_override = fs.get("flexibleVersions")
            f.default = fs.get("default")
            f.where = f"{where}.{f.name}"
            t = fs["type"]
            if t.startswith("[]"):
                et = t[2:]
                if et in PRIMS:
                    elem = Type("prim", prim=et)
                elif et in ("string", "bytes"):
                    elem = Type(et)
                else:
                    elem = Type("struct", struct=self.resolve_struct(m, st, et, fs, where))
                f.type = Type("array", elem=elem)
            elif t in PRIMS:
                f.type = Type("prim", prim=t)
            elif t in ("string", "bytes", "records"):
                f.type = Type(t)
            else:
                f.type = Type("struct", struct=self.resolve_struct(m, st, t, fs, where))
            if f.tagged and f.tagged_versions.lo != f.versions.lo:
                raise SystemExit(f"{f.where}: taggedVersions differ from versions")
            f.present = f.tagged_versions if f.tagged else f.versions
            f.optional = (not f.nullable.empty()) and f.type.kind != "records"
            if not f.nullable.empty() and f.type.kind == "prim":
                raise SystemExit(f"{f.where}: nullable primitive")
            if f.default == "null" and not f.optional and f.type.kind != "records":
                raise SystemExit(f"{f.where}: null default on a non-nullable field")
            st.fields.append(f)
        tags = [f.tag for f in st.fields if f.tagged]
        if len(tags) != len(set(tags)):
            raise SystemExit(f"{where}: duplicate tag")

    # ---------------------------------------------------------------- C++ pieces
    def member_type(self, f):
        t = f.type.cpp()
        return f"std::optional<{t}>" if f.optional else t

    def default_expr(self, f):
        """The C++ expression for the field's default value."""
        t = f.type
        d = f.default
        if f.optional and (d == "null"):
            return "std::nullopt"
        if t.kind == "prim":
            if d is None:
                return {"bool": "false", "uuid": "Uuid{}", "float64": "0.0"}.get(
                    t.prim, f"{PRIMS[t.prim][0]}{{0}}")
            if t.prim == "bool":
                return "true" if d == "true" else "false"
            if t.prim == "float64":
                return repr(float(d))
            if t.prim == "uuid":
                return "Uuid{}"
            return parse_int_default(d, t.prim)
        if t.kind == "string":
            s = "" if d is None else d
            return f"std::string({cpp_string_literal(s)})"
        if t.kind == "records":
            return "RecordsView()"
        return f"{t.cpp()}{{}}"

    def initializer(self, f):
        t = f.type
        if t.kind == "prim":
            return f" = {self.default_expr(f)}"
        if t.kind == "string" and f.default not in (None, "", "null"):
            return f" = {self.default_expr(f)}"
        if f.optional and f.default != "null":
            # Optional (nullable in some versions) but defaulting to a value.
            return f" = {self.default_expr(f)}"
        return ""

    def compact_expr(self, f):
        if f.flex_override is not None:
            fv = Versions(f.flex_override)
            if fv.empty():
                return "false"
            return f"(g_flexible && ver >= {fv.lo})"
        return "g_flexible"

    # -- encode
    def enc_value(self, t, expr, compact, what, out, ind):
        p = " " * ind
        if t.kind == "prim":
            out.append(f"{p}w.Write{PRIMS[t.prim][2]}({expr});")
        elif t.kind == "string":
            out.append(f"{p}RUNNEL_TRY(w.WriteString({compact}, {expr}, {what}));")
        elif t.kind == "bytes":
            out.append(f"{p}RUNNEL_TRY(w.WriteBytes({compact}, {expr}, {what}));")
        elif t.kind == "records":
            out.append(f"{p}RUNNEL_TRY(w.WriteRecords({compact}, {expr}, {what}));")
        elif t.kind == "struct":
            out.append(f"{p}RUNNEL_TRY({expr}.Encode(ver, w));")
        else:
            out.append(f"{p}RUNNEL_TRY(w.WriteArrayLength({compact}, {expr}.size(), {what}));")
            out.append(f"{p}for (const auto& g_e : {expr}) {{")
            self.enc_value(t.elem, "g_e", compact, what, out, ind + 2)
            out.append(f"{p}}}")

    def enc_field(self, m, f, out, ind, valid):
        """Writes the field's value (present version assumed)."""
        p = " " * ind
        compact = self.compact_expr(f)
        what = cpp_string_literal(f.where)
        if f.type.kind == "records":
            if f.nullable.covers(valid):
                self.enc_value(f.type, f.member, compact, what, out, ind)
            else:
                cond = f.nullable.cond(valid)
                out.append(f"{p}if ({f.member}.is_null() && !({cond})) {{")
                out.append(f"{p}  return NullNotEncodable({what}, ver);")
                out.append(f"{p}}}")
                self.enc_value(f.type, f.member, compact, what, out, ind)
            return
        if not f.optional:
            self.enc_value(f.type, f.member, compact, what, out, ind)
            return
        out.append(f"{p}if (!{f.member}.has_value()) {{")
        cond = f.nullable.cond(valid)
        if cond != "true":
            out.append(f"{p}  if (!({cond})) return NullNotEncodable({what}, ver);")
        if f.type.kind == "string":
            out.append(f"{p}  w.WriteNullString({compact});")
        elif f.type.kind == "struct":
            out.append(f"{p}  w.WriteInt8(-1);")
        else:
            out.append(f"{p}  w.WriteNullBytes({compact});")
        out.append(f"{p}}} else {{")
        if f.type.kind == "struct":
            out.append(f"{p}  w.WriteInt8(1);")
        self.enc_value(f.type, f"(*{f.member})", compact, what, out, ind + 2)
        out.append(f"{p}}}")

    # -- size
    def size_value(self, t, expr, compact, out, ind, acc="g_size"):
        p = " " * ind
        if t.kind == "prim":
            out.append(f"{p}{acc} += {PRIMS[t.prim][1]};")
        elif t.kind == "string":
            out.append(f"{p}{acc} += StringPrefixSize({compact}, {expr}.size()) + {expr}.size();")
        elif t.kind == "bytes":
            out.append(f"{p}{acc} += LengthPrefixSize({compact}, {expr}.size()) + {expr}.size();")
        elif t.kind == "records":
            out.append(f"{p}{acc} += {expr}.is_null() ? ({compact} ? 1 : 4) : "
                       f"LengthPrefixSize({compact}, {expr}.size()) + {expr}.size();")
        elif t.kind == "struct":
            out.append(f"{p}{acc} += {expr}.Size(ver);")
        else:
            out.append(f"{p}{acc} += LengthPrefixSize({compact}, {expr}.size());")
            if t.elem.kind == "prim":
                out.append(f"{p}{acc} += {expr}.size() * {PRIMS[t.elem.prim][1]};")
            else:
                out.append(f"{p}for (const auto& g_e : {expr}) {{")
                self.size_value(t.elem, "g_e", compact, out, ind + 2, acc)
                out.append(f"{p}}}")

    def size_field(self, f, out, ind, acc="g_size"):
        p = " " * ind
        compact = self.compact_expr(f)
        if not f.optional:
            self.size_value(f.type, f.member, compact, out, ind, acc)
            return
        null_size = {"string": f"({compact} ? 1 : 2)", "struct": "1"}.get(
            f.type.kind, f"({compact} ? 1 : 4)")
        out.append(f"{p}if (!{f.member}.has_value()) {{")
        out.append(f"{p}  {acc} += {null_size};")
        out.append(f"{p}}} else {{")
        if f.type.kind == "struct":
            out.append(f"{p}  {acc} += 1;")
        self.size_value(f.type, f"(*{f.member})", compact, out, ind + 2, acc)
        out.append(f"{p}}}")

    # -- decode
    def dec_value(self, t, target, compact, what, out, ind, nullable_ok):
        """Decodes into `target` (an lvalue of type t)."""
        p = " " * ind
        if t.kind == "prim":
            out.append(f"{p}RUNNEL_TRY({self.rd}.Read{PRIMS[t.prim][2]}(&{target}));")
        elif t.kind == "string":
            out.append(f"{p}RUNNEL_TRY({self.rd}.ReadString({compact}, &{target}, {what}));")
        elif t.kind == "bytes":
            out.append(f"{p}RUNNEL_TRY({self.rd}.ReadBytes({compact}, &{target}, {what}));")
        elif t.kind == "struct":
            out.append(f"{p}RUNNEL_TRY({target}.DecodeFrom(ver, {self.rd}));")
        else:
            out.append(f"{p}{{")
            out.append(f"{p}  int32_t g_n = 0;")
            out.append(f"{p}  RUNNEL_TRY({self.rd}.ReadArrayLength({compact}, &g_n));")
            out.append(f"{p}  if (g_n < 0) return NullInNonNullableVersion({what}, ver);")
            out.append(f"{p}  {target}.clear();")
            out.append(f"{p}  {target}.reserve(std::min<size_t>(static_cast<size_t>(g_n), kReserveElementsMax));")
            out.append(f"{p}  for (int32_t g_i = 0; g_i < g_n; ++g_i) {{")
            out.append(f"{p}    auto& g_e = {target}.emplace_back();")
            self.dec_value(t.elem, "g_e", compact, what, out, ind + 4, False)
            out.append(f"{p}  }}")
            out.append(f"{p}}}")

    def dec_field(self, f, out, ind, valid):
        p = " " * ind
        compact = self.compact_expr(f)
        what = cpp_string_literal(f.where)
        t = f.type
        if t.kind == "records":
            out.append(f"{p}RUNNEL_TRY({self.rd}.ReadRecords({compact}, &{f.member}));")
            if not f.nullable.covers(valid):
                cond = f.nullable.cond(valid)
                out.append(f"{p}if ({f.member}.is_null() && !({cond})) "
                           f"return NullInNonNullableVersion({what}, ver);")
            return
        if not f.optional:
            self.dec_value(t, f.member, compact, what, out, ind, False)
            return
        cond = f.nullable.cond(valid)
        if t.kind == "string":
            out.append(f"{p}RUNNEL_TRY({self.rd}.ReadNullableString({compact}, &{f.member}));")
        elif t.kind == "bytes":
            out.append(f"{p}RUNNEL_TRY({self.rd}.ReadNullableBytes({compact}, &{f.member}));")
        elif t.kind == "struct":
            out.append(f"{p}{{")
            out.append(f"{p}  int8_t g_present = 0;")
            out.append(f"{p}  RUNNEL_TRY({self.rd}.ReadInt8(&g_present));")
            out.append(f"{p}  if (g_present < 0) {{")
            out.append(f"{p}    {f.member}.reset();")
            out.append(f"{p}  }} else {{")
            self.dec_value(t, f"{f.member}.emplace()", compact, what, out, ind + 4, False)
            out.append(f"{p}  }}")
            out.append(f"{p}}}")
        else:
            out.append(f"{p}{{")
            out.append(f"{p}  int32_t g_n = 0;")
            out.append(f"{p}  RUNNEL_TRY({self.rd}.ReadArrayLength({compact}, &g_n));")
            out.append(f"{p}  if (g_n < 0) {{")
            out.append(f"{p}    {f.member}.reset();")
            out.append(f"{p}  }} else {{")
            out.append(f"{p}    auto& g_v = {f.member}.emplace();")
            out.append(f"{p}    g_v.reserve(std::min<size_t>(static_cast<size_t>(g_n), kReserveElementsMax));")
            out.append(f"{p}    for (int32_t g_i = 0; g_i < g_n; ++g_i) {{")
            out.append(f"{p}      auto& g_e = g_v.emplace_back();")
            self.dec_value(t.elem, "g_e", compact, what, out, ind + 6, False)
            out.append(f"{p}    }}")
            out.append(f"{p}  }}")
            out.append(f"{p}}}")
        if cond != "true":
            out.append(f"{p}if (!{f.member}.has_value() && !({cond})) "
                       f"return NullInNonNullableVersion({what}, ver);")

    # ---------------------------------------------------------------- emit one struct
    def struct_decl(self, m, st, top, out, ind):
        p = " " * ind
        out.append(f"{p}struct {st.name} {{")
        if not top:
            # User-provided, so std::optional<{st.name}> sees it as default-constructible
            # before the enclosing message struct is complete (clang checks that early).
            out.append(f"{p}  {st.name}() {{}}")
        if top:
            for child in st.children:
                self.struct_decl(m, child, False, out, ind + 2)
                out.append("")
            if m.api_key is not None:
                out.append(f"{p}  static constexpr int16_t kApiKey = {m.api_key};")
            out.append(f"{p}  static constexpr std::string_view kName = {cpp_string_literal(m.name)};")
            out.append(f"{p}  static constexpr int16_t kMinVersion = {m.valid.lo};")
            out.append(f"{p}  static constexpr int16_t kMaxVersion = {m.valid.hi};")
            flex = m.flexible.lo if not m.flexible.empty() else -1
            out.append(f"{p}  // First flexible version, or -1 when none is.")
            out.append(f"{p}  static constexpr int16_t kFirstFlexibleVersion = {flex};")
            out.append(f"{p}  static constexpr bool IsFlexible(int16_t version) {{")
            out.append(f"{p}    return kFirstFlexibleVersion >= 0 && version >= kFirstFlexibleVersion;")
            out.append(f"{p}  }}")
            out.append("")
        for f in st.fields:
            note = []
            note.append(f"v{f.versions.lo}+" if f.versions.hi == NONE_VERSION
                        else f"v{f.versions.lo}-{f.versions.hi}")
            if f.tagged:
                note.append(f"tag {f.tag}")
            if not f.nullable.empty():
                note.append("nullable " + (f"v{f.nullable.lo}+" if f.nullable.hi == NONE_VERSION
                                           else f"v{f.nullable.lo}-{f.nullable.hi}"))
            if f.ignorable:
                note.append("ignorable")
            if f.spec.get("mapKey"):
                note.append("map key")
            if f.spec.get("entityType"):
                note.append(f.spec["entityType"])
            out.append(f"{p}  {self.member_type(f)} {f.member}{self.initializer(f)};  // "
                       + ", ".join(note))
        out.append(f"{p}  // Tagged fields this build does not know, kept for a lossless re-encode.")
        out.append(f"{p}  std::vector<TaggedField> unknown_tagged_fields;")
        out.append("")
        if top:
            out.append(f"{p}  // Writes the body in `version`. Fails (Unsupported) for a version outside")
            out.append(f"{p}  // [kMinVersion, kMaxVersion], a non-default non-ignorable field the version cannot")
            out.append(f"{p}  // carry, or a null in a version where the field is not nullable.")
            out.append(f"{p}  Status Encode(int16_t version, Writer& writer) const;")
            out.append(f"{p}  // Reads a body of `version`; every read is bounds-checked.")
            out.append(f"{p}  static Result<{st.name}> Decode(int16_t version, Reader& reader);")
            out.append(f"{p}  // Decode into a default-constructed value.")
            out.append(f"{p}  Status DecodeFrom(int16_t version, Reader& reader);")
            out.append(f"{p}  // Bytes Encode(version) writes.")
            out.append(f"{p}  size_t Size(int16_t version) const;")
        else:
            out.append(f"{p}  Status Encode(int16_t version, Writer& writer) const;")
            out.append(f"{p}  Status DecodeFrom(int16_t version, Reader& reader);")
            out.append(f"{p}  size_t Size(int16_t version) const;")
        out.append(f"{p}  // Field-by-field, float64 by bits (defined in the .cc, which keeps users' compiles light).")
        out.append(f"{p}  bool operator==(const {st.name}& other) const;")
        out.append(f"{p}}};")

    def struct_defs(self, m, st, top, out):
        q = st.qualified
        valid = m.valid
        regular = [f for f in st.fields if not f.tagged]
        tagged = sorted([f for f in st.fields if f.tagged], key=lambda f: f.tag)
        has_flex = not m.flexible.intersect(valid).empty()
        flex_cond = m.flexible.cond(valid) if has_flex else "false"
        name_lit = cpp_string_literal(m.name)

        floats = [f for f in st.fields
                  if f.type.kind == "prim" and f.type.prim == "float64" and not f.optional]
        if not floats:
            out.append(f"bool {q}::operator==(const {q}&) const = default;")
        else:
            # A float64 compares by its bits (Kafka's generated equals uses Double.compare:
            # NaN equals NaN), so decode(encode(x)) == x holds for every value on the wire.
            terms = []
            for f in st.fields:
                if f in floats:
                    terms.append(f"std::bit_cast<uint64_t>({f.member}) == "
                                 f"std::bit_cast<uint64_t>(other.{f.member})")
                else:
                    terms.append(f"{f.member} == other.{f.member}")
            terms.append("unknown_tagged_fields == other.unknown_tagged_fields")
            out.append(f"bool {q}::operator==(const {q}& other) const {{")
            out.append("  return " + " &&\n         ".join(terms) + ";")
            out.append("}")
        out.append("")

        # ---- Encode
        out.append(f"Status {q}::Encode(int16_t ver, Writer& w) const {{")
        if top:
            out.append(f"  if (ver < kMinVersion || ver > kMaxVersion) return BadVersion({name_lit}, ver);")
        out.append(f"  [[maybe_unused]] const bool g_flexible = {flex_cond};")
        for f in regular:
            cond = f.present.cond(valid)
            if cond == "true":
                self.enc_field(m, f, out, 2, f.present.intersect(valid))
            else:
                out.append(f"  if ({cond}) {{")
                self.enc_field(m, f, out, 4, f.present.intersect(valid))
                if not f.ignorable:
                    out.append(f"  }} else if ({f.member} != {self.default_expr(f)}) {{")
                    out.append(f"    return NotInVersion({cpp_string_literal(f.where)}, ver);")
                out.append("  }")
        for f in tagged:
            cond = f.present.intersect(m.flexible).cond(valid)
            if not f.ignorable:
                out.append(f"  if (!({cond}) && {f.member} != {self.default_expr(f)}) "
                           f"return NotInVersion({cpp_string_literal(f.where)}, ver);")
        if has_flex:
            out.append("  if (g_flexible) {")
            out.append("    uint32_t g_count = static_cast<uint32_t>(unknown_tagged_fields.size());")
            for f in tagged:
                cond = f.present.intersect(m.flexible).cond(valid)
                out.append(f"    const bool g_write_{f.tag} = ({cond}) && "
                           f"{f.member} != {self.default_expr(f)};")
                out.append(f"    g_count += g_write_{f.tag} ? 1 : 0;")
            out.append("    w.WriteUvarint(g_count);")
            out.append("    size_t g_u = 0;")
            for f in tagged:
                out.append(f"    if (g_write_{f.tag}) {{")
                if f.tag > 0:
                    out.append(f"      while (g_u < unknown_tagged_fields.size() && "
                               f"unknown_tagged_fields[g_u].tag < {f.tag}) {{")
                    out.append("        WriteTaggedField(w, unknown_tagged_fields[g_u++]);")
                    out.append("      }")
                out.append(f"      w.WriteUvarint({f.tag});")
                out.append("      size_t g_size = 0;")
                self.size_field(f, out, 6)
                out.append("      w.WriteUvarint(static_cast<uint32_t>(g_size));")
                self.enc_field(m, f, out, 6, f.present.intersect(m.flexible).intersect(valid))
                out.append("    }")
            out.append("    while (g_u < unknown_tagged_fields.size()) {")
            out.append("      WriteTaggedField(w, unknown_tagged_fields[g_u++]);")
            out.append("    }")
            out.append("  }")
        out.append("  return Status::Ok();")
        out.append("}")
        out.append("")

        # ---- Size
        out.append(f"size_t {q}::Size(int16_t ver) const {{")
        if top:
            out.append(f"  RUNNEL_ASSERT(ver >= kMinVersion && ver <= kMaxVersion, "
                       f"\"{m.name}::Size of version {{}}\", ver);")
        out.append(f"  [[maybe_unused]] const bool g_flexible = {flex_cond};")
        out.append("  size_t g_size = 0;")
        for f in regular:
            cond = f.present.cond(valid)
            if cond == "true":
                self.size_field(f, out, 2)
            else:
                out.append(f"  if ({cond}) {{")
                self.size_field(f, out, 4)
                out.append("  }")
        if has_flex:
            out.append("  if (g_flexible) {")
            out.append("    uint32_t g_count = static_cast<uint32_t>(unknown_tagged_fields.size());")
            for f in tagged:
                cond = f.present.intersect(m.flexible).cond(valid)
                out.append(f"    if (({cond}) && {f.member} != {self.default_expr(f)}) {{")
                out.append("      ++g_count;")
                out.append("      size_t g_field = 0;")
                self.size_field(f, out, 6, acc="g_field")
                out.append(f"      g_size += UvarintSize({f.tag}) + UvarintSize(g_field) + g_field;")
                out.append("    }")
            out.append("    for (const TaggedField& g_t : unknown_tagged_fields) {")
            out.append("      g_size += UvarintSize(g_t.tag) + UvarintSize(g_t.data.size()) + g_t.data.size();")
            out.append("    }")
            out.append("    g_size += UvarintSize(g_count);")
            out.append("  }")
        out.append("  return g_size;")
        out.append("}")
        out.append("")

        # ---- Decode
        if top:
            out.append(f"Result<{q}> {q}::Decode(int16_t ver, Reader& r) {{")
            out.append(f"  {q} g_msg;")
            out.append("  RUNNEL_TRY(g_msg.DecodeFrom(ver, r));")
            out.append("  return g_msg;")
            out.append("}")
            out.append("")
        out.append(f"Status {q}::DecodeFrom(int16_t ver, Reader& r) {{")
        if top:
            out.append(f"  if (ver < kMinVersion || ver > kMaxVersion) return BadVersion({name_lit}, ver);")
        out.append(f"  [[maybe_unused]] const bool g_flexible = {flex_cond};")
        for f in regular:
            cond = f.present.cond(valid)
            if cond == "true":
                self.dec_field(f, out, 2, f.present.intersect(valid))
            else:
                out.append(f"  if ({cond}) {{")
                self.dec_field(f, out, 4, f.present.intersect(valid))
                out.append("  }")
        if has_flex:
            out.append("  if (g_flexible) {")
            out.append("    uint32_t g_count = 0;")
            out.append("    RUNNEL_TRY(r.ReadUvarint(&g_count));")
            out.append("    for (uint32_t g_i = 0; g_i < g_count; ++g_i) {")
            out.append("      uint32_t g_tag = 0;")
            out.append("      std::span<const uint8_t> g_data;")
            out.append("      RUNNEL_TRY(ReadTaggedField(r, &g_tag, &g_data));")
            if tagged:
                out.append("      Reader g_sub(g_data);")
                out.append("      switch (g_tag) {")
                for f in tagged:
                    cond = f.present.intersect(m.flexible).cond(valid)
                    out.append(f"        case {f.tag}:")
                    out.append(f"          if ({cond}) {{")
                    self.rd = "g_sub"
                    self.dec_field(f, out, 12, f.present.intersect(m.flexible).intersect(valid))
                    self.rd = "r"
                    out.append(f"            RUNNEL_TRY(CheckTaggedFieldConsumed(g_sub, {cpp_string_literal(f.where)}));")
                    out.append("            continue;")
                    out.append("          }")
                    out.append("          break;")
                out.append("        default:")
                out.append("          break;")
                out.append("      }")
            out.append("      unknown_tagged_fields.push_back(TaggedField{g_tag, {g_data.begin(), g_data.end()}});")
            out.append("    }")
            out.append("  }")
        out.append("  return Status::Ok();")
        out.append("}")
        out.append("")

    # ---------------------------------------------------------------- files
    def header_name(self, m):
        return snake(m.name) + ".h"

    def emit_header(self, m):
        out = [f"// Generated by scripts/protocol_gen.py from broker/protocol/spec/{m.name}.json.",
               "// Do not edit.",
               "#pragma once", "",
               "#include <cstdint>", "#include <optional>", "#include <string>",
               "#include <string_view>", "#include <vector>", "",
               '#include "broker/protocol/reader.h"',
               '#include "broker/protocol/wire_types.h"',
               '#include "broker/protocol/writer.h"',
               '#include "io/status.h"', "",
               "namespace runnel::protocol {", ""]
        self.struct_decl(m, m.root, True, out, 0)
        out += ["", "}  // namespace runnel::protocol", ""]
        return "\n".join(out)

    def emit_chunk(self, msgs):
        out = ["// Generated by scripts/protocol_gen.py. Do not edit.", "",
               "#include <bit>", "",
               '#include "broker/protocol/codec_support.h"']
        for m in msgs:
            out.append(f'#include "broker/protocol/gen/{self.header_name(m)}"')
        out += ["", "namespace runnel::protocol {", ""]
        for m in msgs:
            for st in m.root.children:
                self.struct_defs(m, st, False, out)
            self.struct_defs(m, m.root, True, out)
        out += ["}  // namespace runnel::protocol", ""]
        return "\n".join(out)

    def api_pairs(self):
        reqs = {m.api_key: m for m in self.messages if m.kind == "request"}
        resps = {m.api_key: m for m in self.messages if m.kind == "response"}
        if set(reqs) != set(resps):
            raise SystemExit("requests and responses do not pair up")
        for k in reqs:
            a, b = reqs[k], resps[k]
            if (a.valid.lo, a.valid.hi) != (b.valid.lo, b.valid.hi):
                raise SystemExit(f"api {k}: request/response valid versions differ")
            if (a.flexible.lo, a.flexible.hi) != (b.flexible.lo, b.flexible.hi):
                raise SystemExit(f"api {k}: request/response flexible versions differ")
        return [(k, reqs[k], resps[k]) for k in sorted(reqs)]

    def emit_api_table(self, advertised):
        adv = {a["key"]: a for a in advertised["apis"]}
        pairs = self.api_pairs()
        keys = {k for k, _, _ in pairs}
        out = ["// Generated by scripts/protocol_gen.py from broker/protocol/spec/ and",
               "// broker/protocol/advertised.json. Do not edit.", "",
               '#include "broker/protocol/api_keys.h"', "",
               "namespace runnel::protocol {", "",
               "const std::span<const ApiInfo> AllApis() {",
               "  static constexpr ApiInfo kApis[] = {"]
        for k, req, resp in pairs:
            a = adv.pop(k, None)
            impl = Versions(a["implement"]) if a else Versions("none")
            advv = Versions(a["advertise"]) if a else Versions("none")
            if a:
                api_name = req.name[: -len("Request")]
                if a["name"] != api_name:
                    raise SystemExit(f"advertised.json: key {k} is {api_name}, not {a['name']}")
                for r, label in ((impl, "implement"), (advv, "advertise")):
                    if not req.valid.covers(r):
                        raise SystemExit(f"advertised.json: {api_name} {label} {r} outside valid")
                    if req.unstable_latest and r.hi >= req.valid.hi:
                        raise SystemExit(f"advertised.json: {api_name} {label} includes the "
                                         "unstable latest version")
            flex = req.flexible.lo if not req.flexible.empty() else -1
            dep = (req.deprecated.lo, req.deprecated.hi) if not req.deprecated.empty() else (-1, -1)
            name = req.name[: -len("Request")]
            listeners = req.listeners
            roles = "|".join(["0"] + [f"kListener{l[0].upper()}{l[1:]}" for l in sorted(set(listeners))])
            out.append(f"      {{{k}, {cpp_string_literal(name)}, {req.valid.lo}, {req.valid.hi}, {flex}, "
                       f"{dep[0]}, {dep[1]}, {'true' if req.unstable_latest else 'false'}, "
                       f"{impl.lo if a else -1}, {impl.hi if a else -1}, "
                       f"{advv.lo if a else -1}, {advv.hi if a else -1}, "
                       f"static_cast<uint8_t>({roles})}},")
        if adv:
            raise SystemExit(f"advertised.json: unknown API keys {sorted(adv)}")
        out += ["  };", "  return kApis;", "}", "", "}  // namespace runnel::protocol", ""]
        return "\n".join(out), len(keys)

    def emit_errors(self, errors_path):
        rows = []
        with open(errors_path, encoding="utf-8") as f:
            for row in csv.reader(line for line in f if line.strip() and not line.startswith("#")):
                code, name, retriable = int(row[0]), row[1].strip(), row[2].strip()
                if retriable not in ("true", "false"):
                    raise SystemExit(f"{errors_path}: bad retriable flag for {name}")
                rows.append((code, name, retriable))
        codes = [r[0] for r in rows]
        if len(codes) != len(set(codes)) or len({r[1] for r in rows}) != len(rows):
            raise SystemExit(f"{errors_path}: duplicate code or name")

        def camel(n):
            return "k" + "".join(p.capitalize() for p in n.lower().split("_"))

        h = ["// Generated by scripts/protocol_gen.py from broker/protocol/error_codes.csv.",
             "// Do not edit.", "#pragma once", "", "#include <cstdint>", "#include <optional>",
             "#include <string_view>", "", "namespace runnel::protocol {", "",
             "// The Kafka wire error codes (the ErrorCode fields of responses).",
             "enum class ErrorCode : int16_t {"]
        for code, name, _ in rows:
            h.append(f"  {camel(name)} = {code},")
        h += ["};", "",
              "struct ErrorCodeInfo {", "  ErrorCode code;", "  std::string_view name;  // as Kafka spells it",
              "  bool retriable;", "};", "",
              "// Every known code; nullopt for a code not in the published list.",
              "std::optional<ErrorCodeInfo> FindErrorCode(int16_t code);",
              "// The Kafka name (\"NOT_LEADER_OR_FOLLOWER\"), or \"UNKNOWN_ERROR_CODE\".",
              "std::string_view ErrorCodeName(ErrorCode code);",
              "bool IsRetriable(ErrorCode code);",
              f"inline constexpr int kErrorCodeCount = {len(rows)};",
              "", "}  // namespace runnel::protocol", ""]
        c = ["// Generated by scripts/protocol_gen.py from broker/protocol/error_codes.csv.",
             "// Do not edit.", "", '#include "broker/protocol/gen/error_codes.h"', "",
             "namespace runnel::protocol {", "",
             "std::optional<ErrorCodeInfo> FindErrorCode(int16_t code) {", "  switch (code) {"]
        for code, name, retriable in rows:
            c.append(f"    case {code}:")
            c.append(f"      return ErrorCodeInfo{{ErrorCode::{camel(name)}, \"{name}\", {retriable}}};")
        c += ["    default:", "      return std::nullopt;", "  }", "}", "",
              "std::string_view ErrorCodeName(ErrorCode code) {",
              "  auto info = FindErrorCode(static_cast<int16_t>(code));",
              "  return info ? info->name : std::string_view(\"UNKNOWN_ERROR_CODE\");", "}", "",
              "bool IsRetriable(ErrorCode code) {",
              "  auto info = FindErrorCode(static_cast<int16_t>(code));",
              "  return info && info->retriable;", "}", "",
              "}  // namespace runnel::protocol", ""]
        return "\n".join(h), "\n".join(c)

    def emit_visit(self):
        pairs = self.api_pairs()
        out = ["// Generated by scripts/protocol_gen.py. Do not edit.",
               "// Compile-time dispatch from an API key to the generated request/response type.",
               "// Each call instantiates `fn` for every type: use it in tests, fuzzers and tools,",
               "// not in code that wants to stay small.",
               "#pragma once", "", "#include <cstdint>", "",
               '#include "broker/protocol/gen/messages.h"', "",
               "namespace runnel::protocol {", ""]
        for kind in ("Request", "Response"):
            out.append(f"// Calls fn.template operator()<T>() with the {kind.lower()} type of api_key;")
            out.append("// false when the key is unknown.")
            out.append("template <typename Fn>")
            out.append(f"bool Visit{kind}Type(int16_t api_key, Fn&& fn) {{")
            out.append("  switch (api_key) {")
            for k, req, resp in pairs:
                t = req if kind == "Request" else resp
                out.append(f"    case {k}:")
                out.append(f"      fn.template operator()<{t.name}>();")
                out.append("      return true;")
            out += ["    default:", "      return false;", "  }", "}", ""]
        out.append("// Calls fn.template operator()<T>() for every generated message type (requests,")
        out.append("// responses, headers and data records).")
        out.append("template <typename Fn>")
        out.append("void ForEachMessageType(Fn&& fn) {")
        for m in self.messages:
            out.append(f"  fn.template operator()<{m.name}>();")
        out += ["}", "", "}  // namespace runnel::protocol", ""]
        return "\n".join(out)

    # ---------------------------------------------------------------- rapidcheck generators
    def arb_value(self, t, out, ind, target, var_depth=0):
        p = " " * ind
        if t.kind == "prim":
            out.append(f"{p}{target} = Arb{PRIMS[t.prim][2]}();")
        elif t.kind == "string":
            out.append(f"{p}{target} = ArbString();")
        elif t.kind == "bytes":
            out.append(f"{p}{target} = ArbBytes();")
        elif t.kind == "records":
            out.append(f"{p}{target} = ArbRecords();")
        elif t.kind == "struct":
            out.append(f"{p}Fill(&{target}, ver);")
        else:
            e = f"g_e{var_depth}"
            out.append(f"{p}{target}.resize(ArbCount());")
            out.append(f"{p}for (auto& {e} : {target}) {{")
            self.arb_value(t.elem, out, ind + 2, e, var_depth + 1)
            out.append(f"{p}}}")

    def arb_struct(self, m, st, out):
        valid = m.valid
        out.append(f"[[maybe_unused]] void Fill({st.qualified}* g_x, int16_t ver) {{")
        out.append(f"  [[maybe_unused]] const bool g_flexible = "
                   f"{m.flexible.cond(valid) if not m.flexible.intersect(valid).empty() else 'false'};")
        for f in st.fields:
            present = f.present.intersect(m.flexible) if f.tagged else f.present
            cond = present.cond(valid)
            if cond == "false":
                continue
            out.append(f"  if ({cond}) {{")
            target = f"g_x->{f.member}"
            if f.type.kind == "records":
                null_cond = f.nullable.cond(valid)
                out.append(f"    if (({null_cond}) && ArbNull()) {{")
                out.append(f"      {target} = RecordsView();")
                out.append("    } else {")
                self.arb_value(f.type, out, 6, target)
                out.append("    }")
            elif f.optional:
                null_cond = f.nullable.cond(valid)
                out.append(f"    if (({null_cond}) && ArbNull()) {{")
                out.append(f"      {target}.reset();")
                out.append("    } else {")
                out.append(f"      auto& g_o = {target}.emplace();")
                self.arb_value(f.type, out, 6, "g_o")
                out.append("    }")
            else:
                self.arb_value(f.type, out, 4, target)
            out.append("  }")
        if not m.flexible.intersect(valid).empty():
            max_tag = max([f.tag for f in st.fields if f.tagged], default=-1)
            out.append(f"  if (g_flexible) g_x->unknown_tagged_fields = ArbUnknownTags({max_tag + 1});")
        out.append("}")
        out.append("")

    def emit_arbitrary(self, msgs, index):
        out = ["// Generated by scripts/protocol_gen.py. Do not edit.",
               "// rapidcheck generators of values valid for one version: fields the version cannot",
               "// carry keep their defaults, nulls only where the version allows them.", "",
               '#include "broker/protocol/gen/arbitrary.h"',
               '#include "broker/protocol/testing/arbitrary_support.h"',
               "", "namespace runnel::protocol::testing {", "namespace {", ""]
        for m in msgs:
            # Forward-declare every Fill so nested structs can refer to each other.
            for st in m.all_structs:
                out.append(f"void Fill({st.qualified}* g_x, int16_t ver);")
        out.append("")
        for m in msgs:
            for st in m.all_structs:
                self.arb_struct(m, st, out)
        out += ["}  // namespace", ""]
        for m in msgs:
            out.append("template <>")
            out.append(f"rc::Gen<{m.name}> ArbitraryMessage<{m.name}>(int16_t version) {{")
            out.append(f"  return rc::gen::exec([version] {{")
            out.append(f"    {m.name} g_x;")
            out.append("    Fill(&g_x, version);")
            out.append("    return g_x;")
            out.append("  });")
            out.append("}")
            out.append("")
            out.append("template <>")
            out.append(f"{m.name} DrawMessage<{m.name}>(int16_t version) {{")
            out.append(f"  {m.name} g_x;")
            out.append("  Fill(&g_x, version);")
            out.append("  return g_x;")
            out.append("}")
            out.append("")
        out += ["}  // namespace runnel::protocol::testing", ""]
        return "\n".join(out)

    def emit_arbitrary_header(self):
        out = ["// Generated by scripts/protocol_gen.py. Do not edit.", "#pragma once", "",
               "#include <rapidcheck.h>", "", '#include "broker/protocol/gen/messages.h"', "",
               "namespace runnel::protocol::testing {", "",
               "// A generator of values of T that version `version` can carry.",
               "template <typename T>", "rc::Gen<T> ArbitraryMessage(int16_t version);", "",
               "// The same values drawn directly; call only inside a rapidcheck property. Cheaper",
               "// to compile than `*ArbitraryMessage<T>(v)` in code that handles every type.",
               "template <typename T>", "T DrawMessage(int16_t version);", ""]
        for m in self.messages:
            out.append(f"template <> rc::Gen<{m.name}> ArbitraryMessage<{m.name}>(int16_t version);")
            out.append(f"template <> {m.name} DrawMessage<{m.name}>(int16_t version);")
        out += ["", "}  // namespace runnel::protocol::testing", ""]
        return "\n".join(out)


def write_if_changed(path, text):
    # Leaves unchanged files alone so that a regeneration does not rebuild everything.
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--advertised", required=True)
    ap.add_argument("--errors", required=True)
    ap.add_argument("--out", required=True, help="directory for broker/protocol/gen/ files")
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--arbitrary-chunks", type=int, default=6)
    ap.add_argument("--list", action="store_true", help="print the output file names and exit")
    args = ap.parse_args()

    gen = Generator(args.spec)
    msgs = gen.messages
    files = {}
    for m in msgs:
        files[gen.header_name(m)] = lambda m=m: gen.emit_header(m)

    def split(items, n):
        n = max(1, min(n, len(items)))
        # Balance by field count so each .cc costs about the same to compile.
        weights = [sum(len(s.fields) for s in m.all_structs) + 5 for m in items]
        buckets = [[] for _ in range(n)]
        loads = [0] * n
        for i in sorted(range(len(items)), key=lambda i: -weights[i]):
            j = loads.index(min(loads))
            buckets[j].append(items[i])
            loads[j] += weights[i]
        return [sorted(b, key=lambda m: m.name) for b in buckets]

    for i, chunk in enumerate(split(msgs, args.chunks)):
        files[f"messages_{i}.cc"] = lambda c=chunk: gen.emit_chunk(c)
    for i, chunk in enumerate(split(msgs, args.arbitrary_chunks)):
        files[f"arbitrary_{i}.cc"] = lambda c=chunk, i=i: gen.emit_arbitrary(c, i)
    files["arbitrary.h"] = gen.emit_arbitrary_header
    files["messages.h"] = lambda: "\n".join(
        ["// Generated by scripts/protocol_gen.py. Do not edit. Every generated message.",
         "#pragma once", ""] + [f'#include "broker/protocol/gen/{gen.header_name(m)}"' for m in msgs]
        + [""])
    with open(args.advertised, encoding="utf-8") as f:
        advertised = json.load(f)
    files["api_table.cc"] = lambda: gen.emit_api_table(advertised)[0]
    errs = gen.emit_errors(args.errors)
    files["error_codes.h"] = lambda: errs[0]
    files["error_codes.cc"] = lambda: errs[1]
    files["visit.h"] = gen.emit_visit

    if args.list:
        print(";".join(sorted(files)))
        return 0
    os.makedirs(args.out, exist_ok=True)
    for name, make in files.items():
        write_if_changed(os.path.join(args.out, name), make())
    requests = sum(1 for m in msgs if m.kind == "request")
    print(f"protocol_gen: {len(msgs)} messages ({requests} APIs), {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
