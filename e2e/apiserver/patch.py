"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an
approximation of strategic merge patch.

Strategic merge: a merge patch in which lists of objects with a known merge key
(containers by name, ports by containerPort/port, env by name, ...) merge
element-wise, `$patch: delete|replace` and `$deleteFromPrimitiveList/`,
`$setElementOrder/` and `$retainKeys` directives are honoured, and
`metadata.finalizers` merges as a set. The merge keys are a fixed table rather
than the per-type Go struct tags of the real server.
"""

import copy

from errors import ApiError

# field name -> merge key (first key present in the items wins)
MERGE_KEYS = {
    "containers": ["name"],
    "initContainers": ["name"],
    "ephemeralContainers": ["name"],
    "volumes": ["name"],
    "env": ["name"],
    "volumeMounts": ["mountPath"],
    "volumeDevices": ["devicePath"],
    "ports": ["containerPort", "port"],
    "imagePullSecrets": ["name"],
    "hostAliases": ["ip"],
    "conditions": ["type"],
    "ownerReferences": ["uid"],
    "topologySpreadConstraints": ["topologyKey"],
    "secrets": ["name"],
}
# primitive lists merged as sets
SET_LISTS = {"finalizers"}


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# --- JSON patch -------------------------------------------------------------------

def _unescape(tok):
    return tok.replace("~1", "/").replace("~0", "~")


def _walk(doc, path):
    if path == "":
        return None, None
    if not path.startswith("/"):
        raise ApiError(422, "invalid JSON pointer %r" % path)
    toks = [_unescape(t) for t in path[1:].split("/")]
    cur = doc
    for t in toks[:-1]:
        if isinstance(cur, list):
            cur = cur[int(t)]
        elif isinstance(cur, dict):
            cur = cur[t]
        else:
            raise KeyError(t)
    return cur, toks[-1]


def _get(doc, path):
    parent, tok = _walk(doc, path)
    if parent is None and tok is None:
        return doc
    if isinstance(parent, list):
        return parent[int(tok)]
    return parent[tok]


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise ApiError(400, "json patch must be a list of operations")
    for op in ops:
        try:
            kind, path = op["op"], op["path"]
            if kind in ("move", "copy"):
                value = copy.deepcopy(_get(doc, op["from"]))
                if kind == "move":
                    doc = _remove(doc, op["from"])
                doc = _add(doc, path, value)
            elif kind == "add":
                doc = _add(doc, path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                doc = _remove(doc, path)
            elif kind == "replace":
                _get(doc, path)  # must exist
                doc = _remove(doc, path)
                doc = _add(doc, path, copy.deepcopy(op["value"]))
            elif kind == "test":
                if _get(doc, path) != op.get("value"):
                    raise ApiError(422, "the server rejected our request due to an "
                                   "error in our request: testing value %s failed" % path)
            else:
                raise ApiError(400, "unknown json patch op %r" % kind)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "the server rejected our request due to an error in "
                           "our request: json patch %s operation does not apply: %s"
                           % (op.get("op") if isinstance(op, dict) else op, e))
    return doc


def _add(doc, path, value):
    parent, tok = _walk(doc, path)
    if parent is None and tok is None:
        return value
    if isinstance(parent, list):
        if tok == "-":
            parent.append(value)
        else:
            i = int(tok)
            if i < 0 or i > len(parent):
                raise IndexError(tok)
            parent.insert(i, value)
    elif isinstance(parent, dict):
        parent[tok] = value
    else:
        raise KeyError(tok)
    return doc


def _remove(doc, path):
    parent, tok = _walk(doc, path)
    if isinstance(parent, list):
        del parent[int(tok)]
    else:
        del parent[tok]
    return doc


# --- strategic merge (approximation) -----------------------------------------------

def _merge_key(field, items):
    for key in MERGE_KEYS.get(field, []):
        if all(isinstance(i, dict) and key in i for i in items if i is not None):
            return key
    return None


def strategic_merge(target, patch, field=None):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        p = {k: v for k, v in patch.items() if k != "$patch"}
        return copy.deepcopy(p)
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            if isinstance(out.get(name), list):
                out[name] = [x for x in out[name] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list):
            out[k] = _merge_list(k, out.get(k), v)
        else:
            merged = strategic_merge(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/"):
            name = k.split("/", 1)[1]
            out[name] = _reorder(name, out.get(name), v)
    return out


def _merge_list(field, current, patch_items):
    if field in SET_LISTS:
        out = list(current or [])
        for x in patch_items:
            if x not in out:
                out.append(x)
        return out
    key = _merge_key(field, patch_items)
    if key is None or not isinstance(current, list):
        return [strategic_merge(None, i) if isinstance(i, dict) else copy.deepcopy(i)
                for i in patch_items if not (isinstance(i, dict) and i.get("$patch") == "delete")]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch_items):
        return [copy.deepcopy({k: v for k, v in i.items() if k != "$patch"})
                for i in patch_items if i.get("$patch") != "replace"]
    out = copy.deepcopy(current)
    for item in patch_items:
        idx = next((n for n, c in enumerate(out)
                    if isinstance(c, dict) and c.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(strategic_merge(None, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def _reorder(field, items, order):
    if not isinstance(items, list):
        return items
    key = _merge_key(field, order) if order and isinstance(order[0], dict) else None

    def ident(x):
        return x.get(key) if key and isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    ranked = sorted(items, key=lambda x: wanted.index(ident(x)) if ident(x) in wanted
                    else len(wanted))
    return ranked
