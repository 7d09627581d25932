"""Label selectors, field selectors and the simple JSONPath of printer columns."""

import re

from errors import bad_request


# --- label selectors ----------------------------------------------------------

def _split_top_level(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


_SET_RE = re.compile(r"^([A-Za-z0-9_./-]+)\s+(in|notin)\s*\(([^)]*)\)$")
_EQ_RE = re.compile(r"^([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)$")
_CMP_RE = re.compile(r"^([A-Za-z0-9_./-]+)\s*(<|>)\s*(-?\d+)$")
_KEY_RE = re.compile(r"^(!?)\s*([A-Za-z0-9_./-]+)$")


def parse_label_selector(text):
    """Returns a predicate over a labels dict. Raises ApiError(400) on bad syntax."""
    reqs = []
    for term in _split_top_level(text or ""):
        m = _SET_RE.match(term)
        if m:
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(1), m.group(2), values))
            continue
        m = _EQ_RE.match(term)
        if m:
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append((m.group(1), op, m.group(3)))
            continue
        m = _CMP_RE.match(term)
        if m:
            reqs.append((m.group(1), m.group(2), int(m.group(3))))
            continue
        m = _KEY_RE.match(term)
        if m:
            reqs.append((m.group(2), "!" if m.group(1) else "exists", None))
            continue
        raise bad_request("unable to parse requirement: found '%s', expected: "
                          "identifier, in, notin, =, ==, !=, gt, lt" % term)

    def match(labels):
        labels = labels or {}
        for key, op, val in reqs:
            has = key in labels
            cur = labels.get(key)
            if op == "=" and cur != val:
                return False
            if op == "!=" and has and cur == val:
                return False
            if op == "in" and cur not in val:
                return False
            if op == "notin" and has and cur in val:
                return False
            if op == "exists" and not has:
                return False
            if op == "!" and has:
                return False
            if op in ("<", ">"):
                try:
                    n = int(cur)
                except (TypeError, ValueError):
                    return False
                if (op == "<" and not n < val) or (op == ">" and not n > val):
                    return False
        return True

    return match


# --- field selectors ------------------------------------------------------------

def _field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text):
    """Supports `path=value`, `path==value`, `path!=value` terms joined by commas.

    Any dotted object path is accepted (the real server restricts the set per
    kind; metadata.name and metadata.namespace work everywhere).
    """
    reqs = []
    for term in [t.strip() for t in (text or "").split(",") if t.strip()]:
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", term)
        if not m:
            raise bad_request('invalid field selector: "%s"' % term)
        reqs.append((m.group(1), m.group(2) != "!=", m.group(3)))

    def match(obj):
        for path, equal, val in reqs:
            if (_field_value(obj, path) == val) != equal:
                return False
        return True

    return match


# --- JSONPath (printer columns) -------------------------------------------------

_TOKEN_RE = re.compile(
    r"""\.\.?(?P<name>[A-Za-z0-9_$-]+|\*)?"""
    r"""|\[\s*(?P<index>-?\d+|\*)\s*\]"""
    r"""|\[\s*'(?P<quoted>[^']*)'\s*\]"""
    r"""|\[\s*\?\(\s*@(?P<fpath>(?:\.[A-Za-z0-9_$-]+)+)\s*(?P<fop>==|!=)\s*"""
    r"""(?P<fval>"[^"]*"|'[^']*'|[^)\s]+)\s*\)\s*\]""")


def jsonpath(obj, expr):
    """Evaluates a simple JSONPath (`.a.b`, `[0]`, `[*]`, `['k']`,
    `[?(@.type=="Ready")]`) and returns the list of matches."""
    expr = expr.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    if expr.startswith("$"):
        expr = expr[1:]
    pos, results = 0, [obj]
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError("unsupported jsonpath %r at %d" % (expr, pos))
        pos = m.end()
        nxt = []
        if m.group(0).startswith("[?"):
            want = m.group("fval").strip("\"'")
            path = m.group("fpath")[1:].split(".")
            for r in results:
                items = r if isinstance(r, list) else []
                for it in items:
                    v = it
                    for p in path:
                        v = v.get(p) if isinstance(v, dict) else None
                    sv = _scalar_text(v)
                    if (sv == want) == (m.group("fop") == "=="):
                        nxt.append(it)
        elif m.group("index") is not None:
            idx = m.group("index")
            for r in results:
                if isinstance(r, list):
                    if idx == "*":
                        nxt.extend(r)
                    elif -len(r) <= int(idx) < len(r):
                        nxt.append(r[int(idx)])
        elif m.group("quoted") is not None:
            for r in results:
                if isinstance(r, dict) and m.group("quoted") in r:
                    nxt.append(r[m.group("quoted")])
        else:
            name = m.group("name")
            if name is None:
                nxt = results
            elif name == "*":
                for r in results:
                    nxt.extend(r.values() if isinstance(r, dict) else
                               r if isinstance(r, list) else [])
            else:
                for r in results:
                    if isinstance(r, dict) and name in r:
                        nxt.append(r[name])
        results = nxt
    return results


def _scalar_text(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        import json
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def scalar_text(v):
    return _scalar_text(v)
