"""The ``ssl=`` argument of :class:`~cmdprogress.Client`: what it may be, the TLS context it gives.

Verification is on by default; turning it off is logged as a warning, once per
client, because anyone on the path could then read the password and the session.
"""

from __future__ import annotations

import logging
import os
import ssl as ssl_module
from typing import TYPE_CHECKING, TypeAlias

from .exceptions import InvalidArgumentError

if TYPE_CHECKING:
    from yarl import URL

__all__ = ["SSLArg", "TLSSetting"]

logger = logging.getLogger("cmdprogress.client")

SSLArg: TypeAlias = ssl_module.SSLContext | bool | str | os.PathLike[str] | None


class TLSSetting:
    """A checked ``ssl=`` argument; :meth:`context` turns it into what aiohttp takes.

    - ``None`` or ``True``: verify with the system CAs;
    - an ``ssl.SSLContext``: used as given;
    - a path to a CA bundle (PEM): trust that CA (loaded when the client opens);
    - ``False``: no verification (warned about once).

    >>> TLSSetting(None).context("https://10.0.0.5:28443")
    True
    """

    __slots__ = ("_value", "_warned_insecure")

    def __init__(self, value: object) -> None:
        if not (
            value is None or isinstance(value, bool | ssl_module.SSLContext | str | os.PathLike)
        ):
            raise InvalidArgumentError(
                "ssl",
                f"expected None, False, an ssl.SSLContext or a CA file path, "
                f"got {type(value).__name__}",
            )
        if isinstance(value, str) and not value:
            raise InvalidArgumentError("ssl", "an empty CA file path")
        self._value: SSLArg = value
        self._warned_insecure = False

    def context(self, origin: URL | str) -> ssl_module.SSLContext | bool:
        """The ``ssl`` argument for aiohttp; ``origin`` names the Manager in the warning.

        Raises :class:`~cmdprogress.exceptions.InvalidArgumentError` for a CA
        file that cannot be loaded.
        """
        ssl = self._value
        if ssl is None or ssl is True:
            return True
        if ssl is False:
            if not self._warned_insecure:
                self._warned_insecure = True
                logger.warning(
                    "TLS certificate verification is OFF for %s (ssl=False): anyone on the "
                    "path can read the password and the session; pass the Manager's CA instead",
                    origin,
                )
            return False
        if isinstance(ssl, ssl_module.SSLContext):
            return ssl
        path = os.fspath(ssl)
        try:
            return ssl_module.create_default_context(cafile=path)
        except (OSError, ssl_module.SSLError) as e:
            raise InvalidArgumentError(
                "ssl", f"cannot load the CA file {path!r} ({e}); pass a PEM file"
            ) from None
