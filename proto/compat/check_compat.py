#!/usr/bin/env python3
"""Refuses API changes that break sparsescale.v1's wire or JSON compatibility.

Usage: check_compat.py COMMITTED.binpb BUILT.binpb
Both are FileDescriptorSets (protoc --include_imports --descriptor_set_out). Exit 0 when BUILT
keeps everything COMMITTED has; exit 1 with one line per break, each naming the message, field,
enum value or RPC. Refused: a removed message, field, enum, enum value, service or RPC; a field
renumbered, renamed (its JSON name changes), or with another type, label, presence or oneof; an
enum value renamed or renumbered; an RPC with other request/response types or streaming.
Allowed: anything added (fields with new numbers, messages, enum values, RPCs, files, options).
"""

import sys

from google.protobuf import descriptor_pb2


def _index(file_set):
    """{full name: (kind, proto)} of every message, enum and service in the set."""
    index = {}

    def add_messages(prefix, messages):
        for message in messages:
            name = f"{prefix}.{message.name}"
            index[name] = ("message", message)
            add_messages(name, message.nested_type)
            for enum in message.enum_type:
                index[f"{name}.{enum.name}"] = ("enum", enum)

    for file in file_set.file:
        prefix = file.package
        add_messages(prefix, file.message_type)
        for enum in file.enum_type:
            index[f"{prefix}.{enum.name}"] = ("enum", enum)
        for service in file.service:
            index[f"{prefix}.{service.name}"] = ("service", service)
    return index


def _field_shape(message, field):
    """What a field's wire and JSON forms depend on, besides its number and name."""
    in_oneof = field.HasField("oneof_index") and not field.proto3_optional
    oneof = message.oneof_decl[field.oneof_index].name if in_oneof else None
    return {
        "type": descriptor_pb2.FieldDescriptorProto.Type.Name(field.type) +
                (f" {field.type_name}" if field.type_name else ""),
        "label": descriptor_pb2.FieldDescriptorProto.Label.Name(field.label),
        "presence (proto3 optional)": field.proto3_optional,
        "oneof": oneof,
    }


def _json_name(field):
    return field.json_name or field.name


def _check_message(name, old, new, errors):
    new_by_number = {f.number: f for f in new.field}
    new_by_name = {f.name: f for f in new.field}
    for field in old.field:
        where = f"{name}.{field.name} (field {field.number})"
        moved = new_by_name.get(field.name)
        if moved is not None and moved.number != field.number:
            errors.append(f"{where}: renumbered to {moved.number}")
            continue
        now = new_by_number.get(field.number)
        if now is None:
            errors.append(f"{where}: removed (deprecate it instead; its number stays taken)")
            continue
        if now.name != field.name or _json_name(now) != _json_name(field):
            errors.append(f"{where}: renamed to {now.name} (JSON name {_json_name(field)} -> "
                          f"{_json_name(now)})")
        before, after = _field_shape(old, field), _field_shape(new, now)
        for key in before:
            if before[key] != after[key]:
                errors.append(f"{where}: {key} changed from {before[key]} to {after[key]}")


def _check_enum(name, old, new, errors):
    new_by_number = {v.number: v for v in new.value}
    new_by_name = {v.name: v for v in new.value}
    for value in old.value:
        where = f"{name}.{value.name} (= {value.number})"
        moved = new_by_name.get(value.name)
        if moved is not None and moved.number != value.number:
            errors.append(f"{where}: renumbered to {moved.number}")
        elif value.number not in new_by_number:
            errors.append(f"{where}: enum value removed")
        elif new_by_number[value.number].name != value.name:
            errors.append(f"{where}: renamed to {new_by_number[value.number].name} "
                          "(JSON carries enum names)")


def _check_service(name, old, new, errors):
    new_methods = {m.name: m for m in new.method}
    for method in old.method:
        where = f"rpc {name}.{method.name}"
        now = new_methods.get(method.name)
        if now is None:
            errors.append(f"{where}: removed")
            continue
        for key in ("input_type", "output_type", "client_streaming", "server_streaming"):
            if getattr(method, key) != getattr(now, key):
                errors.append(f"{where}: {key} changed from {getattr(method, key)} to "
                              f"{getattr(now, key)}")


_CHECKS = {"message": _check_message, "enum": _check_enum, "service": _check_service}


def breaking_changes(committed, built):
    """Every break of `built` (a FileDescriptorSet) against `committed`, as messages."""
    old, new = _index(committed), _index(built)
    errors = []
    for name, (kind, proto) in sorted(old.items()):
        if name not in new or new[name][0] != kind:
            errors.append(f"{kind} {name}: removed")
            continue
        _CHECKS[kind](name, proto, new[name][1], errors)
    return errors


def _load(path):
    file_set = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        file_set.ParseFromString(f.read())
    return file_set


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    errors = breaking_changes(_load(argv[1]), _load(argv[2]))
    for error in errors:
        print(f"incompatible: {error}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} breaking change(s) against {argv[1]}; restore compatibility, or "
              "if the break is deliberate (a new major version), regenerate it with "
              "proto/compat/update_descriptor_set.sh", file=sys.stderr)
        return 1
    print(f"compatible with {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
