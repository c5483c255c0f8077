"""Transport failures as :mod:`cmdprogress.exceptions` errors, and URLs safe to show.

Every aiohttp or OS error met while sending one request becomes a typed error
whose message says what happened and what to do; no message repeats a query
string, a ticket, a cookie or a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl as ssl_module
from typing import Final

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError
from yarl import URL

from .exceptions import (
    CmdProgressError,
    ConnectError,
    ProtocolError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TLSError,
    WrongSchemeError,
)

__all__ = ["map_error", "safe_url"]


def safe_url(url: URL | str) -> str:
    """Return ``url`` without user info, query string or fragment (for logs and errors).

    >>> safe_url("https://admin:pw@10.0.0.5:28443/web/x?ticket=ST-1#top")
    'https://10.0.0.5:28443/web/x'
    """
    u = URL(url) if isinstance(url, str) else url
    return str(u.with_user(None).with_query(None).with_fragment(None))


def map_error(
    e: Exception, method: str, url: URL, command_id: int | None
) -> CmdProgressError | None:
    """The :mod:`cmdprogress.exceptions` error for an aiohttp or OS error (``None``: not one)."""
    if isinstance(e, aiohttp.ClientSSLError):
        return _tls_error(e, url)
    if isinstance(e, aiohttp.ClientConnectorError):
        err = ConnectError(
            f"cannot connect to {e.host}:{e.port} ({_reason(e)}); check the address "
            "and that the Manager is reachable",
            url=safe_url(url),
        )
        err.request_sent = False
        return err
    if isinstance(e, TimeoutError | aiohttp.ServerTimeoutError):
        return RequestTimeoutError(
            f"{method} {safe_url(url)} got no answer in time ({_reason(e)}); "
            "raise Timeouts(read=..., total=...) if the Manager is just slow",
            url=safe_url(url),
        )
    if isinstance(e, ssl_module.SSLError):
        return _tls_error(e, url)
    if isinstance(e, aiohttp.ClientResponseError):
        # Only the HTTP parser raises it here (no raise_for_status, no automatic
        # redirects): an answer that is not HTTP cmdprogress can read.
        return _protocol_error(e, method, url, command_id)
    if isinstance(e, aiohttp.ClientPayloadError) and isinstance(e.__cause__, ContentEncodingError):
        # A body in an encoding that cannot be decoded (br without Brotli, bad gzip);
        # other payload errors are a body cut short: worth a retry.
        return _protocol_error(e, method, url, command_id)
    if isinstance(e, aiohttp.ClientError | OSError):
        return ConnectError(
            f"{method} {safe_url(url)}: the connection broke ({_reason(e)}); if it "
            "keeps happening, check that the port is the Manager's web port "
            "(28443 by default) and the scheme (http/https) is right",
            url=safe_url(url),
        )
    return None


_PARSER_DETAIL: Final = re.compile(r":\s*b['\"]|:\s*\n")


def _protocol_error(
    e: aiohttp.ClientError, method: str, url: URL, command_id: int | None
) -> ProtocolError:
    """A :class:`ProtocolError` saying what the parser refused, without the bytes it quoted.

    aiohttp's message may quote the offending line (a header, possibly a cookie):
    only the text before the quote is kept.
    """
    cause = e.__cause__
    text = getattr(cause, "message", None) or getattr(e, "message", None) or str(e)
    text = _PARSER_DETAIL.split(str(text), 1)[0]
    what = " ".join(text.split())[:160] or type(e).__name__
    where = safe_url(url)
    return ProtocolError(
        f"{method} {where}: the answer is not HTTP cmdprogress can read ({what}); not "
        "retried: check that the port is the Manager's web port (28443 by default) and the "
        "scheme (http/https) is right",
        url=where,
        command_id=command_id,
        errors=[f"{what} @ http"],
    )


# A URL's query string or fragment inside an aiohttp message (a CAS ticket, ``?ticket=ST-...``).
_QUERY_IN_TEXT: Final = re.compile(r"""(\w+://[^\s'"?#]*)[?#][^\s'"]*""")


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__  # one line, even for garbage
    text = _QUERY_IN_TEXT.sub(r"\1", text)  # aiohttp quotes whole URLs; no ticket leaves
    return text if len(text) <= 200 else text[:197] + "..."


# What an OpenSSL client says when the other end answers something that is not TLS.
_NOT_TLS: Final = re.compile(
    r"wrong.version.number|record.layer.failure|packet.length.too.long|unknown.protocol"
    r"|http.request",
    re.IGNORECASE,
)


def _scheme_error(url: URL, right: str) -> WrongSchemeError:
    """The port speaks the other protocol: say so, and which URL to use."""
    where = f"{url.host}:{url.port}"
    if right == "http":
        said = "plain HTTP, not HTTPS"
        note = " (the scheme is wrong: a CA file or turning verification off would not help)"
    else:
        said, note = "HTTPS (TLS), not plain HTTP", ""
    return WrongSchemeError(
        f"{where} answers {said}: use {right}://{where} in the URL{note}",
        url=safe_url(url),
        scheme=right,
    )


async def _speaks_tls(url: URL) -> bool:
    """Whether ``url``'s port completes a TLS handshake (it broke a plain HTTP request).

    Only asked after a failure; nothing is sent over the handshake, so it is not
    verified.
    """
    context = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl_module.CERT_NONE
    try:
        async with asyncio.timeout(5.0):
            _, writer = await asyncio.open_connection(url.host, url.port, ssl=context)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _tls_error(e: BaseException, url: URL) -> TLSError:
    where = f"{url.host}:{url.port}"
    if url.scheme == "https" and _NOT_TLS.search(_reason(e)):
        return _scheme_error(url, "http")
    return TLSError(
        f"TLS with {where} failed ({_reason(e)}). If the Manager uses a private CA, pass it: "
        "ssl=ssl.create_default_context(cafile='manager-ca.pem') (or ssl='manager-ca.pem'); "
        "ssl=False turns verification off (not recommended)",
        url=safe_url(url),
    )


def _too_large(url: URL, command_id: int | None, cap: int, seen: str) -> ResponseTooLargeError:
    where = safe_url(url)
    return ResponseTooLargeError(
        f"the answer of {where} is too large ({seen}, max_body_size={cap}); refused unread. "
        "Raise max_body_size if the Manager really sends such bodies",
        url=where,
        command_id=command_id,
        errors=[f"body larger than {cap} bytes @ $"],
    )
