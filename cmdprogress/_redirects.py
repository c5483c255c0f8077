"""Following redirects by hand, hop by hop, only between origins we trust.

The middle layer of the transport.  aiohttp's own redirect handling is off:
each hop is one :meth:`~cmdprogress._exchange.Exchanger.exchange`, so that
cookies and credentials never reach a foreign host, a ``Location`` that is not
a usable http(s) URL is refused, and a redirect to a login page is recognised
as an expired session instead of being followed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, Literal, overload

import attrs
from yarl import URL

from ._exchange import _origin
from ._wire_errors import _reason, safe_url
from .exceptions import RedirectError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._exchange import Answer, Exchanger

__all__ = ["REDIRECT_STATUS", "Request", "follow_redirects"]

logger = logging.getLogger("cmdprogress.http")

REDIRECT_STATUS: Final = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS: Final = 10


@attrs.frozen
class Request:
    """One request as sent on one hop: what a redirect repeats or changes.

    Built only when an answer is a redirect, so the plain path allocates none.
    ``headers`` (credentials, the session token) go only to the origin of the
    first URL.
    """

    method: str
    url: URL
    command_id: int | None = None
    progress: bool = False
    headers: Mapping[str, str] | None = None
    data: Any = None
    json_body: Any = None

    async def send(self, exchanger: Exchanger) -> Answer:
        """Send this request once (no redirects)."""
        return await exchanger.exchange(
            self.method,
            self.url,
            command_id=self.command_id,
            progress=self.progress,
            headers=self.headers,
            data=self.data,
            json_body=self.json_body,
        )


@overload
async def follow_redirects(
    exchanger: Exchanger,
    request: Request,
    answer: Answer,
    allowed: frozenset[tuple[str, str, int | None]],
    *,
    login: Literal[True],
) -> Answer: ...


@overload
async def follow_redirects(
    exchanger: Exchanger,
    request: Request,
    answer: Answer,
    allowed: frozenset[tuple[str, str, int | None]],
    *,
    login: bool,
) -> Answer | None: ...


async def follow_redirects(
    exchanger: Exchanger,
    request: Request,
    answer: Answer,
    allowed: frozenset[tuple[str, str, int | None]],
    *,
    login: bool,
) -> Answer | None:
    """Follow the redirect ``answer`` to ``request`` (and the next ones), hop by hop.

    Returns the first answer that is not a redirect, or ``None`` when, outside
    a login (``login=False``), a redirect leads to a login page: the session
    expired.  Only the origins in ``allowed`` are followed; a 301/302/303 turns
    the request into a GET without a body, as browsers do.
    """
    first_origin = _origin(request.url)
    seen: set[tuple[str, str]] = set()
    for _ in range(_MAX_HOPS):
        location = answer.headers.get("Location")
        if not location:
            return answer
        method, url = request.method, request.url
        target = _redirect_target(method, url, location)
        if not login and _is_login_location(target):
            return None
        origin = _origin(target)
        if origin not in allowed:
            raise RedirectError(
                f"{method} {safe_url(url)} redirected to another host "
                f"({safe_url(target.origin())}); refused so that no cookie or credential "
                "leaves the Manager",
                url=safe_url(url),
            )
        key = (method, str(target))
        if key in seen:
            raise RedirectError(
                f"{method} {safe_url(url)}: redirect loop at {safe_url(target)}",
                url=safe_url(url),
            )
        seen.add(key)
        if answer.status in (301, 302, 303) and method != "GET":
            request = attrs.evolve(request, method="GET", data=None, json_body=None)
        if origin != first_origin:
            request = attrs.evolve(request, headers=None)
        request = attrs.evolve(request, url=target)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("redirected (%d) to %s", answer.status, safe_url(target))
        answer = await request.send(exchanger)
        if answer.status not in REDIRECT_STATUS:
            return answer
    raise RedirectError(
        f"{request.method} {safe_url(request.url)}: more than {_MAX_HOPS} redirects",
        url=safe_url(request.url),
    )


def _redirect_target(method: str, url: URL, location: str) -> URL:
    """The absolute http(s) URL a ``Location`` header leads to, or :class:`RedirectError`.

    A location that does not parse (a bad port, a broken IPv6 literal), another
    scheme (``file:``, ``mailto:``, ``data:``) or no host is refused: the text
    itself is not repeated (it may hold a ticket), only why it was refused.
    """
    try:
        target = url.join(URL(location))
        scheme = target.scheme
        host = target.host
        target.port  # noqa: B018 - yarl checks the port's range only when it is read
    except (ValueError, TypeError) as e:
        reason = _reason(e)
    else:
        if scheme in ("http", "https") and host:
            return target
        reason = f"a {scheme}: URL" if scheme not in ("http", "https") else "no host"
    raise RedirectError(
        f"{method} {safe_url(url)} redirected to a location that is not a usable http(s) URL "
        f"({reason}); refused, the Manager's answer is broken or hostile",
        url=safe_url(url),
    )


def _is_login_location(url: URL) -> bool:
    path = url.path
    return path.endswith(("/login", "/login.htm", "/login.html")) or "/cas/" in path
