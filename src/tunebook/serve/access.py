"""Who may read the dashboard: the bind rule, the token, and the Host check.

* Loopback (127.0.0.1, ::1, localhost) is the default and needs no token: only this machine's
  users can connect.
* Any other address serves only with a token (``--token`` or ``$TUNEBOOK_SERVE_TOKEN``), and
  every request without it is refused with 401. The token travels as ``Authorization: Bearer``,
  a cookie, or once as ``?token=`` (answered with the cookie, so links stay clean).
* Requests whose Host header names another site are refused on a loopback server: a web page
  elsewhere cannot read the dashboard through DNS rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass

from tunebook.core.errors import SpecError

TOKEN_ENV = "TUNEBOOK_SERVE_TOKEN"
COOKIE = "tunebook_token"
MIN_TOKEN = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    host: str
    token: str | None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def allows(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(presented.encode(),
                                                             self.token.encode())

    def host_ok(self, host_header: str | None) -> bool:
        """On a loopback server, the Host header must name this machine."""
        if not self.loopback:
            return True
        if not host_header:
            return False
        if host_header.startswith("["):                  # [::1]:8000
            name = host_header[: host_header.find("]") + 1]
        else:                                            # localhost:8000, 127.0.0.1
            name = host_header.split(":", 1)[0]
        return is_loopback(name)


def access_for(host: str, token: str | None) -> Access:
    """The access rule for serving on ``host``; refuses a non-loopback bind without a token."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN:
        raise SpecError("--token", f"a token of at least {MIN_TOKEN} characters",
                        f"{len(token)} characters",
                        "Make one with: python -c 'import secrets; "
                        "print(secrets.token_urlsafe())'")
    if not is_loopback(host) and token is None:
        raise SpecError("--host", "127.0.0.1 (or another loopback address), or a token",
                        host, f"Serving on {host} lets anyone who reaches it read the study; "
                        f"pass --token or set {TOKEN_ENV} (make one with: python -c 'import "
                        f"secrets; print(secrets.token_urlsafe())').")
    return Access(host, token)
