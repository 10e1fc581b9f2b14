"""Credentials never leave the process: the one rule that hides them in anything shown or stored.

Every message, report, tool answer and log line that may hold a store URL goes through
:func:`redact_url` (a URL) or :func:`redact_text` (free text that may contain URLs, libpq
``key=value`` strings or the value of a password environment variable).

>>> redact_url("postgresql://ann:s3cret@db.lab/tb?sslpassword=x&sslmode=require")
'postgresql://ann:***@db.lab/tb?sslpassword=***&sslmode=require'
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

MASK = "***"

# A query parameter or libpq keyword whose value is a secret (or names where one is kept):
# password, sslpassword, passfile, pwd, secret, token, api_key, sslkey ...
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)
# Environment variables whose values are secrets wherever they show up.
SECRET_ENV = ("PGPASSWORD", "TUNEBOOK_STORE_PASSWORD", "RAY_REDIS_PASSWORD")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
# libpq key=value strings ("host=db password=secret") and the same inside other text.
_KEYVAL = re.compile(r"(?P<key>\b[A-Za-z_][A-Za-z0-9_]*)(?P<eq>\s*=\s*)"
                     r"(?P<val>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;,'\"]+)")


def is_secret_name(name: str) -> bool:
    """True for a parameter name whose value must never be shown (``sslpassword``, ``token``)."""
    return bool(_SECRET_NAME.search(unquote(name)))


def _redact_query(query: str) -> str:
    parts = []
    for item in query.split("&"):
        key, sep, _value = item.partition("=")
        parts.append(f"{key}={MASK}" if sep and is_secret_name(key) else item)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """The URL with every credential replaced by ``***``: the userinfo password and each
    password-like query parameter. Scheme, user, host, port and database stay readable.

    A password with an unencoded ``@`` is covered: the userinfo runs to the last ``@`` before
    the query.
    """
    s = str(url)
    scheme, sep, rest = s.partition("://")
    if not sep:
        return _redact_env(s)
    cut = len(rest)
    for mark in ("?", "#"):
        i = rest.find(mark)
        if i != -1:
            cut = min(cut, i)
    head, tail = rest[:cut], rest[cut:]
    at = head.rfind("@")
    if at != -1:
        user, colon, _pw = head[:at].partition(":")
        head = f"{user}:{MASK}{head[at:]}" if colon else head
    if tail.startswith("?"):
        query, hash_, frag = tail[1:].partition("#")
        tail = "?" + _redact_query(query) + hash_ + frag
    return _redact_env(f"{scheme}://{head}{tail}")


def _redact_env(text: str) -> str:
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 3:  # a one-letter "password" would mask half the text
            text = text.replace(value, MASK)
    return text


def redact_text(text: str) -> str:
    """``text`` with credentials in any URL, libpq ``key=value`` pair or secret environment
    variable's value replaced by ``***``."""
    out = _URL.sub(lambda m: redact_url(m.group(0)), str(text))

    def keyval(m: re.Match[str]) -> str:
        if not is_secret_name(m.group("key")) or m.group("val") == MASK:
            return m.group(0)
        return f"{m.group('key')}{m.group('eq')}{MASK}"

    return _redact_env(_KEYVAL.sub(keyval, out))
