#!/usr/bin/env python3
"""Transforms the official Kafka message schemas into broker/protocol/spec/*.json.

The official schemas (Apache-2.0, ../shared/kafka-protocol/messages/) are JSON with `//`
comment lines and `about` prose. The spec keeps exactly what a codec needs -- names, types,
versions, nullable/tagged/flexible versions, tags, defaults, ignorable, mapKey, entityType,
zeroCopy, listeners, deprecated/unstable version markers and common structs -- in a stable
key order, and drops every comment and every `about`.

Usage:
  scripts/protocol_spec.py                 # rewrite broker/protocol/spec/ from the schemas
  scripts/protocol_spec.py --check         # exit 1 if the committed spec is out of date
  scripts/protocol_spec.py --source DIR --out DIR
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SOURCE = os.path.join(os.path.dirname(ROOT), "shared", "kafka-protocol", "messages")
DEFAULT_OUT = os.path.join(ROOT, "broker", "protocol", "spec")

# Keys kept, in the order they are written. Anything else (about, comments) is dropped; an
# unknown key is an error so that a schema-format change is noticed rather than lost.
TOP_KEYS = ["apiKey", "type", "name", "validVersions", "deprecatedVersions", "flexibleVersions",
            "latestVersionUnstable", "listeners", "fields", "commonStructs"]
FIELD_KEYS = ["name", "type", "versions", "nullableVersions", "taggedVersions", "tag",
              "flexibleVersions", "default", "ignorable", "mapKey", "entityType", "zeroCopy",
              "fields"]
STRUCT_KEYS = ["name", "versions", "fields"]
DROPPED_KEYS = {"about"}


def strip_comments(text):
    # Comments in the schemas are whole lines starting with `//`; `//` inside strings
    # (URLs in `about`) must survive, so only leading-comment lines are removed.
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("//"))


def normalize_scalar(key, value):
    # Defaults are written as strings in the spec ("-1", "0x7fffffff", "null", "true") so that
    # the generator sees one representation; the schemas mix JSON booleans and strings.
    if key == "tag":
        return int(value)
    if key == "default":
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    return value


def transform_fields(fields, where):
    out = []
    for field in fields:
        unknown = set(field) - set(FIELD_KEYS) - DROPPED_KEYS
        if unknown:
            raise SystemExit(f"{where}: unknown field keys {sorted(unknown)}")
        kept = {}
        for key in FIELD_KEYS:
            if key not in field:
                continue
            if key == "fields":
                kept[key] = transform_fields(field[key], f"{where}.{field['name']}")
            else:
                kept[key] = normalize_scalar(key, field[key])
        out.append(kept)
    return out


def transform(schema, where):
    unknown = set(schema) - set(TOP_KEYS) - DROPPED_KEYS
    if unknown:
        raise SystemExit(f"{where}: unknown top-level keys {sorted(unknown)}")
    out = {}
    for key in TOP_KEYS:
        if key not in schema:
            continue
        if key == "fields":
            out[key] = transform_fields(schema[key], where)
        elif key == "commonStructs":
            structs = []
            for struct in schema[key]:
                bad = set(struct) - set(STRUCT_KEYS) - DROPPED_KEYS
                if bad:
                    raise SystemExit(f"{where}: unknown common struct keys {sorted(bad)}")
                structs.append({"name": struct["name"], "versions": struct["versions"],
                                "fields": transform_fields(struct["fields"],
                                                           f"{where}.{struct['name']}")})
            out[key] = structs
        else:
            out[key] = schema[key]
    return out


def render_fields(fields, indent):
    # One field per line (its nested fields indented below it) keeps the spec diffable.
    pad = " " * indent
    lines = []
    for i, field in enumerate(fields):
        flat = {k: v for k, v in field.items() if k != "fields"}
        text = json.dumps(flat, ensure_ascii=False)
        if "fields" in field:
            text = (text[:-1] + ', "fields": [\n' + render_fields(field["fields"], indent + 2) +
                    "\n" + pad + "]}")
        lines.append(pad + text + ("," if i + 1 < len(fields) else ""))
    return "\n".join(lines)


def render(spec):
    parts = []
    for key, value in spec.items():
        if key == "fields":
            parts.append(f'  "fields": [\n{render_fields(value, 4)}\n  ]')
        elif key == "commonStructs":
            structs = []
            for s in value:
                head = json.dumps({"name": s["name"], "versions": s["versions"]})
                structs.append("    " + head[:-1] + ', "fields": [\n' +
                               render_fields(s["fields"], 6) + "\n    ]}")
            parts.append('  "commonStructs": [\n' + ",\n".join(structs) + "\n  ]")
        else:
            parts.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    assert json.loads(text) == spec
    return text


def build(source):
    outputs = {}
    for name in sorted(os.listdir(source)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(source, name), encoding="utf-8") as f:
            schema = json.loads(strip_comments(f.read()))
        outputs[name] = render(transform(schema, name))
    return outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default=DEFAULT_SOURCE)
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed spec instead of writing it")
    args = parser.parse_args()
    outputs = build(args.source)
    existing = {n for n in os.listdir(args.out) if n.endswith(".json")} if os.path.isdir(
        args.out) else set()
    if args.check:
        stale = sorted(n for n, text in outputs.items()
                       if not os.path.exists(os.path.join(args.out, n))
                       or open(os.path.join(args.out, n), encoding="utf-8").read() != text)
        extra = sorted(existing - set(outputs))
        if stale or extra:
            print(f"spec out of date: changed {stale[:10]} extra {extra[:10]}; "
                  "run scripts/protocol_spec.py", file=sys.stderr)
            return 1
        print(f"spec up to date: {len(outputs)} files")
        return 0
    os.makedirs(args.out, exist_ok=True)
    for name in existing - set(outputs):
        os.remove(os.path.join(args.out, name))
    for name, text in outputs.items():
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            f.write(text)
    print(f"wrote {len(outputs)} spec files to {os.path.relpath(args.out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
