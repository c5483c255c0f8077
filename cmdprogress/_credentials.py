"""The credentials a user hands to :class:`~cmdprogress.Client`, and URL checks.

:class:`CASAuth` and :class:`BasicAuth` check their values when built (a
clear :class:`~cmdprogress.exceptions.InvalidArgumentError`, never showing a
password); :func:`parse_http_url` checks the Manager's and the CAS server's
URLs.  Logging in with them is ``_auth.py``'s work.
"""

from __future__ import annotations

import re
from typing import Final

import attrs
from yarl import URL

from ._wire_errors import safe_url
from .exceptions import InvalidArgumentError

__all__ = ["CAS_PORT", "BasicAuth", "CASAuth", "parse_http_url"]

CAS_PORT: Final = 20009
_USERINFO: Final = re.compile(r"[^\s/?#@]+@")


def _shown(value: str) -> str:
    """``repr`` of a refused URL with any user info masked: it may hold a password."""
    return repr(_USERINFO.sub("***@", value))


def parse_http_url(name: str, value: object) -> URL:
    """Parse an http(s) URL with a host, no credentials, no query; ``InvalidArgumentError``."""
    if isinstance(value, URL):
        url = value
    elif isinstance(value, str):
        try:
            url = URL(value.strip())
        except (ValueError, TypeError) as e:
            raise InvalidArgumentError(name, f"{_shown(value)} is not a URL ({e})") from None
    else:
        raise InvalidArgumentError(name, f"expected a URL string, got {type(value).__name__}")
    try:
        scheme, host, port = url.scheme, url.host, url.port
    except ValueError as e:
        raise InvalidArgumentError(name, f"{_shown(str(url))} is not a valid URL ({e})") from None
    if scheme not in ("http", "https") or not host:
        raise InvalidArgumentError(
            name,
            f"{repr(safe_url(url)) if host else _shown(str(value))} needs an http:// or "
            "https:// scheme and a host, e.g. 'https://10.0.0.5:28443'",
        )
    if port is None:
        raise InvalidArgumentError(name, "has an invalid port")
    if url.user is not None or url.password is not None:
        raise InvalidArgumentError(
            name, "must not contain credentials; pass auth=BasicAuth(...) or CASAuth(...)"
        )
    if url.query_string or url.fragment:
        raise InvalidArgumentError(name, "must not have a query string or fragment")
    return url.with_path(url.path.rstrip("/"))


def _check_credentials(username: object, password: object) -> None:
    if not isinstance(username, str) or not username.strip():
        raise InvalidArgumentError("username", "expected a non-empty string")
    if any(ord(c) < 32 or ord(c) == 127 for c in username):
        raise InvalidArgumentError("username", "must not contain control characters")
    if not isinstance(password, str) or not password:
        # Never show the value: it may be a password in the wrong place.
        raise InvalidArgumentError("password", "expected a non-empty string")


@attrs.frozen
class CASAuth:
    """Log in through the Manager's CAS server (security / Kerberos clusters).

    ``cas_url`` defaults to the Manager's host on port 20009, path ``/cas``
    (``https://10.0.0.5:20009/cas`` for ``https://10.0.0.5:28443``); pass it
    when a gateway puts CAS elsewhere.  The password never appears in a repr,
    a log line or an error message.

    >>> CASAuth("admin", "secret")
    CASAuth(username='admin', cas_url=None)
    """

    username: str
    password: str = attrs.field(repr=False)
    cas_url: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_credentials(self.username, self.password)
        if self.cas_url is not None:
            parse_http_url("cas_url", self.cas_url)

    def _cas_base(self, base_url: URL) -> URL:
        if self.cas_url is None:
            return base_url.with_port(CAS_PORT).with_path("/cas")
        url = parse_http_url("cas_url", self.cas_url)
        return url if url.path not in ("", "/") else url.with_path("/cas")


@attrs.frozen
class BasicAuth:
    """Log in with HTTP Basic authentication (MRS 3.x Managers), then keep the session cookie.

    The credentials are sent only to the Manager's own origin, only on the
    login request, and never follow a redirect to another host.

    >>> BasicAuth("admin", "secret")
    BasicAuth(username='admin')
    """

    username: str
    password: str = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        _check_credentials(self.username, self.password)
        if ":" in self.username:
            raise InvalidArgumentError("username", "must not contain ':' for Basic authentication")
