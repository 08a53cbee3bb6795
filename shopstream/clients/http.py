"""What the HTTP clients share: timeouts that bound a dead endpoint, and why a request got no answer."""

from __future__ import annotations

import re

import requests

CONNECT_TIMEOUT_S = 3.05  # a TCP connect that takes longer goes nowhere (also bounds a black hole)


def timeout(read_s: float) -> tuple[float, float]:
    """``requests``' (connect, read) timeout: a quick verdict on an unreachable address, ``read_s``
    for an answer."""
    return (min(CONNECT_TIMEOUT_S, read_s), read_s)


def reason(exc: requests.RequestException) -> str:
    """Why no answer came, in a few words: ``connection refused``, ``name not resolved``, ..."""
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(exc, requests.ReadTimeout):
        return "no answer in time"
    text = str(exc)
    for pattern, words in (
        (r"Connection refused", "connection refused"),
        (
            r"Name or service not known|nodename nor servname|Failed to resolve|getaddrinfo failed",
            "name not resolved",
        ),
        (r"No route to host", "no route to host"),
        (r"Network is unreachable", "network unreachable"),
        (r"Connection reset", "connection reset"),
        (r"SSLError|SSL", "TLS handshake failed"),
    ):
        if re.search(pattern, text):
            return words
    return type(exc).__name__
