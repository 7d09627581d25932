"""Kubernetes-style API errors (meta/v1 Status objects)."""

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error the server reports as a meta/v1 Status with an HTTP code."""

    def __init__(self, code, message, reason=None, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def status(self):
        return status_object(self.code, self.reason, self.message, self.details)


def status_object(code, reason, message, details=None):
    st = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        st["details"] = details
    return st


def success_status(details=None):
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        st["details"] = details
    return st


def _details(rtype, name):
    d = {"kind": rtype.plural}
    if rtype.group:
        d["group"] = rtype.group
    if name:
        d["name"] = name
    return d


def not_found(rtype, name):
    return ApiError(404, '%s "%s" not found' % (rtype.group_resource, name),
                    details=_details(rtype, name))


def already_exists(rtype, name):
    return ApiError(409, '%s "%s" already exists' % (rtype.group_resource, name),
                    reason="AlreadyExists", details=_details(rtype, name))


def conflict(rtype, name, why=None):
    why = why or ("the object has been modified; please apply your changes "
                  "to the latest version and try again")
    return ApiError(409, 'Operation cannot be fulfilled on %s "%s": %s'
                    % (rtype.group_resource, name, why),
                    reason="Conflict", details=_details(rtype, name))


def invalid(rtype, name, causes):
    """causes: list of (field, reason, message)."""
    text = "; ".join("%s: %s" % (f, m) if f else m for f, _, m in causes)
    if len(causes) > 1:
        text = "[" + ", ".join("%s: %s" % (f, m) if f else m for f, _, m in causes) + "]"
    details = {"name": name or "", "kind": rtype.kind,
               "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes]}
    if rtype.group:
        details["group"] = rtype.group
    kind = rtype.kind + ("." + rtype.group if rtype.group else "")
    return ApiError(422, '%s "%s" is invalid: %s' % (kind, name or "", text),
                    details=details)


def bad_request(message):
    return ApiError(400, message)
