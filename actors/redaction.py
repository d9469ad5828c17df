"""Keep secrets out of log events: passwords, tokens, keys and credentials in URLs.

Applied to every event before it is written or shipped (``actors.log_setup``) and to the
fields that programs outside post to ``POST /api/logs``. A key that names a secret has its
value replaced whatever it holds; in every other string, JSON Web Tokens, ``Bearer …``
credentials and the ``user:password@`` part of URLs are replaced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "redact_mapping", "redact_text", "redact_value"]

REDACTED = "[redacted]"

# A whole word of a snake/kebab/camel key: "new_password", "access_token", "Set-Cookie" are
# secrets; "passed", "bypass", "tokenizer", "auth_required" are not.
_SECRET_KEY = re.compile(
    r"(?<![a-z])(?:pass(?:word|wd|phrase)?|secrets?|tokens?|authori[sz]ation|cookies?"
    r"|api[_-]?keys?|jwt|credentials?|private[_-]?key|signing[_-]?key)(?![a-z])",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_MAX_DEPTH = 8


def is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def redact_text(text: str) -> str:
    # Cheap membership tests first: almost no log line holds any of these.
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if "://" in text and "@" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return text


def redact_value(value: Any, _depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if _depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return redact_mapping(value, _depth + 1)
    if isinstance(value, list | tuple):
        return [redact_value(v, _depth + 1) for v in value]
    return value


def redact_mapping(values: Mapping[Any, Any], _depth: int = 0) -> dict[Any, Any]:
    return {
        k: REDACTED if isinstance(k, str) and is_secret_key(k) else redact_value(v, _depth)
        for k, v in values.items()
    }
