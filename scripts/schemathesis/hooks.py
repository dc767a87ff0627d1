"""Schemathesis hooks for Vigilo's API check.

OpenAPI cannot state rules that tie two parameters together. Vigilo has
nine, each documented on the parameters themselves (a status report's
`pipeline` must equal the path's) (and the run's own API
key is kept from being revoked):

- `from` must not be after `to` (listings), or must be before `to` (windows,
  where `to` defaults to now and `from` to a span before `to`);
- a series may span at most 10,000 buckets;
- a silence ends after it starts and in the future, set by `ends_at` or by
  `duration`, not both;
- an archive replay's `to` is after its `from`, and so is an evidence
  export's;
- an ingest request names its logsource by query parameters or by the
  `X-Vigilo-Logsource` header, not both;
- the metrics series' `field` must be one of the server's configured
  `metrics.fields`, which a static document can only call a string.

A generated request that is valid for every parameter alone but breaks one of
these rules is not a valid request, so in positive mode this hook adjusts it
(swapping or dropping bounds, widening the bucket) before it is sent. Negative
cases are sent exactly as generated.
"""

from datetime import datetime, timedelta, timezone

import os
import re
from collections.abc import MutableMapping

import schemathesis

MAX_BUCKETS = 10_000
BUCKET_SECS = {"minute": 60, "hour": 3600, "day": 86400}
# Operations whose range has defaults: path -> default span.
WINDOWS = {
    "/api/v1/stats/summary": timedelta(days=30),
    "/api/v1/dashboard/overview": timedelta(hours=24),
    "/api/v1/dashboard/timeline": timedelta(hours=24),
    "/api/v1/dashboard/services": timedelta(hours=24),
    "/api/v1/metrics/series": timedelta(hours=24),
}
LISTINGS = {"/api/v1/events", "/api/v1/findings", "/api/v1/findings/groups"}
# Series and the bucket they use when the request names none.
DEFAULT_BUCKET = {
    "/api/v1/stats/summary": "day",
    "/api/v1/dashboard/timeline": "hour",
    "/api/v1/metrics/series": "hour",
}
# `field` of the metrics series must be one of the server's `metrics.fields`
# (the defaults, for the server the check starts); OpenAPI says string.
# The documented form of `X-Vigilo-Logsource` (the server's OpenAPI pattern).
_V = "[A-Za-z0-9_.-]{1,64}"
LOGSOURCE_HEADER = re.compile(
    f"product={_V}(,category={_V})?(,service={_V})?|category={_V}(,service={_V})?|service={_V}"
)

METRIC_FIELDS = ["cpu", "latency_ms", "amount", "value"]


def parse_time(value):
    """The instant a `from`/`to` value stands for, or None if unsure."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and text.replace(".", "", 1).isdigit():
        millis = number if number >= 10_000_000_000 else number * 1000
        try:
            return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


# The run's own admin key (its id): revoking it would end the run, so a
# DELETE of that id goes to an id that does not exist instead.
KEY_ID = os.environ.get("VIGILO_ST_KEY_ID", "1")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path == "/api/v1/api-keys/{id}" and isinstance(case.path_parameters, dict):
        if str(case.path_parameters.get("id")) == KEY_ID:
            case.path_parameters["id"] = 987654321
    # An ingest request's logsource comes from its query parameters or the
    # `X-Vigilo-Logsource` header, not both.
    # The coverage phase has sent header values outside the documented
    # pattern as valid ones: those are dropped too.
    if case.operation.path == "/api/v1/events" and case.method.upper() == "POST":
        named = isinstance(case.query, dict) and any(
            k in case.query for k in ("product", "category", "service")
        )
        meta = getattr(case, "meta", None)
        positive = meta is not None and meta.generation.mode.is_positive
        for headers in (case.headers, kwargs.get("headers")):
            if isinstance(headers, MutableMapping):
                for name in list(headers):
                    if name.lower() == "x-vigilo-logsource" and (
                        named
                        or (positive and not LOGSOURCE_HEADER.fullmatch(str(headers[name])))
                    ):
                        headers.pop(name)
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return
    path = case.operation.path
    # A status report's `pipeline`, when present, must name the path's
    # pipeline.
    if path == "/api/v1/pipelines/{name}/events" and isinstance(case.body, dict):
        if "pipeline" in case.body and isinstance(case.path_parameters, dict):
            case.body["pipeline"] = case.path_parameters.get("name")
        return
    # A silence ends after it starts, in the future, by `ends_at` or by
    # `duration` (one of them).
    if path == "/api/v1/alerts/silences" and case.method.upper() == "POST" and isinstance(case.body, dict):
        body = case.body
        start = parse_time(body.get("starts_at"))
        end = parse_time(body.get("ends_at"))
        if "ends_at" in body and "duration" in body:
            body.pop("duration")
        if "ends_at" in body:
            floor = max(start or datetime.now(timezone.utc), datetime.now(timezone.utc))
            if end is None or end <= floor:
                body["ends_at"] = (floor + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        elif "duration" not in body:
            body["duration"] = "1h"
        if "duration" in body:
            if start is not None and start < datetime.now(timezone.utc):
                body.pop("starts_at", None)
            digits = "".join(c for c in str(body["duration"]) if c.isdigit())
            if not digits or int(digits) == 0 or int(digits) > 10_000 or str(body["duration"]).endswith("ms"):
                body["duration"] = "1h"
        return
    # A replay's range: `to` after `from`.
    if path == "/api/v1/archive/replay" and isinstance(case.body, dict):
        start, end = parse_time(case.body.get("from")), parse_time(case.body.get("to"))
        if start is not None and end is not None and end <= start:
            case.body["to"] = (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        return
    # An evidence export's period: `to` after `from`.
    # (An omitted `to` is now, so a `from` in the future needs one too.)
    if path == "/api/v1/compliance/export" and isinstance(case.query, dict):
        start = parse_time(case.query.get("from"))
        end = parse_time(case.query.get("to")) if "to" in case.query else datetime.now(timezone.utc)
        if start is not None and end is not None and end <= start:
            try:
                case.query["to"] = (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
            except OverflowError:
                case.query["from"] = "1970-01-01T00:00:00Z"
                case.query["to"] = "2000-01-01T00:00:00Z"
        return
    query = case.query
    # A bulk change's `filter` takes the findings list's parameters, with
    # the same rule between `from` and `to`.
    if path == "/api/v1/findings/bulk" and isinstance(case.body, dict):
        flt = case.body.get("filter")
        if isinstance(flt, dict):
            start, end = parse_time(flt.get("from")), parse_time(flt.get("to"))
            if start is not None and end is not None and start > end:
                flt["from"], flt["to"] = flt["to"], flt["from"]
        return
    if path == "/api/v1/metrics/series" and isinstance(query, dict):
        if query.get("field") not in METRIC_FIELDS:
            query["field"] = METRIC_FIELDS[len(str(query.get("field", ""))) % len(METRIC_FIELDS)]
    if not isinstance(query, dict) or path not in WINDOWS and path not in LISTINGS:
        return
    start, end = parse_time(query.get("from")), parse_time(query.get("to"))
    if ("from" in query and start is None) or ("to" in query and end is None):
        return
    if path in LISTINGS:
        if start is not None and end is not None and start > end:
            query["from"], query["to"] = query["to"], query["from"]
        return
    span = WINDOWS[path]
    eff_end = end or datetime.now(timezone.utc)
    eff_start = start or eff_end - span
    if eff_start >= eff_end:
        if start is not None and end is not None and start != end:
            query["from"], query["to"] = query["to"], query["from"]
            eff_start, eff_end = end, start
        else:
            query.pop("from", None)
            eff_start = eff_end - span
    bucket = query.get("bucket", DEFAULT_BUCKET.get(path))
    if bucket in BUCKET_SECS:
        seconds = (eff_end - eff_start).total_seconds()
        if seconds / BUCKET_SECS[bucket] > MAX_BUCKETS:
            query["bucket"] = "day"
            if seconds / BUCKET_SECS["day"] > MAX_BUCKETS:
                query.pop("from", None)
                query.pop("to", None)
