"""Mask secrets in text before it leaves this machine (a model endpoint that is not local, an MCP client).

The policy, tested by tests/test_redaction.py on a planted corpus:

- **always masked** (`SECRET_KINDS`): private-key blocks, JWTs, bearer/basic credentials, cloud and API keys
  (AWS, GCP, GitHub, GitLab, Slack, Stripe, OpenAI/Anthropic, Google OAuth, Azure, SendGrid, npm, PyPI, Hugging
  Face, DigitalOcean), passwords in URLs, `key=value` / `"key": "value"` secrets, payment card numbers (13-19
  digits, an issuer's prefix, Luhn-checked, so ids and epoch milliseconds pass) and IBANs (mod-97 checked);
- **masked on request** (`PII_KINDS`, `redact(text, pii=True)`, the `redact_pii` setting): e-mail addresses and
  phone numbers, which logs often need for debugging and which are not credentials.

Each match becomes `[REDACTED:<kind>]`, so a reader (and the model) still sees that something was there and what
kind of thing it was. Patterns err on the side of masking: a false positive costs a little context, a false
negative leaks a credential. Every pattern runs in linear time on any line (no nested or overlapping repeats,
matches start only where a token starts): log text is attacker-controlled.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["PII_KINDS", "SECRET_KINDS", "Redaction", "is_local_url", "luhn_ok", "redact"]

_SECRET_KEYS = (r"password|passwd|pwd|passphrase|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|"
                r"access[_-]?token|refresh[_-]?token|client[_-]?secret|private[_-]?key|token|credentials?|"
                r"session[_-]?id|cookie|signature")

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
    ("slack_webhook", re.compile(r"\bhooks\.slack\.com/services/[A-Za-z0-9/]{20,}")),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}\b")),
    ("google_oauth", re.compile(r"\bya29\.[A-Za-z0-9_-]{20,}")),
    ("sendgrid_key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}")),
    ("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("pypi_token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{50,}")),
    ("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("digitalocean_token", re.compile(r"\bdo[opr]_v1_[a-f0-9]{64}\b")),
    ("azure_key", re.compile(r"(?i)(?<=AccountKey=)[A-Za-z0-9+/=]{20,}")),
    ("azure_sas", re.compile(r"(?i)(?<=[?&]sig=)[A-Za-z0-9%+/=]{16,}")),
    # scheme://user:password@host -> keep the user, mask the password.
    ("url_password", re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20}://[^\s:/@'\"]+):([^\s@/'\"]+)(?=@)")),
    # password=..., "api_key": "...", secret: ..., token=... (value up to a delimiter). The key starts where a token
    # starts (the look-behind) and its prefix is lazy: a long run of word characters costs one pass, not a
    # pass per start (case is ignored in the key words only: a global (?i) made the scan quadratic). A value that is already a [REDACTED:...] marker, or a ${VARIABLE}, is matched whole (and left alone).
    (
        "secret_pair",
        re.compile(
            rf"""(?x)
            (?<![\w.-])
            (?P<key>["']?[\w.-]*?(?i:{_SECRET_KEYS})["']?)
            (?P<sep>\s*[:=]\s*|\s+(?i:is|was)\s+)
            (?P<value>\[REDACTED:[a-z_]*\]|\$\{{[^}}\s]*\}}|"[^"\n]*"|'[^'\n]*'|[^\s,;&'"}}\])]+)
            """
        ),
    ),
    # Payment card numbers: 13-19 digits, optionally grouped by spaces or dashes; checked in code (issuer prefix,
    # Luhn). Only a digit run's first digit can start one.
    ("card_number", re.compile(r"(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d])")),
    # IBAN: country, check digits, up to 30 alphanumerics, optionally in groups of four; mod-97 checked in code.
    ("iban", re.compile(r"\b[A-Z]{2}\d\d(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")),
    ("aws_secret", re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")),
]

_PII_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # Local part from a token start only (the look-behind), so a long run before an "@" is scanned once.
    ("email", re.compile(r"(?<![\w.+-])[A-Za-z0-9][\w.+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.){1,8}[A-Za-z]{2,24}\b")),
    # International (+CC ...) or grouped national numbers: (555) 123-4567, 555-123-4567, +44 20 7946 0958.
    ("phone", re.compile(r"(?<![\w+.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w.-])")),
]

SECRET_KINDS = tuple(kind for kind, _ in _PATTERNS)
PII_KINDS = tuple(kind for kind, _ in _PII_PATTERNS)

# Values that are plainly not secrets (so `password=***` or `token=null` stay readable).
_HARMLESS = re.compile(r"(?i)^[\"']?(?:\*+|x+|null|none|nil|true|false|\[redacted[^\]]*\]|<[^>]*>|\$\{[^}]*\}|)[\"']?$")

# Issuer prefixes (IIN ranges) of the card networks: a Luhn-valid number that starts otherwise is an id.
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|3(?:0[0-5]|[68])|"
                          r"6(?:011|5|4[4-9]|2)|35(?:2[89]|[3-8]\d))")


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum (every payment card number does)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits) or len(set(digits)) == 1:
        return False
    groups = re.split(r"[ -]", text)
    if len(groups) > 1 and not all(3 <= len(g) <= 6 for g in groups):  # "4111 1111 1111 1111", not a list of ids
        return False
    return luhn_ok(digits)


def _is_iban(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


@dataclass(slots=True)
class Redaction:
    """Redacted text and what was masked."""

    text: str
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """How many secrets were masked."""
        return sum(self.counts.values())


def _replacer(kind: str, counts: Counter[str]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if kind == "secret_pair":
            value = match.group("value")
            if _HARMLESS.match(value):
                return token
            counts[kind] += 1
            quote = value[0] if value[:1] in "\"'" else ""
            return f"{match.group('key')}{match.group('sep')}{quote}[REDACTED:secret]{quote}"
        if kind == "aws_secret" and not (re.search(r"[0-9]", token) and re.search(r"[a-z]", token)
                                         and re.search(r"[A-Z]", token)):
            return token
        if kind == "card_number" and not _is_card(token):
            return token
        if kind == "iban" and not _is_iban(token):
            return token
        if kind == "url_password":
            counts[kind] += 1
            return f"{match.group(1)}:[REDACTED:password]"
        counts[kind] += 1
        return f"[REDACTED:{kind}]"

    return replace


def redact(text: str, *, pii: bool = False) -> Redaction:
    """Mask secrets in `text` (and e-mail addresses and phone numbers when `pii`); see the module's policy."""
    counts: Counter[str] = Counter()
    for kind, pattern in _PATTERNS:
        if kind == "aws_secret":
            # A bare 40-character mixed-case string is only treated as an AWS secret on a line that mentions AWS.
            if re.search(r"(?i)aws|secret", text) is None:
                continue
            lines = text.split("\n")
            for i, line in enumerate(lines):
                if re.search(r"(?i)aws|secret", line):
                    lines[i] = pattern.sub(_replacer(kind, counts), line)
            text = "\n".join(lines)
        else:
            text = pattern.sub(_replacer(kind, counts), text)
    if pii:
        for kind, pattern in _PII_PATTERNS:
            text = pattern.sub(_replacer(kind, counts), text)
    return Redaction(text=text, counts=counts)


def is_local_url(url: str | None) -> bool:
    """True when `url` points at this machine (loopback); None (the embedded engine) is local too."""
    if url is None:
        return True
    host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    return host in {"localhost", "::1", "ip6-localhost"} or host.startswith("127.")
