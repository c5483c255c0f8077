"""The requests of start / stop / save: their checked arguments, URLs and bodies, and the
verdict on the Manager's answer (a command id, or :class:`ActionRejectedError`).

Sending them is the client's work (``Client._send_action``, which an
instrumentation may wrap).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ._ids import MAX_ID
from ._models import CommandState
from ._wire_errors import safe_url
from .exceptions import ActionRejectedError, InvalidArgumentError

if TYPE_CHECKING:
    from ._convert import ActionResult
    from ._stats import ClientStats

__all__ = [
    "accepted_command_id",
    "configurations_body",
    "service_action",
    "validate_cluster_id",
    "validate_service",
]

_SERVICE_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def validate_cluster_id(value: object) -> int:
    """A cluster id: a non-negative ``int`` (not a ``bool``) up to 2**63 - 1.

    >>> validate_cluster_id(1)
    1
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise InvalidArgumentError(
            "cluster_id", f"expected a non-negative int such as 1, got {value!r:.60}"
        )
    return int(value)


def validate_service(value: object) -> str:
    """A service name as the Manager spells it: letters, digits, ``_`` and ``-``.

    It becomes a segment of the URL path, so nothing else gets through.

    >>> validate_service("HDFS")
    'HDFS'
    """
    if not isinstance(value, str) or _SERVICE_NAME.fullmatch(value) is None:
        raise InvalidArgumentError(
            "service",
            f"{value!r:.60} is not a service name; use the Manager's name such as 'HDFS' "
            "(letters, digits, '_' and '-')",
        )
    return value


def service_action(
    prefix: str, service: object, cluster_id: object, verb: str
) -> tuple[str, dict[str, Any]]:
    """The URL and body of starting or stopping (``verb``) a service; ``prefix`` ends in ``/``.

    >>> service_action("https://m/web/v1/maintain/cluster/", "HDFS", 1, "start")[0]
    'https://m/web/v1/maintain/cluster/1/service/HDFS/start'
    """
    name = validate_service(service)
    cluster = validate_cluster_id(cluster_id)
    url = f"{prefix}{cluster}/service/{name}/{verb}"
    return url, {"user_password": None, "only_self": True}


def configurations_body(configurations_summary: object) -> dict[str, Any]:
    """The body of save_configurations, checked to be JSON the Manager accepts.

    >>> configurations_body({"services": []})
    {'configurations_summary': {'services': []}}
    """
    if not isinstance(configurations_summary, Mapping):
        raise InvalidArgumentError(
            "configurations_summary",
            f"expected a mapping (a JSON object), got {type(configurations_summary).__name__}",
        )
    body = {"configurations_summary": dict(configurations_summary)}
    try:
        # allow_nan=False: NaN and the infinities are not JSON (the Manager would refuse).
        json.dumps(body, allow_nan=False)
    except RecursionError:
        raise InvalidArgumentError(
            "configurations_summary",
            "is nested too deeply to be sent as JSON; pass the Manager's configuration "
            "object, not a self-referencing or generated structure",
        ) from None
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(
            "configurations_summary", f"is not JSON serialisable ({e})"
        ) from None
    return body


def accepted_command_id(result: ActionResult, url: str, stats: ClientStats) -> int:
    """The command id of an accepted action; a refusal counts as an error and raises
    :class:`ActionRejectedError` (there is no command to poll)."""
    if result.state is CommandState.FAILED or result.id < 0:
        stats.errors += 1
        detail = result.error_description or "no description"
        raise ActionRejectedError(
            f"the Manager refused POST {safe_url(url)} (state {result.raw_state or '?'}, "
            f"error_code {result.error_code}: {detail}); there is no command to poll",
            url=safe_url(url),
            error_code=result.error_code,
            error_description=result.error_description,
        )
    return result.id
