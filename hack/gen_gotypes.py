#!/usr/bin/env python3
"""Generate src/kaito/api/schema/gotypes.json: the Go struct layout behind a Workspace spec.

Upstream's ``workspace.kaito.io/hash`` is what Go's ``encoding/json`` writes for the
spec *as Go structs* (field order, ``omitempty``/``omitzero``, embedded structs inlined),
so :mod:`kaito.api.gojson` needs each struct's JSON fields in declaration order. This
reads them from the Go sources -- upstream's ``api/v1beta1/workspace_types.go``, and
``core/v1/types.go`` / ``meta/v1/types.go`` of the k8s.io/api and k8s.io/apimachinery
versions upstream builds with -- and keeps the types reachable from the spec.

Run (sources from a checkout or ``git show TAG:PATH > FILE``)::

    .venv/bin/python hack/gen_gotypes.py WORKSPACE_TYPES_GO CORE_V1_TYPES_GO META_V1_TYPES_GO \\
        --versions "kaito v0.12.0, k8s.io/api v0.35.0, k8s.io/apimachinery v0.35.0"

Type expressions in the output: ``*T``, ``[]T``, ``map[string]T``, ``string``, ``int``,
``bool``, ``bytes`` (``[]byte``: base64), and the types with their own JSON
methods: ``quantity`` (resource.Quantity), ``intorstring``, ``time`` (metav1.Time),
``raw`` (metav1.FieldsV1); every other name is a struct of the table. Any other Go type
(a float64, say) stops the generator: kaito.api.gojson would have to learn it first.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "kaito" / "api" / "schema" / "gotypes.json"
ROOTS = ("v1beta1.ResourceSpec", "v1beta1.InferenceSpec", "v1beta1.TuningSpec")

# Types outside the parsed files (or with their own MarshalJSON), by Go name.
SPECIAL = {
    "resource.Quantity": "quantity",
    "intstr.IntOrString": "intorstring",
    "metav1.Time": "time",
    "metav1.FieldsV1": "raw",
    "types.UID": "string",
}
BUILTIN = {
    "string": "string",
    "bool": "bool",
    "int": "int",
    "int32": "int",
    "int64": "int",
    "uint32": "int",
}
_STRUCT = re.compile(r"^type (\w+) struct \{\s*$")
_NAMED = re.compile(r"^type (\w+) (\S+)\s*$")
_FIELD = re.compile(r"^(?:(\w+)\s+)?([\w.*\[\]{}]+)\s*(?:`([^`]*)`)?$")
_JSON_TAG = re.compile(r'json:"([^"]*)"')

Field = tuple[str | None, str, str]  # Go name (None: embedded), Go type, json tag


def parse(path: Path, pkg: str) -> tuple[dict[str, list[Field]], dict[str, str]]:
    """Structs (fields in order) and named non-struct types of one Go file."""
    text = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.S)
    structs: dict[str, list[Field]] = {}
    named: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if m := _STRUCT.match(lines[i]):
            fields: list[Field] = []
            i += 1
            while not lines[i].startswith("}"):
                line = lines[i].strip()
                if "`" not in line:
                    line = line.split("//")[0].strip()
                if line and not line.startswith("//"):
                    fm = _FIELD.match(line)
                    if not fm:
                        raise SystemExit(f"{path}: cannot read field of {m[1]}: {line!r}")
                    tag = _JSON_TAG.search(fm[3] or "")
                    fields.append((fm[1], fm[2], tag[1] if tag else ""))
                i += 1
            structs[f"{pkg}.{m[1]}"] = fields
        elif m := _NAMED.match(lines[i]):
            named[f"{pkg}.{m[1]}"] = m[2]
        i += 1
    return structs, named


class Layout:
    def __init__(self, structs: dict[str, list[Field]], named: dict[str, str]) -> None:
        self.structs = structs
        self.named = named
        self.out: dict[str, list[list[str]]] = {}
        self.todo: list[str] = []

    def qualify(self, name: str, pkg: str) -> str:
        return name if "." in name else f"{pkg}.{name}"

    def type_expr(self, go: str, pkg: str) -> str:
        if go.startswith("*"):
            return "*" + self.type_expr(go[1:], pkg)
        if go == "[]byte":
            return "bytes"
        if go.startswith("[]"):
            return "[]" + self.type_expr(go[2:], pkg)
        if m := re.fullmatch(r"map\[([\w.]+)\](.+)", go):
            if self.type_expr(m[1], pkg) != "string":
                raise SystemExit(f"map key {m[1]} is not a string type")
            return "map[string]" + self.type_expr(m[2], pkg)
        if go in BUILTIN:
            return BUILTIN[go]
        full = self.qualify(go, pkg)
        if full in SPECIAL:
            return SPECIAL[full]
        if full in self.named:
            return self.type_expr(self.named[full], full.split(".")[0])
        if full in self.structs:
            if full not in self.out and full not in self.todo:
                self.todo.append(full)
            return full
        raise SystemExit(f"unknown Go type {go} (package {pkg})")

    def fields(self, struct: str) -> list[list[str]]:
        pkg = struct.split(".")[0]
        out: list[list[str]] = []
        for go_name, go_type, tag in self.structs[struct]:
            name, _, opts = tag.partition(",")
            if name == "-" and not opts:
                continue
            if go_name is None and not name:  # embedded struct: its fields, in place
                embedded = self.qualify(go_type.lstrip("*"), pkg)
                if go_type.startswith("*") or embedded not in self.structs:
                    raise SystemExit(f"{struct}: unsupported embedded field {go_type}")
                out.extend(self.fields(embedded))
                continue
            key = name or go_name or go_type
            flags = ",".join(o for o in opts.split(",") if o in ("omitempty", "omitzero"))
            out.append([key, self.type_expr(go_type, pkg), flags])
        keys = [f[0] for f in out]
        if len(keys) != len(set(keys)):
            raise SystemExit(f"{struct}: duplicate JSON keys {keys}")
        return out

    def build(self, roots: tuple[str, ...]) -> dict[str, list[list[str]]]:
        self.todo.extend(roots)
        while self.todo:
            struct = self.todo.pop(0)
            self.out[struct] = self.fields(struct)
        return self.out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workspace_types", type=Path)
    ap.add_argument("core_v1_types", type=Path)
    ap.add_argument("meta_v1_types", type=Path)
    ap.add_argument("--versions", required=True, help="where the sources came from")
    args = ap.parse_args()
    structs: dict[str, list[Field]] = {}
    named: dict[str, str] = {}
    for path, pkg in (
        (args.workspace_types, "v1beta1"),
        (args.core_v1_types, "v1"),
        (args.meta_v1_types, "metav1"),
    ):
        s, n = parse(path, pkg)
        structs.update(s)
        named.update(n)
    table = Layout(structs, named).build(ROOTS)
    lines = [
        "{",
        f'  "_source": {json.dumps(f"generated by hack/gen_gotypes.py from {args.versions}")},',
    ]
    body = [f"  {json.dumps(name)}: {json.dumps(table[name])}" for name in sorted(table)]
    lines.append(",\n".join(body))
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(table)} structs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
