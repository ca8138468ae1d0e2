"""Mask secrets in text before it goes to a model endpoint that is not on this machine.

Each match becomes `[REDACTED:<kind>]`, so a reader (and the model) still sees that something was there and what
kind of thing it was. Patterns err on the side of masking: a false positive costs a little context, a false
negative leaks a credential.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Order matters: whole blocks and structured tokens first, then generic `key=value` pairs.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.S,
        ),
    ),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")),
    ("bearer_token", re.compile(r"(?i)(?<=\bbearer\s)[A-Za-z0-9._~+/=-]{8,}")),
    ("basic_auth", re.compile(r"(?i)(?<=\bbasic\s)[A-Za-z0-9+/=]{8,}")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b")),
    ("gcp_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}\b")),
    ("google_oauth", re.compile(r"\bya29\.[A-Za-z0-9_-]{20,}")),
    ("azure_key", re.compile(r"(?i)(?<=AccountKey=)[A-Za-z0-9+/=]{20,}")),
    ("azure_sas", re.compile(r"(?i)(?<=[?&]sig=)[A-Za-z0-9%+/=]{16,}")),
    # scheme://user:password@host -> keep the user, mask the password.
    ("url_password", re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20}://[^\s:/@'\"]+):([^\s@/'\"]+)(?=@)")),
    # password=..., "api_key": "...", secret: ..., token=... (value up to a delimiter).
    (
        "secret_pair",
        re.compile(
            r"""(?ix)
            (?P<key>["']?[\w.-]*(?:password|passwd|pwd|passphrase|secret|api[_-]?key|apikey|access[_-]?key|
                  auth[_-]?token|access[_-]?token|refresh[_-]?token|client[_-]?secret|private[_-]?key|token|credentials?)
               ["']?)
            (?P<sep>\s*[:=]\s*|\s+(?:is|was)\s+)
            (?P<value>"[^"\n]*"|'[^'\n]*'|[^\s,;&'"}\])]+)
            """
        ),
    ),
    ("aws_secret", re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")),
]

# Values that are plainly not secrets (so `password=***` or `token=null` stay readable).
_HARMLESS = re.compile(r"(?i)^[\"']?(?:\*+|x+|null|none|nil|true|false|\[redacted[^\]]*\]|<[^>]*>|\$\{[^}]*\}|)[\"']?$")


@dataclass(slots=True)
class Redaction:
    """Redacted text and what was masked."""

    text: str
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """How many secrets were masked."""
        return sum(self.counts.values())


def redact(text: str) -> Redaction:
    """Mask cloud keys, bearer/JWT tokens, URL passwords, `password=` pairs and private-key blocks in `text`."""
    counts: Counter[str] = Counter()

    def sub(kind: str, pattern: re.Pattern[str], body: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if kind == "secret_pair":
                value = match.group("value")
                if _HARMLESS.match(value):
                    return match.group(0)
                counts[kind] += 1
                quote = value[0] if value[:1] in "\"'" else ""
                return f"{match.group('key')}{match.group('sep')}{quote}[REDACTED:secret]{quote}"
            if kind == "aws_secret":
                token = match.group(0)
                if not (re.search(r"[0-9]", token) and re.search(r"[a-z]", token) and re.search(r"[A-Z]", token)):
                    return token
            if kind == "url_password":
                counts[kind] += 1
                return f"{match.group(1)}:[REDACTED:password]"
            counts[kind] += 1
            return f"[REDACTED:{kind}]"

        return pattern.sub(replace, body)

    for kind, pattern in _PATTERNS:
        if kind == "aws_secret":
            # A bare 40-character mixed-case string is only treated as an AWS secret on a line that mentions AWS.
            lines = text.split("\n")
            for i, line in enumerate(lines):
                if re.search(r"(?i)aws|secret", line):
                    lines[i] = sub(kind, pattern, line)
            text = "\n".join(lines)
        else:
            text = sub(kind, pattern, text)
    return Redaction(text=text, counts=counts)


def is_local_url(url: str | None) -> bool:
    """True when `url` points at this machine (loopback); None (the embedded engine) is local too."""
    if url is None:
        return True
    host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    return host in {"localhost", "::1", "ip6-localhost"} or host.startswith("127.")
