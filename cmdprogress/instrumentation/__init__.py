"""Plug cmdprogress into the observability a service already runs.

One small module per integration, imported only when asked for, so that
``import cmdprogress`` never imports a telemetry package:

- :mod:`cmdprogress.instrumentation.otel`: OpenTelemetry spans for polls,
  logins and actions, HTTP spans from OpenTelemetry's aiohttp instrumentation,
  and the client's counters as metrics (``pip install 'cmdprogress[otel]'``).

Without any of them, ``client.stats``, ``client.watch_stats`` and
``client.add_listener`` give the same figures as plain Python objects.
"""

from __future__ import annotations

__all__: list[str] = []
