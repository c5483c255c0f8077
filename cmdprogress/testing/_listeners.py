"""The simulator's sockets: bind on the loopback host, TLS with a private CA, stop and resume."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import tempfile

import attrs
from aiohttp import web

__all__ = ["Listeners"]


@attrs.define(eq=False)
class Listeners:
    """The aiohttp runners and sites of one simulator, and its TLS material.

    An outage stops the sites (connections are refused, requests in flight
    are reset) and resumes on the same ports with the same runners.
    """

    host: str
    _runners: list[web.AppRunner] = attrs.field(factory=list)
    _sites: list[web.SockSite] = attrs.field(factory=list)
    _ports: list[int] = attrs.field(factory=list)
    _server_ssl: ssl.SSLContext | None = None
    _tmpdir: str | None = None

    @property
    def running(self) -> bool:
        """True from the first :meth:`listen` until :meth:`close`."""
        return bool(self._runners)

    @property
    def ca_file(self) -> str | None:
        """Path of the private CA's PEM file once :meth:`setup_tls` ran, else ``None``."""
        return None if self._tmpdir is None else os.path.join(self._tmpdir, "ca.pem")

    def setup_tls(self) -> None:
        """Make a private CA and a server certificate for the host (needs trustme)."""
        try:
            import trustme
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "ManagerSimulator(tls=True) needs trustme: pip install 'cmdprogress[testing]'"
            ) from exc
        ca = trustme.CA()
        cert = ca.issue_cert(self.host, "localhost")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self._server_ssl = ctx
        self._tmpdir = tempfile.mkdtemp(prefix="cmdprogress-sim-")
        ca.cert_pem.write_to_path(os.path.join(self._tmpdir, "ca.pem"))

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
        except OSError:
            sock.close()
            raise
        return sock

    async def listen(self, app: web.Application, port: int) -> int:
        """Serve ``app`` on ``port`` (0: a free one); returns the bound port."""
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._runners.append(runner)
        sock = self._bind(port)
        bound = int(sock.getsockname()[1])
        site = web.SockSite(runner, sock, ssl_context=self._server_ssl)
        await site.start()
        self._sites.append(site)
        self._ports.append(bound)
        return bound

    async def stop_sites(self) -> None:
        """Stop listening on every port (the runners stay, for :meth:`resume_sites`)."""
        for site in self._sites:
            await site.stop()

    async def resume_sites(self) -> None:
        """Listen again on the same ports."""
        sites = []
        for runner, port in zip(self._runners, self._ports, strict=True):
            site = web.SockSite(runner, self._bind(port), ssl_context=self._server_ssl)
            await site.start()
            sites.append(site)
        self._sites = sites

    async def close(self) -> None:
        """Stop serving and remove the CA file."""
        runners, self._runners = self._runners, []
        self._sites.clear()
        for runner in runners:
            await runner.cleanup()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
