"""Structural-schema handling for custom resources, as the real server does on
every write: defaulting, pruning of unknown fields, then validation of types,
enums, required fields, bounds, lengths and patterns.

Not evaluated: `x-kubernetes-validations` (CEL rules), `format`, and
`x-kubernetes-list-type` uniqueness.
"""

import re

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def _jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _show(v):
    import json
    return json.dumps(v) if isinstance(v, str) else (
        "null" if v is None else str(v).lower() if isinstance(v, bool) else
        json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else str(v))


def apply_defaults(schema, value):
    """Fills `default`s into present objects (recursively); mutates value."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for name, sub in props.items():
            if name not in value and isinstance(sub, dict) and "default" in sub:
                import copy
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                apply_defaults(sub, value[name])
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for k, v in value.items():
                if k not in props:
                    apply_defaults(addl, v)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for v in value:
            apply_defaults(schema["items"], v)


def prune(schema, value, path, unknown):
    """Drops fields the schema does not declare; appends their paths to unknown."""
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        for k in list(value.keys()):
            p = "%s.%s" % (path, k) if path else k
            if k in props:
                prune(props[k], value[k], p, unknown)
            elif isinstance(addl, dict):
                prune(addl, value[k], p, unknown)
            elif addl is True:
                continue
            else:
                unknown.append(p)
                del value[k]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            prune(schema["items"], v, "%s[%d]" % (path, i), unknown)


def validate(schema, value, path, errs):
    """Appends (field, reason, message) tuples for every violation."""
    if not isinstance(schema, dict):
        return
    if value is None:
        if not schema.get("nullable"):
            errs.append((path, "FieldValueInvalid",
                         'Invalid value: "null": %s in body must be of type %s: "null"'
                         % (path, schema.get("type", "object"))))
        return
    t = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            errs.append((path, "FieldValueInvalid", "Invalid value: %s: %s in body must "
                         "be of type integer or string" % (_show(value), path)))
            return
    elif t and t in _TYPES and not _TYPES[t](value):
        errs.append((path, "FieldValueTypeInvalid", 'Invalid value: "%s": %s in body must '
                     'be of type %s: "%s"' % (_jtype(value), path, t, _jtype(value))))
        return
    if "enum" in schema and value not in schema["enum"]:
        errs.append((path, "FieldValueNotSupported", "Unsupported value: %s: supported "
                     "values: %s" % (_show(value), ", ".join(_show(e) for e in schema["enum"]))))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            lo = schema["minimum"]
            if value < lo or (schema.get("exclusiveMinimum") is True and value == lo):
                errs.append((path, "FieldValueInvalid", "Invalid value: %s: %s in body should "
                             "be greater than or equal to %s" % (_show(value), path, lo)))
        if "maximum" in schema:
            hi = schema["maximum"]
            if value > hi or (schema.get("exclusiveMaximum") is True and value == hi):
                errs.append((path, "FieldValueInvalid", "Invalid value: %s: %s in body should "
                             "be less than or equal to %s" % (_show(value), path, hi)))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append((path, "FieldValueInvalid", "Invalid value: %s: %s in body should be "
                         "at least %d chars long" % (_show(value), path, schema["minLength"])))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append((path, "FieldValueTooLong", "Too long: may not be more than %d bytes"
                         % schema["maxLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append((path, "FieldValueInvalid", "Invalid value: %s: %s in body should "
                         "match '%s'" % (_show(value), path, schema["pattern"])))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.append((path, "FieldValueInvalid", "Invalid value: %d: %s in body should have "
                         "at least %d items" % (len(value), path, schema["minItems"])))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append((path, "FieldValueTooMany", "Too many: %d: must have at most %d items"
                         % (len(value), schema["maxItems"])))
        if isinstance(schema.get("items"), dict):
            for i, v in enumerate(value):
                validate(schema["items"], v, "%s[%d]" % (path, i), errs)
    if isinstance(value, dict):
        for r in schema.get("required") or []:
            if r not in value:
                errs.append(("%s.%s" % (path, r) if path else r, "FieldValueRequired",
                             "Required value"))
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            errs.append((path, "FieldValueInvalid", "Invalid value: %d: %s in body should have "
                         "at least %d properties" % (len(value), path, schema["minProperties"])))
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        for k, v in value.items():
            p = "%s.%s" % (path, k) if path else k
            if k in props:
                validate(props[k], v, p, errs)
            elif isinstance(addl, dict):
                validate(addl, v, p, errs)
    for sub in schema.get("allOf") or []:
        validate(sub, value, path, errs)
    for key in ("anyOf", "oneOf"):
        subs = schema.get(key)
        if subs:
            ok = 0
            for sub in subs:
                e = []
                validate(sub, value, path, e)
                ok += not e
            if ok == 0 or (key == "oneOf" and ok > 1):
                errs.append((path, "FieldValueInvalid", "Invalid value: %s: %s in body must "
                             "validate %s schema" % (_show(value), path,
                                                     "one and only one" if key == "oneOf"
                                                     else "at least one")))
    if "not" in schema:
        e = []
        validate(schema["not"], value, path, e)
        if not e:
            errs.append((path, "FieldValueInvalid", "%s in body must not validate the "
                         "schema (not)" % path))


def admit(schema, obj, strict):
    """Default, prune and validate obj (a whole CR) in place.

    Returns (errors, unknown_fields). Only spec/status and other top-level
    fields besides apiVersion/kind/metadata are subject to the schema.
    """
    if not schema:
        return [], []
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    top = dict(schema)
    top_props = dict(top.get("properties") or {})
    for k in ("apiVersion", "kind", "metadata"):
        top_props.pop(k, None)
    top["properties"] = top_props
    apply_defaults(top, body)
    unknown = []
    prune(top, body, "", unknown)
    errs = []
    validate(top, body, "", errs)
    for k in list(obj.keys()):
        if k not in ("apiVersion", "kind", "metadata"):
            del obj[k]
    obj.update(body)
    return errs, unknown
