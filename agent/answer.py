"""The deterministic answer path: what an on-call engineer asks, answered from the incident engine and the logs.

`classify` reads the QUESTION only (never log text) and names what is asked — what happened, the root cause, the
onset, what happened on a host/service around a time, whether something is related, the lines around something,
which host/service came first, what changed before, whether it is still happening, how many/how often — and which
hosts, services, files, lines and times of these logs it names (a name or time that is not in the logs is answered
"not in these logs", with what is there). `answer_question` then composes sentences from the incident engine's
triage (`agent.facts`) and the read-only tools, each claim followed by the `[file:line]` it stands on, and hedged
by the engine's confidence. No model is involved; an answer takes milliseconds to a second or two.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from agent.citations import EvidenceItem, EvidenceStore
from agent.facts import IncidentView, LogVocabulary, Step, TriageView, clock, epoch, iso, triage_view, vocabulary
from agent.prompts import defang
from detectors.eventtable import LEVELS
from detectors.readers import context_many
from tools import Workspace
from tools.base import clip

KINDS: tuple[str, ...] = (
    "what_happened", "root_cause", "onset", "around", "related", "context", "first", "changed", "ongoing", "count",
    "search", "not_in_logs",
)
AROUND_S = 5 * 60  # "around 03:10" means within five minutes either side
WARN = LEVELS.index("WARN")

# Intent patterns over the lowercased question (typos corrected, shorthands spelled out), tried in this order (the
# first that matches wins).
_INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("context", re.compile(r"\b(show|print|display|give|see|list|paste|dump)\b.{0,40}\b(lines?|context|log|logs|entries)\b"
                           r"|\b(lines?|context)\s+(around|near|before|after|of|surrounding|at)\b|\bcontext\b"
                           r"|\bsurrounding lines\b")),
    ("first", re.compile(r"\b(which|what)\b.{0,30}\b(first|earliest)\b|\bwhich\b.{0,30}\b(started|start|began|begin)\b"
                         r"|\b(first|earliest)\s+(host|service|machine|node|server|component|system|box)s?\b"
                         r"|\bwhere did (it|this|the \w+) (start|begin)\b|\bwho\b.{0,20}\bfirst\b"
                         r"|\b(host|service|machine|node|server|component)s? (went|broke|failed|died) first\b")),
    ("changed", re.compile(r"\bchang(e|ed|es)\b|\bdeploy(ed|ment|ments|s)?\b|\brollout\b|\brolled out\b"
                           r"|\bconfig(uration)? (change|reload|push)|\bupgrade[ds]?\b|\bwhat (was )?(done|modified)\b"
                           r"|\brelease[ds]?\b|\bpushed\b")),
    ("ongoing", re.compile(r"\bstill\b|\bongoing\b|\b(is|was|has) (it|this|that|the \w+) (over|resolved|fixed|recovered|stopped)\b"
                           r"|\bresolved\b|\brecover(ed|y)?\b|\bover now\b|\bcontinu(e|es|ing)\b"
                           r"|\b(did|has|have|is) (it|this|that|they|the \w+|errors?) stop(ped)?\b(?! \w+ing\b)"
                           r"|\bback (up|to normal)\b|\bcurrently\b|\bright now\b")),
    ("count", re.compile(r"\bhow (many|often|much|frequent(ly)?)\b|\bcount\b|\bnumber of\b|\brate of\b"
                         r"|\bper (minute|hour|second)\b|\bin total\b")),
    ("onset", re.compile(r"\bwhen\b|\bonset\b|\bwhat time\b|\bsince when\b|\bstart(ed)? at\b|\bhow long\b"
                         r"|\bat what point\b")),
    ("related", re.compile(r"\brelat(ed|e|ion)\b|\brelevant\b|\binvolved\b|\bconnected\b|\blinked\b|\bpart of\b"
                           r"|\bred herring\b|\bcoinciden|\b(caused|triggered) by\b|\bsame (incident|problem|issue)\b"
                           r"|\bto do with\b|\bmatter\b|\bresponsible\b|\bcontribut"
                           r"|\bunrelated\b|\bnoise\b|\bnoisy\b|\bdistractions?\b|\bignorable\b"
                           r"|\b(safe to|(can|should|may) (i|we)( safely)?) ignore\b")),
    ("root_cause", re.compile(r"\broot[- ]?cause\b|\bwhy\b|\bcaus(e|ed|es|ing)\b|\bculprit\b|\btrigger(ed)?\b"
                              r"|\breason\b|\borigin\b|\bto blame\b")),
    ("what_happened", re.compile(r"\bwhat (happened|happens|went wrong|is wrong|was wrong|is going on|was going on|broke)\b"
                                 r"|\bsummar|\boverview\b|\bincident\b|\bexplain\b|\bstatus\b|\bwhat'?s (up|wrong|going on)\b"
                                 r"|\btell me about\b|\banything (wrong|odd|unusual|weird|strange)\b")),
    ("search", re.compile(r"\b(find|search|grep|look for|any)\b")),
)
# Shorthands and frequent misspellings, spelled out before the patterns are tried (only the copy the patterns read:
# names are matched on the question as written).
_ALIASES = {
    "wat": "what", "wht": "what", "wut": "what", "whta": "what", "waht": "what", "whats": "what's",
    "rca": "root cause", "tldr": "summary", "tl;dr": "summary", "u": "you", "r": "are", "y": "why", "pls": "please",
    "plz": "please", "sth": "something", "smth": "something", "b4": "before", "prev": "previous", "cfg": "config",
    "conf": "config", "deplyo": "deploy", "happend": "happened", "hapened": "happened", "happned": "happened",
    "broked": "broke", "borke": "broke", "cuase": "cause", "casue": "cause", "caues": "cause",
}
# Ordinary words one edit away from a keyword, never corrected.
_PLAIN = frozenset("slow stall shot show hose lost fast cart chart wait went sent rare tail".split())
# Words the intent patterns use: a misspelling one edit away (two for long words) reads as the word.
_KEYWORDS = frozenset("""
happened happening happen wrong broke broken going cause caused causes causing root reason culprit trigger triggered
origin blame when since started start began begin beginning onset time long related relevant involved connected linked herring
coincidence matter responsible contributed still ongoing over resolved recovered recover continue continuing stopped
stop currently first earliest which where host service machine server component system changed change changes
deploy deployed deployment deployments rollout released release upgrade upgraded config configuration modified show
print display lines line context surrounding around near before after many often much frequently count number rate
total summary summarize overview incident explain status anything unusual weird strange search find
""".split())
_STOP = frozenset("""
a an the and or but of on in at to for from by with about around near before after during between into onto over
under is are was were be been being do does did done has have had having it its this that these those there here
what which who whom whose when where why how show print display give see list me us you i we they them my our
your please can could would should will shall may might must any some all each every no not lines line log logs
context entries entry first earliest last latest happen happened happening happens start started starting began
begin onset time related relate connected linked part same incident issue problem root cause caused causes why
reason still ongoing over now resolved recover recovered many much often count number rate per minute hour second
host hosts service services machine node server file files around near tell explain summary summarize overview
again then than just only also very really get got going went go look find search grep whether if so up down out
other another thing things something anything ok okay red herring matter do to see did
weird odd strange unusual wrong broke broken break breaking fail failed fails failing failure failures error errors
outage outages problem problems trouble alert alerts stuff involved relevant responsible blame culprit doing going
since long ago right just shortly immediately earlier later seeing seen still currently today yet please hey hi
happend hapened idea tell know think guess going went whats what's wat wht lines summary stop stopped
logged logging occur occurred occurring appear appears appeared showed shown total were there been
selected anomaly anomalies filter events entries records
""".split())
_WHERE = re.compile(r"(?<![\w/.-])((?:[\w.-]*/)*[\w.-]*[A-Za-z][\w.-]*):(\d+)(?![\d:])")
_IDS = re.compile(r"(?<![\w.-])([AIE]\d+)(?![\w-])")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MON = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?" \
       r"|nov(?:ember)?|dec(?:ember)?)\.?"
# A clock time, with the date as logs write it before it: "2016-06-30 20:53", "Jun 30 20:53" (syslog), "30 Jun 2016
# 20:53", "June 30th, at 8:53 pm".
_CLOCK = re.compile(r"(?:(?P<date>\d{4}-\d{2}-\d{2})[T ]|(?<![\w])(?P<mdate>" + _MON + r"\s+\d{1,2}(?:st|nd|rd|th)?"
                    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MON + r")(?:,?\s+(?P<year>\d{4}))?,?\s+(?:at\s+)?)?"
                    r"(?<![\d:])(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?"
                    r"(?:\.\d+)?(?![\d])(?:\s*(?P<ampm>[ap])\.?m\b\.?)?\s*(?:z\b|utc\b)?"
                    r"|(?<![\w:.])(?P<h12>\d{1,2})\s*(?P<ampm12>[ap])\.?m\b\.?", re.I)
# "10 minutes before the outage", "right before the incident", "after it started": a span relative to the onset.
_RELATIVE = re.compile(
    r"\b(?:(?P<n>\d+|an?|one|two|three|five|ten|fifteen|twenty|thirty|few|a few|couple of|a couple of)\s*"
    r"(?P<unit>s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)\s+|(?P<near>right|just|shortly|immediately)\s+)?"
    r"(?P<side>before|after|prior to|ahead of|leading up to|into)\s+(?:the\s+|it\s+|this\s+)?"
    r"(?P<what>outage|incident|onset|start|failures?|errors?|problems?|issue|crash|alert|trouble|it started|it began"
    r"|it broke|things broke)\b", re.I)
_ORDERS = re.compile(r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|above|previous)\b.*$"
                     r"|\b(call|run|invoke|execute|use)\s+(the\s+)?[a-z]+_[a-z_]+\b.*$|\b(you are|system:|assistant:).*$",
                     re.I)
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "five": 5, "ten": 10, "fifteen": 15, "twenty": 20,
            "thirty": 30, "few": 3, "a few": 3, "couple of": 2, "a couple of": 2}
_YESNO = re.compile(r"^(is|are|was|were|could|can|did|does|do|might|may|would|has|have)\b")
_HOSTISH = re.compile(r"(?<![\w./-])([a-z][a-z0-9]*(?:[-_][a-z0-9]+)*[-_]?\d+[a-z0-9]*)(?![\w/-])", re.I)
_FILEISH = re.compile(r"(?<![\w/.-])([\w./-]+\.(?:log|txt|out|err|jsonl?|csv|gz))(?![\w:])", re.I)
_QUOTE = re.compile(r"[\"“`]([^\"”`]{2,80})[\"”`]|(?<!\w)'([^']{2,80})'(?!\w)")
_REF = re.compile(r"\[?((?:[\w.-]*/)*[\w.-]*[A-Za-z][\w.-]*):(\d+)\]?(?![\d:])")  # file:line in the engine's words
_HOST_CUE = re.compile(r"\b(on|from|host|server|node|machine|at|by)\s*$", re.I)


@dataclass(slots=True)
class Question:
    """What a question asks, as far as these logs can tell."""

    text: str
    kind: str
    hosts: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # audited sources named
    wheres: list[str] = field(default_factory=list)  # file:line named (resolved to audited sources)
    ids: list[str] = field(default_factory=list)  # evidence ids named (A1, I2, E3)
    times: list[float] = field(default_factory=list)  # epoch seconds named
    subject: list[str] = field(default_factory=list)  # content words or a quoted phrase to look for
    unknown: list[str] = field(default_factory=list)  # names or times that are not in these logs
    last: bool = False  # "the last X" rather than the first
    asks_service: bool = False  # "which service" rather than which host
    relative: tuple[float, float] | None = None  # a span in seconds from the onset ("10 minutes before the outage")
    span: tuple[float, float] | None = None  # an open span named: "since 06:00" (to the logs' end), "before 06:00"
    status: list[int] = field(default_factory=list)  # HTTP statuses named ("how many 503s": [503]; "5xx": 500..599)
    errors: bool = False  # the question is about errors/failures in general ("how many errors on db-01")


def _word(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", text) is not None


def _month_day(text: str) -> tuple[int, int] | None:
    """(month, day) of "Jun 30", "30th of June", "Sept. 3"."""
    low = text.lower()
    month = next((i + 1 for i, name in enumerate(_MONTHS) if re.search(rf"\b{name}", low)), None)
    day = re.search(r"\d{1,2}", low)
    return (month, int(day.group(0))) if month and day else None


def _resolve_clock(date: str | None, h: int, m: int, s: int, vocab: LogVocabulary, *,
                   month_day: tuple[int, int] | None = None, year: int | None = None) -> float | None:
    """Epoch seconds of a clock time named in a question: on its date if given (a month and day without a year take
    the logs' year that puts it inside their span, as year-less log lines do), else on the logs' day that makes it
    fall inside (or just around) the logs' span. None when it does not."""
    if h > 23 or m > 59 or s > 59:
        return None
    if date:
        try:
            day = datetime.fromisoformat(date).replace(tzinfo=UTC)
        except ValueError:
            return None
        return day.timestamp() + h * 3600 + m * 60 + s
    if month_day is not None:
        years = [year] if year else sorted({datetime.fromtimestamp(t, tz=UTC).year
                                            for t in (vocab.first_ts, vocab.last_ts) if t is not None}) or \
            [datetime.now(tz=UTC).year]
        stamps = []
        for y in years:
            try:
                stamps.append(datetime(y, *month_day, h, m, s, tzinfo=UTC).timestamp())
            except ValueError:  # "Feb 30"
                continue
        if not stamps:
            return None
        inside = [t for t in stamps if vocab.first_ts is not None and vocab.last_ts is not None
                  and vocab.first_ts - 86_400 <= t <= vocab.last_ts + 86_400]
        return (inside or stamps)[0]
    if vocab.first_ts is None or vocab.last_ts is None:
        return None
    slack = 15 * 60
    day = datetime.fromtimestamp(vocab.first_ts, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    while day <= vocab.last_ts + slack:
        t = day + h * 3600 + m * 60 + s
        if vocab.first_ts - slack <= t <= vocab.last_ts + slack:
            return t
        day += 86_400
    return None


def _edits(a: str, b: str, bound: int) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count one), or bound + 1 once it is over `bound`."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        if min(row) > bound:
            return bound + 1
        prev2, prev = prev, row
    return prev[-1]


def _spelled(word: str) -> str:
    """A question word as the intent patterns know it: a shorthand spelled out, a misspelled keyword corrected."""
    if word in _ALIASES:
        return _ALIASES[word]
    if len(word) < 4 or word in _KEYWORDS or word in _STOP or word in _PLAIN or not word.isalpha():
        return word
    bound = 1 if len(word) < 7 else 2
    best = min(_KEYWORDS, key=lambda k: (_edits(word, k, bound), k))
    if _edits(word, best, bound) > bound or best[0] != word[0] or (word.startswith(best) and len(word) - len(best) >= 2):
        return word  # not one slip away, or another word built on it ("printer" is not "print", "deployd" not "deploy")
    return best


def normalized(question: str, names: Sequence[str] = ()) -> str:
    """The question lowercased, one line, with shorthands spelled out and misspelled keywords corrected; words that
    are names in these logs (hosts, services, files) are left as written."""
    keep = {n.lower() for n in names}
    low = " ".join(question.split())[:500].lower()
    # A name is a name: "deploy-agent" or "cause-db-1" must not read as an intent word, so names become "_name_".
    for name in sorted(keep, key=len, reverse=True):
        if len(name) >= 2:
            low = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-]|\.\w)", "_name_", low)
    return re.sub(r"tl;dr|[a-z][a-z']*", lambda m: m.group(0) if m.group(0) in keep else _spelled(m.group(0)), low)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def classify(question: str, vocab: LogVocabulary) -> Question:
    """What `question` asks about these logs. Reads only the question and the logs' names (never log text)."""
    text = " ".join(question.split())[:500]
    low = text.lower()
    names = [*vocab.hosts, *vocab.services, *vocab.files, *(h.split(".")[0] for h in vocab.hosts)]
    said = normalized(text, names)  # what the intent patterns read: shorthands spelled out, typos corrected
    q = Question(text=text, kind="what_happened")
    asked = False  # whether an intent pattern matched (else "what happened" is only the default)
    for kind, pattern in _INTENTS:
        if pattern.search(said):
            q.kind, asked = kind, True
            break
    q.last = re.search(r"\b(last|latest|final|most recent)\b", said) is not None
    q.asks_service = re.search(r"\b(service|component|program|process|daemon|app)s?\b", said) is not None
    q.errors = re.search(r"\b(errors?|fail(ed|ures?|ing|s)?|exceptions?|crash(es|ed)?|problems?)\b", said) is not None
    consumed: list[tuple[int, int]] = []

    # file:line references (to an audited file), then times, then names.
    for m in _WHERE.finditer(text):
        path, line = m.group(1), int(m.group(2))
        name = path.rsplit("/", 1)[-1]
        found = [s for s in vocab.sources if s == path or s.rsplit("/", 1)[-1] == name]
        if found:
            q.wheres.append(f"{found[0]}:{line}")
        elif re.search(r"\.[A-Za-z0-9]+$", path):
            q.unknown.append(f"file {path}")
        else:
            continue
        consumed.append(m.span())
    for m in _CLOCK.finditer(text):
        if any(a <= m.start() < b for a, b in consumed):
            continue
        hour = int(m.group("h") or m.group("h12"))
        ampm = (m.group("ampm") or m.group("ampm12") or "").lower()
        if ampm and 1 <= hour <= 12:
            hour = hour % 12 + (12 if ampm == "p" else 0)
        t = _resolve_clock(m.group("date"), hour, int(m.group("m") or 0), int(m.group("s") or 0), vocab,
                           month_day=_month_day(m.group("mdate")) if m.group("mdate") else None,
                           year=int(m.group("year")) if m.group("year") else None)
        consumed.append(m.span())
        if t is None:
            q.unknown.append(f"time {m.group(0).strip()}" if vocab.first_ts is not None
                             else f"time {m.group(0).strip()} (these logs carry no timestamps)")
        elif vocab.first_ts is not None and vocab.last_ts is not None and not (
                vocab.first_ts - 15 * 60 <= t <= vocab.last_ts + 15 * 60):
            q.unknown.append(f"time {m.group(0).strip()}")
        else:
            cue = re.search(r"\b(since|after|from|starting|before|until|till|up to|by)\s*(about\s+|around\s+)?$",
                            text[: m.start()].lower())
            if cue and len(_CLOCK.findall(text)) == 1 and vocab.first_ts is not None and vocab.last_ts is not None:
                # "since 06:00" runs to the end of the logs, "before 06:00" from their start.
                after = cue.group(1) in ("since", "after", "from", "starting")
                q.span = (t, vocab.last_ts) if after else (vocab.first_ts, t)
            q.times.append(t)
    for m in _IDS.finditer(text):
        q.ids.append(m.group(1))
        consumed.append(m.span())
    for host in sorted(vocab.hosts, key=len, reverse=True):
        short = host.split(".")[0]  # "db-01" names "db-01.prod.example"
        if len(host) >= 2 and (_word(host, low) or (short != host and len(short) >= 3 and _word(short, low))):
            q.hosts.append(host)
    for service in sorted(vocab.services, key=len, reverse=True):
        if len(service) >= 3 and _word(service, low) and service not in q.hosts:
            q.services.append(service)
    if not q.hosts:
        # A host's role word ("the backup box", "the db") names it when exactly one host is called that:
        # "backup1.lon2", "db-01" and "sql-01" are "backup", "db" and "sql".
        roles: dict[str, list[str]] = {}
        for host in vocab.hosts:
            role = re.sub(r"[-_]?\d+[a-z]?$", "", host.split(".")[0].lower())
            if len(role) >= 2 and role != host.split(".")[0].lower():
                roles.setdefault(role, []).append(host)
        services = {sv.lower() for sv in vocab.services}
        for word in re.findall(r"[a-z][a-z0-9]+", low):
            hosts = roles.get(word, [])
            if len(hosts) == 1 and word not in services and word not in _STOP and hosts[0] not in q.hosts:
                q.hosts.append(hosts[0])
    for source, name in zip(vocab.sources, vocab.files):
        if _word(name, low) and source not in q.files:
            q.files.append(source)
    known = {n.lower() for n in [*vocab.hosts, *vocab.services, *vocab.files, *(h.split(".")[0] for h in vocab.hosts)]}
    for m in _FILEISH.finditer(text):
        if any(a <= m.start() < b for a, b in consumed):
            continue
        if m.group(1).lower().rsplit("/", 1)[-1] not in known:
            q.unknown.append(f"file {m.group(1)}")
        consumed.append(m.span())
    for m in _HOSTISH.finditer(text):
        token = m.group(1)
        if any(a <= m.start() < b for a, b in consumed) or token.lower() in known or _IDS.fullmatch(token):
            continue
        hyphenated = re.search(r"[-_]\d", token) is not None
        cued = _HOST_CUE.search(text[: m.start()]) is not None
        if hyphenated or cued:
            q.unknown.append(f"host {token}")
            consumed.append(m.span())

    # A span relative to the onset ("10 minutes before the outage", "right after it started").
    rel = _RELATIVE.search(text)
    if rel is not None and not any(a <= rel.start() < b for a, b in consumed):
        n = rel.group("n")
        unit = (rel.group("unit") or "m").lower()
        size = (float(n) if n and n.isdigit() else float(_NUMBERS.get((n or "").lower(), 0))) * (
            1 if unit.startswith("s") else 3600 if unit.startswith("h") else 60)
        size = size or 10 * 60  # "right before": the ten minutes before
        side = rel.group("side").lower()
        q.relative = (0.0, size) if side in ("after", "into") else (-size, 0.0)
        consumed.append(rel.span())
    # HTTP statuses named: "503s", "500 errors", "5xx".
    for m in re.finditer(r"(?<![\w:./-])([1-5])(\d\d|xx)(?:s|'s)?(?![\w:./-])", low):
        if any(a <= m.start() < b for a, b in consumed):
            continue
        code = m.group(1) + m.group(2)
        q.status += list(range(int(code[0]) * 100, int(code[0]) * 100 + 100)) if code.endswith("xx") else [int(code)]
        consumed.append(m.span())

    # What to look for: a quoted phrase, else the content words left.
    quoted = [(m.group(1) or m.group(2) or "").strip() for m in _QUOTE.finditer(text)]
    quoted = [w for w in quoted if w]
    if not quoted:  # words written in capitals read as log words ("are the JS ERROR lines related")
        rest = text
        for a, b in sorted(consumed, reverse=True):
            rest = rest[:a] + " " + rest[b:]
        caps = [m.group(0) for m in re.finditer(r"\b[A-Z][A-Z0-9_]+(?:[ -][A-Z][A-Z0-9_]+)*\b", rest)]
        quoted = [c for c in caps if c.lower() not in _ALIASES and c.lower() not in names
                  and c.lower() not in {"i", "ok", "utc", "pm", "am", "http", "api", "db"} and len(c) >= 3][:2]
    if quoted:
        q.subject = quoted[:3]
    else:
        rest = text
        for a, b in sorted(consumed, reverse=True):
            rest = rest[:a] + " " + rest[b:]
        rest = _ORDERS.sub(" ", rest)  # words addressed to the assistant ("ignore previous instructions") are no subject
        named = {n.lower() for n in [*q.hosts, *q.services]}
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9_.-]{2,40}", rest)]
        q.subject = [w for w in dict.fromkeys(w.strip(".-_").lower() for w in words)
                     if w and w not in _STOP and _spelled(w) not in _STOP and w not in _ALIASES
                     and w not in named and not any(w in n for n in named)][:4]
    if not asked and q.wheres:
        q.kind = "context"  # "show me app.log:12", "syslog:1134?": a line named, nothing else asked, is a line to show
    placed = bool(q.hosts or q.services or q.times or q.relative)
    if q.kind == "root_cause" and _YESNO.match(said) and (q.hosts or q.services or q.files or quoted or q.subject):
        q.kind = "related"  # "could the cups errors be the cause?" asks whether they are part of it
    if q.kind in ("what_happened", "search") and placed and not (q.kind == "search" and q.subject and not q.relative):
        q.kind = "around"
    if q.unknown:
        q.kind = "not_in_logs" if not (q.hosts or q.services or q.times or q.wheres or q.files) or q.kind in (
            "around", "related", "context") else q.kind
    return q


# ------------------------------------------------------------------------------------------------- the answer


@dataclass(slots=True)
class Composed:
    """A deterministic answer."""

    text: str
    kind: str
    confidence: str = "high"  # how sure the facts behind it are: high | medium | low
    cited: list[str] = field(default_factory=list)  # file:line cited, in order
    steps: list[dict[str, Any]] = field(default_factory=list)  # the tool calls made for it (by the system)
    facts: list[str] = field(default_factory=list)  # the sentences, one fact each (for a model to rephrase)


class _Ctx:
    """Everything one answer uses: the workspace, its triage and vocabulary, the store it adds lines to."""

    def __init__(self, ws: Workspace, store: EvidenceStore) -> None:
        self.ws = ws
        self.store = store
        self.view: TriageView = triage_view(ws)
        self.vocab = vocabulary(ws)
        self.table = ws.result.events
        self.steps: list[dict[str, Any]] = []
        self.cited: list[str] = []
        self._short = _short_names(self.vocab.sources)
        self._grepped: dict[tuple[str, ...], np.ndarray] = {}
        for incident in self.view.incidents:
            self.store.add(EvidenceItem(incident.id, "incident", f"{incident.id}: {incident.title}",
                                        time=incident.onset, host=(incident.hosts or [None])[0]))
            for s in [*incident.chain, *incident.candidates, *incident.changed_before]:
                self.note(s)
        for s in self.view.unrelated:
            self.note(s)
        self._refs()

    def _refs(self) -> None:
        """The engine's own words (reasons, impact) may name other lines as file:line. Within a sentence about
        another line they are not its evidence, so they read as "line N of FILE" (not a citation)."""
        owners: list[Any] = []
        for inc in self.view.incidents:
            owners += [inc, *inc.chain, *inc.candidates, *inc.changed_before]
        owners += self.view.unrelated

        def plain(m: re.Match[str]) -> str:
            return f"line {m.group(2)} of {m.group(1).rsplit('/', 1)[-1]}"

        for owner in owners:
            for name in ("reason", "confidence_reason", "impact"):
                value = getattr(owner, name, None)
                if value:
                    setattr(owner, name, _REF.sub(plain, value))

    def note(self, s: Step) -> None:
        if s.where:
            self.store.add_line(s.where, s.text, host=s.host, time=s.time)

    def cite(self, where: str | None) -> str:
        """` [file:line]` (the file's short name when unambiguous), or "" when there is no line."""
        if not where:
            return ""
        if where not in self.cited:
            self.cited.append(where)
        path, _, line = where.rpartition(":")
        return f" [{self._short.get(path, path)}:{line}]"

    # -- the event table

    def index_of(self, where: str) -> int | None:
        path, _, line = where.rpartition(":")
        if path not in self.table.sources or not line.isdigit():
            return None
        sidx = self.table.sources.index(path)
        hits = np.nonzero((self.table.source == sidx) & (self.table.line == int(line)))[0]
        return int(hits[0]) if len(hits) else None

    def event_step(self, i: int, text: str | None = None) -> Step:
        t = self.table
        ts = float(t.ts[i])
        host = t.host_name(i)
        service = t.services[int(t.service[i])] if len(t.services) and int(t.service[i]) < len(t.services) else None
        return Step(text or "", t.where(i), iso(ts), host or None, service or None, key=f"T{int(t.template[i])}")

    def texts(self, indices: Sequence[int]) -> dict[int, str]:
        """The logged text of some events, read back from their files (one pass per file)."""
        t = self.table
        by_source: dict[int, list[int]] = {}
        for i in indices:
            by_source.setdefault(int(t.source[i]), []).append(int(i))
        out: dict[int, str] = {}
        for sidx, idx in by_source.items():
            lines = {int(t.line[i]): i for i in idx}
            got = context_many(t.sources[sidx], list(lines), 0, 0)
            for n, i in lines.items():
                rows = got.get(n) or []
                out[i] = clip(rows[0][1], 240) if rows else self.ws.result.templates.template(int(t.template[i]))
        return out

    def steps_of(self, indices: Sequence[int]) -> list[Step]:
        texts = self.texts(indices)
        out = [self.event_step(int(i), texts.get(int(i), "")) for i in indices]
        for s in out:
            self.note(s)
        return out

    def mask(self, q: Question, *, span: tuple[float, float] | None = None) -> np.ndarray:
        t = self.table
        mask = np.ones(len(t), dtype=bool)
        if q.hosts:
            codes = [t.hosts.index(h) for h in q.hosts if h in t.hosts]
            mask &= np.isin(t.host, codes)
        if q.services:
            codes = [t.services.index(s) for s in q.services if s in t.services]
            mask &= np.isin(t.service, codes)
        if q.files:
            codes = [t.sources.index(f) for f in q.files if f in t.sources]
            mask &= np.isin(t.source, codes)
        if span is not None:
            with np.errstate(invalid="ignore"):
                mask &= (t.ts >= span[0]) & (t.ts <= span[1])
        return mask

    def subject_templates(self, words: Sequence[str]) -> list[int]:
        """Template ids whose text contains the subject (a phrase, or every content word), best first."""
        if not words:
            return []
        store = self.ws.result.templates
        ids = [int(x) for x in np.unique(self.table.template)]
        texts = {tid: store.template(tid).lower() for tid in ids}
        if len(words) == 1 or any(" " in w for w in words):
            phrases = [w.lower() for w in words]
            hits = [tid for tid in ids if any(p in texts[tid] for p in phrases)]
            if hits:
                return hits
            if any(" " in w for w in words):
                return []
        stems = [_stem(w.lower()) for w in words]
        found = [s for s in stems if any(s in texts[tid] for tid in ids)]
        if len(found) < len(stems):  # a word no template holds is a value (a path, an id): look in the lines
            return []
        scored = [(sum(s in texts[tid] for s in stems), tid) for tid in ids]
        best = max((n for n, _ in scored), default=0)
        if best == 0:
            return []
        need = len(stems) if best == len(stems) else best
        return [tid for n, tid in scored if n >= need]

    def metric_rows(self) -> np.ndarray:
        """Events read from metric CSV files (their rows are numbers, not log messages)."""
        t = self.table
        codes = [i for i, src in enumerate(t.sources) if src.lower().endswith((".csv", ".csv.gz"))]
        return np.isin(t.source, codes)

    def subject_mask(self, words: Sequence[str]) -> np.ndarray:
        """Events about the subject: their template holds it, else (a value the templates mask: a path, an id, a
        client name) their line does, read back from the files."""
        t = self.table
        tids = self.subject_templates(words)
        if tids:
            return np.isin(t.template, tids) & ~self.metric_rows()
        key = tuple(w.lower() for w in words)
        cached = self._grepped.get(key)
        if cached is None:
            phrases = [w.lower() for w in words] if any(" " in w for w in words) or len(words) == 1 else []
            cached = self._grep(phrases, any_of=True) if phrases else self._grep([_stem(w.lower()) for w in words])
            self._grepped[key] = cached = cached & ~self.metric_rows()
        return cached

    def _grep(self, needles: Sequence[str], *, any_of: bool = False) -> np.ndarray:
        """Events whose lines contain every needle (or any, with any_of), case-insensitive: one pass per file."""
        from detectors.readers import _READ_ERRORS, _SPOOLS, STDIN, _FileSource, _Lines, is_remote  # gzip, stdin too

        t = self.table
        out = np.zeros(len(t), dtype=bool)
        if not needles or not len(t):
            return out
        for sidx, source in enumerate(t.sources):
            rows = np.nonzero(t.source == sidx)[0]
            if not len(rows):
                continue
            order = rows[np.argsort(t.line[rows], kind="stable")]
            starts = t.line[order]
            path = _SPOOLS.get(source) if source == STDIN or is_remote(source) else _SPOOLS.get(source, source)
            if path is None:
                continue
            try:
                src = _FileSource(path)
            except (*_READ_ERRORS, ValueError):
                continue
            hits: list[int] = []
            try:
                reader = _Lines(src, 1_000_000)
                reader.read_head()
                n = 0
                for block in reader.blocks():
                    for text in block:
                        n += 1
                        low = text.lower()
                        if (any if any_of else all)(w in low for w in needles):
                            hits.append(n)
            except _READ_ERRORS:
                pass
            finally:
                src.close()
            if hits:
                pos = np.searchsorted(starts, np.asarray(hits), side="right") - 1
                out[order[pos[pos >= 0]]] = True
        return out

    def tool(self, name: str, args: dict[str, Any]) -> Any:
        """Run a read-only tool as the system (validated like every call), recording the step."""
        from tools import TOOLS_BY_NAME, ToolInputError

        tool = TOOLS_BY_NAME[name]
        step: dict[str, Any] = {"tool": name, "args": args, "ok": False, "executed": False, "error": None, "by": "system"}
        self.steps.append(step)
        valid = tool.validate(args)
        step["executed"] = True
        try:
            out = tool.run(self.ws, valid)
        except ToolInputError as error:
            step["error"] = str(error)
            return None
        step["ok"] = True
        return out


def _short_names(sources: Sequence[str]) -> dict[str, str]:
    names = Counter(s.rsplit("/", 1)[-1] for s in sources)
    return {s: (s.rsplit("/", 1)[-1] if names[s.rsplit("/", 1)[-1]] == 1 else s) for s in sources}


def _lead_s(inc: IncidentView, c: Any) -> float | None:
    """Seconds from a change to the incident's onset (negative: the change came after it), None when untimed."""
    onset = epoch(inc.onset)
    return onset - c.ts if c.ts is not None and onset is not None else None


def _hm(value: Any) -> str:
    ts = epoch(value)
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S") if ts is not None else "an unknown time"


def _between(span: tuple[float, float], vocab: LogVocabulary) -> str:
    """"between 20:48:00 and 20:58:00", with the date when the logs cover more than one day (a clock time alone
    does not say which of their days is meant)."""
    if vocab.first_ts is not None and vocab.last_ts is not None and (
            datetime.fromtimestamp(vocab.first_ts, tz=UTC).date() != datetime.fromtimestamp(vocab.last_ts, tz=UTC).date()):
        a, b = (datetime.fromtimestamp(t, tz=UTC) for t in span)
        return f"between {a:%Y-%m-%d %H:%M:%S} and {b:%H:%M:%S}" if a.date() == b.date() else \
            f"between {a:%Y-%m-%d %H:%M:%S} and {b:%Y-%m-%d %H:%M:%S}"
    return f"between {_hm(span[0])} and {_hm(span[1])}"


def _q(text: str, limit: int = 140) -> str:
    """Log text quoted for an answer: one line, control characters and prompt-like markup made inert, clipped,
    in “…” (which the citation check leaves alone)."""
    return "“" + defang(clip(text.replace("“", '"').replace("”", '"'), limit + 40), limit) + "”"


def _title(inc: IncidentView, limit: int = 120) -> str:
    """An incident's title, shortened without cutting inside its quoted log words when it can."""
    title = inc.title
    if len(title) <= limit:
        return title
    close = title.find("”")
    if 0 < close <= limit + 60:
        return title[: close + 1]
    return clip(title, limit)


def _on(s: Step) -> str:
    parts = []
    if s.host:
        parts.append(f"on {s.host}")
    if s.service and s.service != s.host:
        parts.append(f"({s.service})")
    return " ".join(parts)


def _at(s: Step) -> str:
    return f"at {_hm(s.time)}" if s.time else ""


def _describe(s: Step, ctx: _Ctx, limit: int = 140) -> str:
    bits = [_q(s.text, limit)] + [b for b in (_on(s), _at(s)) if b]
    return " ".join(bits) + ctx.cite(s.where)


def _lead(confidence: str, reason: str | None) -> tuple[str, str]:
    """(adjective for "the ... root cause", sentence suffix) by confidence."""
    if confidence == "high":
        return "", ""
    if confidence == "medium":
        return "likely ", ""
    return "possible ", f" (low confidence{': ' + reason if reason else ''})"


def _pick_incident(ctx: _Ctx, q: Question) -> IncidentView | None:
    incidents = ctx.view.incidents
    if not incidents:
        return None
    for ident in q.ids:
        for inc in incidents:
            if inc.id == ident:
                return inc

    def score(inc: IncidentView) -> float:
        s = 0.0
        s += 2 * sum(h in inc.hosts for h in q.hosts)
        s += 2 * sum(any(st.service == sv for st in inc.chain) for sv in q.services)
        words = [_stem(w.lower()) for w in q.subject]
        s += sum(any(w in st.text.lower() for st in inc.chain) for w in words)
        onset, end = epoch(inc.onset), epoch(inc.end) or epoch(inc.onset)
        for t in q.times:
            if onset is not None and end is not None and onset - 15 * 60 <= t <= end + 15 * 60:
                s += 2
        return s

    best = max(incidents, key=score)
    return best if score(best) > 0 else incidents[0]


def _cause(inc: IncidentView) -> Step | None:
    """The incident's top root-cause candidate (the engine's rank), else its first cause step."""
    if inc.candidates and inc.candidates[0].where:
        return inc.candidates[0]
    return inc.first("cause") or (inc.chain[0] if inc.chain else None)


def _error_lines(ctx: _Ctx) -> str:
    """" 3 lines at ERROR or worse: the first …, the last …." when there are any: with no incident they are still
    what an on-call engineer reads first (a failed CI job's last lines), so an answer never hides them."""
    t = ctx.table
    idx = np.nonzero(t.level >= LEVELS.index("ERROR"))[0]
    if not len(idx):
        return ""
    ts = t.ts[idx]
    idx = idx[np.lexsort((idx, np.where(np.isfinite(ts), ts, np.inf)))]
    first, last = ctx.steps_of([int(idx[0]), int(idx[-1])])
    text = f" Still, {len(idx)} line{'s' if len(idx) > 1 else ''} at ERROR or worse: "
    if len(idx) == 1:
        return text + f"{_describe(first, ctx)}."
    return text + f"the first {_describe(first, ctx)}, the last {_describe(last, ctx)}."


def _nothing(ctx: _Ctx) -> Composed:
    anomalies = ctx.ws.result.report.anomalies
    errors = _error_lines(ctx)
    if anomalies:
        a = anomalies[0]
        step = Step(a.text or a.template or "", a.where, a.time, a.host)
        ctx.note(step)
        text = (f"No incident was found in these logs ({ctx.vocab.describe()}). The strongest anomaly is "
                f"{_describe(step, ctx)}, score {a.score:.3g} against a threshold of {a.threshold:.3g}.{errors}")
        return Composed(text, "what_happened", "low")
    text = f"No incident and no anomaly above the detector's threshold in these logs ({ctx.vocab.describe()})."
    return Composed(text + errors, "what_happened", "low" if errors else "high")


def _what_happened(ctx: _Ctx, q: Question) -> Composed:
    inc = _pick_incident(ctx, q)
    if inc is None:
        return _nothing(ctx)
    adj, low = _lead(inc.confidence, inc.confidence_reason)
    cause = _cause(inc)
    head = f"{inc.id}, from {clock(inc.onset)}"
    quiet = inc.user_facing is False and inc.confidence != "high"
    ran = inc.impact.startswith("the run failed")  # the log of a CI job / build that ended in failure
    if ran:
        # No request failed, and none was to: the run itself failed, and its verdict is what its owner saw.
        head = f"{inc.id}, from {clock(inc.onset)}, is a run that ended in failure; its first failure is"
        quiet = False
    elif quiet:
        # No request failed or slowed down and the engine is not sure: a change worth a look, not an outage.
        head = (f"{inc.id}, from {clock(inc.onset)}, is no outage that shows in these logs (no failing or slow "
                f"requests): the strongest change the incident engine found ({inc.confidence} confidence). It begins")
    if cause is not None and ran:
        facts = [f"{head} {_describe(cause, ctx)}{low}."]
    elif cause is not None and quiet:
        facts = [f"{head} with {_describe(cause, ctx)}{low}."]
    elif cause is not None:
        facts = [f"{head}: the {adj}root cause is {_describe(cause, ctx)}{low}."]
    else:
        facts = [f"{head}: {_title(inc, 200)}."]
    props = [s for s in inc.chain if s.role in ("propagation", "cause") and cause is not None and s.where != cause.where][:2]
    if props:
        facts.append("It spread: " + "; then ".join(_describe(s, ctx, 100) for s in props) + ".")
    symptom = next((s for s in reversed(inc.chain) if s.role == "symptom"), None)
    if symptom is not None and symptom is not cause:
        facts.append(f"{'Its last symptom' if quiet else 'The verdict' if ran else 'What users saw'}: "
                     f"{_describe(symptom, ctx)}.")
    if inc.impact:
        facts.append(f"Impact: {clip(inc.impact, 200)}.")
    others = [i for i in ctx.view.incidents if i is not inc][:2]
    for other in others:
        first = other.chain[0] if other.chain else None
        facts.append(f"Also {other.id}: {_title(other)} at {clock(other.onset)}" + (ctx.cite(first.where) if first else "") + ".")
    for u in ctx.view.unrelated[:2]:
        facts.append(f"Judged unrelated: {_describe(u, ctx, 100)}" + (f", {u.reason}" if u.reason else "") + ".")
    facts += [f"Note: {n}." for n in ctx.view.notes[:2]]
    return Composed(" ".join(facts), "what_happened", inc.confidence, facts=facts)


def _root_cause(ctx: _Ctx, q: Question) -> Composed:
    inc = _pick_incident(ctx, q)
    if inc is None:
        return _nothing(ctx)
    adj, low = _lead(inc.confidence, inc.confidence_reason)
    candidates = inc.candidates or ([inc.first("cause")] if inc.first("cause") else inc.chain[:1])
    facts = []
    if candidates:
        top = candidates[0]
        facts.append(f"The {adj}root cause of {inc.id} is {_describe(top, ctx)}{low}"
                     + (f": {top.reason}" if top.reason else "") + ".")
    others = candidates[1:3]
    if others:
        facts.append("Other candidates: " + "; ".join(_describe(c, ctx, 100) + (f" ({c.reason})" if c.reason else "")
                                                      for c in others) + ".")
    symptom = next((s for s in reversed(inc.chain) if s.role == "symptom"), None)
    if symptom is not None and (not candidates or symptom.where != candidates[0].where):
        facts.append(f"It led to {_describe(symptom, ctx, 100)}.")
    if inc.changed_before:
        c = inc.changed_before[0]
        late = (_lead_s(inc, c) or 0.0) < 0
        facts.append(f"{'Just after' if late else 'Just before'} the onset: {_describe(c, ctx, 100)}.")
    return Composed(" ".join(facts), "root_cause", inc.confidence, facts=facts)


def _first_of(ctx: _Ctx, q: Question, *, last: bool = False, span: tuple[float, float] | None = None) -> int | None:
    """The first (or last) event of the question's subject (and host/service/file), by time then position."""
    if not q.subject:
        return None
    mask = ctx.mask(q, span=span) & ctx.subject_mask(q.subject)
    idx = np.nonzero(mask)[0]
    if not len(idx):
        return None
    ts = ctx.table.ts[idx]
    order = np.lexsort((idx, np.where(np.isfinite(ts), ts, np.inf)))
    return int(idx[order[-1] if last else order[0]])


def _onset(ctx: _Ctx, q: Question) -> Composed:
    facts = []
    if q.status:  # "when did the 504s start": the first such response, and the first since the incident began
        t = ctx.table
        codes = sorted(set(q.status))
        what = f"HTTP {codes[0] // 100}xx" if len(codes) >= 100 else "HTTP " + "/".join(map(str, codes[:4]))
        idx = np.nonzero(ctx.mask(q) & np.isin(t.status, codes))[0]
        if not len(idx):
            facts.append(f"No {what} response is in these logs.")
        else:
            idx = idx[np.lexsort((idx, np.where(np.isfinite(t.ts[idx]), t.ts[idx], np.inf)))]
            (first,) = ctx.steps_of([int(idx[0])])
            facts.append(f"The first {what} response is at {clock(first.time)}: {_describe(first, ctx, 120)}.")
            inc0 = _pick_incident(ctx, q)
            onset0 = epoch(inc0.onset) if inc0 is not None else None
            if onset0 is not None and first.ts is not None and first.ts < onset0 - 60:
                later = idx[t.ts[idx] >= onset0 - 60]
                if len(later):
                    (since,) = ctx.steps_of([int(later[0])])
                    n_before = int((t.ts[idx] < onset0 - 60).sum())
                    facts.append(f"{n_before} came before {inc0.id} began; the first since then is at "
                                 f"{clock(since.time)}: {_describe(since, ctx, 120)}.")
    if q.subject:
        i = _first_of(ctx, q)
        if i is not None:
            (s,) = ctx.steps_of([i])
            facts.append(f"The first line about {' '.join(q.subject)}" + (f" on {', '.join(q.hosts)}" if q.hosts else "")
                         + f" is at {clock(s.time)}: {_describe(s, ctx)}.")
    inc = _pick_incident(ctx, q)
    if inc is None:
        if facts:
            return Composed(" ".join(facts), "onset", "medium", facts=facts)
        return _nothing(ctx)
    first = inc.chain[0] if inc.chain else None
    adj, low = _lead(inc.confidence, inc.confidence_reason)
    when = f"{inc.id} started at {clock(inc.onset)}"
    if first is not None:
        when += f" with {_describe(first, ctx)}"
    facts.append(when + (low if not adj else "") + ".")
    if inc.end:
        facts.append(f"Its last line is at {clock(inc.end)}.")
    return Composed(" ".join(facts), "onset", inc.confidence, facts=facts)


def _notable(ctx: _Ctx, idx: np.ndarray, chain_wheres: set[str], limit: int = 6) -> list[int]:
    """The events worth showing among `idx`: chain lines first, then warnings and worse, then rare templates."""
    t = ctx.table
    if not len(idx):
        return []
    wheres = [t.where(int(i)) for i in idx]
    in_chain = np.array([w in chain_wheres for w in wheres])
    level = t.level[idx].astype(int)
    counts = Counter(int(x) for x in t.template[idx])
    rarity = np.array([1.0 / counts[int(x)] for x in t.template[idx]])
    key = in_chain * 10.0 + (level >= WARN) * 3.0 + (level >= WARN + 1) * 1.0 + rarity
    picked: list[int] = []
    seen_templates: set[int] = set()
    for j in np.argsort(-key, kind="stable"):
        tid = int(t.template[idx[j]])
        if tid in seen_templates and not in_chain[j]:
            continue
        seen_templates.add(tid)
        picked.append(int(idx[j]))
        if len(picked) >= limit:
            break
    return sorted(picked, key=lambda i: (float(t.ts[i]) if np.isfinite(t.ts[i]) else np.inf, i))


def _span_of(q: Question, inc: IncidentView | None, *, default: bool = True) -> tuple[float, float] | None:
    """The time span a question is about: its times (± five minutes; from the first to the last when it names two),
    a span relative to the incident's onset, else (with `default`) the incident's own span ± five minutes."""
    if q.span is not None:
        return q.span
    if q.times:
        if len(q.times) >= 2:
            return (min(q.times), max(q.times))
        return (min(q.times) - AROUND_S, max(q.times) + AROUND_S)
    if q.relative is not None and inc is not None and epoch(inc.onset) is not None:
        onset = epoch(inc.onset) or 0.0
        return (onset + q.relative[0], onset + q.relative[1])
    if not default:
        return None
    if inc is not None and inc.onset:
        onset = epoch(inc.onset) or 0.0
        end = epoch(inc.end) or onset
        return (onset - AROUND_S, max(end, onset) + AROUND_S)
    return None


def _around(ctx: _Ctx, q: Question) -> Composed:
    inc = _pick_incident(ctx, q)
    span = _span_of(q, inc)
    mask = ctx.mask(q, span=span)
    idx = np.nonzero(mask)[0]
    where = " and ".join(x for x in [", ".join(q.hosts), ", ".join(q.services)] if x) or "all hosts"
    when = _between(span, ctx.vocab) if span else "in these logs"
    if not len(idx):
        return Composed(f"Nothing was logged on {where} {when} (these logs: {ctx.vocab.describe()}).", "around", "high")
    level = ctx.table.level[idx].astype(int)
    bad = int((level >= WARN).sum())
    facts = [f"On {where} {when}: {len(idx)} events, {bad} at WARN or worse."]
    chain_wheres = {s.where for i in ctx.view.incidents for s in i.chain if s.where}
    shown = ctx.steps_of(_notable(ctx, idx, chain_wheres))
    for s in shown:
        role = next(((i.id, st.role) for i in ctx.view.incidents for st in i.chain if st.where == s.where), None)
        tag = f" — part of {role[0]} ({role[1] or 'step'})" if role else ""
        facts.append(f"{_hm(s.time)} {_describe(Step(s.text, s.where, None, s.host if not q.hosts else None, None), ctx, 120)}{tag}.")
    linked = sum(s.where in chain_wheres for s in shown)
    if inc is not None and not linked:
        facts.append(f"None of these lines is in the chain of {inc.id} ({_title(inc)}).")
    return Composed(" ".join(facts), "around", inc.confidence if (inc and linked) else "high", facts=facts)


def _targets(ctx: _Ctx, q: Question) -> list[int]:
    """The events a question points at: file:line, evidence ids, else subject (+host/service/time)."""
    out: list[int] = []
    for w in q.wheres:
        i = ctx.index_of(w)
        if i is not None:
            out.append(i)
    for ident in q.ids:
        item = ctx.store.items.get(ident)
        if item is not None and item.where:
            i = ctx.index_of(item.where)
            if i is not None:
                out.append(i)
    if out:
        return out
    span = _span_of(q, _pick_incident(ctx, q), default=False)
    if q.subject:
        about = ctx.subject_mask(q.subject)
        idx = np.nonzero(ctx.mask(q, span=span) & about)[0]
        if not len(idx) and (q.hosts or q.services):
            # The subject's lines may carry no host (an access log names none): those decide; lines that name
            # another host do not.
            t = ctx.table
            hostless = np.isin(t.host, [c for c, h in enumerate(t.hosts) if not h])
            idx = np.nonzero(ctx.mask(Question(q.text, q.kind, files=q.files), span=span) & about & hostless
                             & ~ctx.metric_rows())[0]
        if len(idx):
            return [int(i) for i in idx]
    if q.hosts or q.services or q.files or span:
        idx = np.nonzero(ctx.mask(q, span=span))[0]
        warned = idx[ctx.table.level[idx] >= WARN]
        return [int(i) for i in (warned if len(warned) else idx)]
    return []


_NOISE_WORDS = frozenset(("unrelated", "noise", "noisy", "ignore", "safe", "distraction", "distractions", "red",
                          "herring", "herrings", "related", "relevant", "else"))


def _unrelated_list(ctx: _Ctx) -> Composed:
    """What was seen and judged unrelated to the incidents, loudest first, each with its reason and line."""
    items = [f"{_describe(u, ctx, 90)}" + (f" — {u.reason}" if u.reason else "") for u in ctx.view.unrelated[:4]]
    main = ctx.view.incidents[0].id
    text = (f"Judged unrelated to {main} ({len(ctx.view.unrelated)} in all): " + "; ".join(items) + ".")
    return Composed(text, "related", "high", facts=[text])


def _related(ctx: _Ctx, q: Question) -> Composed:
    if not ctx.view.incidents:
        # Nothing to relate it to; still show the line asked about (the worst of them, then the first).
        found = _targets(ctx, q) if (q.subject or q.wheres or q.ids) else []
        if not found:
            return _nothing(ctx)
        lv, tsc = ctx.table.level, ctx.table.ts
        best = min(found, key=lambda i: (-int(lv[i]), float(tsc[i]) if np.isfinite(tsc[i]) else np.inf, i))
        (s,) = ctx.steps_of([best])
        more = f" (one of {len(found)} such lines)" if len(found) > 1 else ""
        text = (f"There is no incident in these logs to relate it to ({ctx.vocab.describe()}): no error, status or "
                f"latency rate changed enough. The line asked about: {_describe(s, ctx)}{more}.{_error_lines(ctx)}")
        return Composed(text, "related", "low", facts=[text])
    if not set(q.subject) - _NOISE_WORDS and ctx.view.unrelated:
        return _unrelated_list(ctx)  # "what is unrelated?", "what can I ignore?": the list, not one line
    targets = _targets(ctx, q)
    if not targets:
        what = " ".join(q.subject) or "that"
        return Composed(f"I found no line about {what}" + (f" on {', '.join(q.hosts)}" if q.hosts else "")
                        + f" in these logs ({ctx.vocab.describe()}).", "related", "high")
    t = ctx.table
    chain = {s.where: (inc, s) for inc in ctx.view.incidents for s in inc.chain if s.where}
    chain_keys = {(s.host, ctx_template(ctx, s)): (inc, s) for inc in ctx.view.incidents for s in inc.chain}
    unrelated = {u.where: u for u in ctx.view.unrelated if u.where}
    unrelated_keys = {(u.host, ctx_template(ctx, u)): u for u in ctx.view.unrelated}
    # The most telling target: one in an incident's chain, else one judged unrelated, else the worst-level one.
    def rank(i: int) -> tuple[int, int, float]:
        w = t.where(i)
        key = (t.host_name(i) or None, int(t.template[i]))
        kind = 0 if (w in chain or key in chain_keys) else (1 if (w in unrelated or key in unrelated_keys) else 2)
        return (kind, -int(t.level[i]), float(t.ts[i]) if np.isfinite(t.ts[i]) else np.inf)

    best = min(targets, key=rank)
    (s,) = ctx.steps_of([best])
    w = s.where or ""
    key = (s.host, int(t.template[best]))
    n = len(targets)
    about = f"{_describe(s, ctx, 120)}" + (f" (the first of {n} such lines)" if n > 1 else "")
    if w in chain or key in chain_keys:
        inc, step = chain.get(w) or chain_keys[key]
        adj, low = _lead(inc.confidence, inc.confidence_reason)
        text = (f"Yes: {about} is part of {inc.id} ({_title(inc)}) as its {step.role or 'step'}"
                + (f", {step.reason}" if step.reason else "") + f"{low}.")
        return Composed(text, "related", inc.confidence, facts=[text])
    if w in unrelated or key in unrelated_keys:
        u = unrelated.get(w) or unrelated_keys[key]
        text = f"No: {about} was judged unrelated to the incident" + (f": {u.reason}" if u.reason else "") + "."
        return Composed(text, "related", "high", facts=[text])
    inc = _pick_incident(ctx, q) or ctx.view.incidents[0]
    onset, end = epoch(inc.onset), epoch(inc.end) or epoch(inc.onset)
    ts = s.ts
    same_host = s.host in inc.hosts if s.host else False
    if ts is not None and onset is not None and end is not None and not (onset - 15 * 60 <= ts <= end + 15 * 60):
        delta = (onset - ts) if ts < onset else (ts - end)
        side = "before" if ts < onset else "after"
        text = (f"Probably not: {about} is {_minutes(delta)} {side} {inc.id} ({_title(inc)}, "
                f"{_hm(inc.onset)}–{_hm(inc.end or inc.onset)}), and the engine did not put it in the incident's chain.")
        return Composed(text, "related", "medium", facts=[text])
    if same_host:
        text = (f"Possibly: {about} is on {s.host}, a host of {inc.id} ({_title(inc)}), during it, but the "
                "engine did not put this line in the incident's chain.")
        return Composed(text, "related", "low", facts=[text])
    tid = int(t.template[best])
    with np.errstate(invalid="ignore"):
        earlier = int(((t.template == tid) & (t.ts < (onset if onset is not None else -np.inf) - 60)).sum())
    if not s.host and onset is not None and earlier == 0:
        # A line that names no host and was never logged before the onset cannot be placed away from the incident.
        text = (f"Possibly: {about} was never logged before {inc.id} ({_title(inc)}) began at {_hm(inc.onset)} and "
                "names no host, but the engine did not put it in the incident's chain.")
        return Composed(text, "related", "low", facts=[text])
    text = (f"Probably not: {about} falls during {inc.id} ({_title(inc)}) but on "
            f"{s.host or 'another source'}, outside the incident's chain (hosts {', '.join(inc.hosts) or 'unknown'}).")
    return Composed(text, "related", "medium", facts=[text])


def ctx_template(ctx: _Ctx, s: Step) -> int | None:
    """The template id of a step's line (from its key `T<id>`, else by looking its line up)."""
    if s.key and re.fullmatch(r"T\d+", s.key):
        return int(s.key[1:])
    if s.where:
        i = ctx.index_of(s.where)
        if i is not None:
            return int(ctx.table.template[i])
    return None


def _minutes(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _rate(n: int, seconds: float) -> str:
    """"2.4 per minute", "3.1 per hour", "0.5 per day": the unit that reads best."""
    per_min = n / max(seconds / 60, 1 / 60)

    def num(x: float) -> str:  # "120", not "1.2e+02"
        return f"{x:.0f}" if x >= 100 else f"{x:.2g}"

    if per_min >= 0.1:
        return f"{num(per_min)} per minute"
    if per_min * 60 >= 0.1:
        return f"{num(per_min * 60)} per hour"
    return f"{num(per_min * 1440)} per day"


_ANCHORS = (("root cause", "cause"), ("cause", "cause"), ("onset", "first"), ("start", "first"), ("symptom", "symptom"),
            ("first", "first"), ("earliest", "first"), ("began", "first"), ("incident", "first"))


def _context(ctx: _Ctx, q: Question) -> Composed:
    target: int | None = None
    label = ""
    targets = _targets(ctx, q) if (q.wheres or q.ids or q.subject) else []
    if targets:
        t = ctx.table
        if q.wheres or q.ids:
            target, label = targets[0], "that line"
        else:
            order = sorted(targets, key=lambda i: (float(t.ts[i]) if np.isfinite(t.ts[i]) else np.inf, i))
            target = order[-1] if q.last else order[0]
            label = f"the {'last' if q.last else 'first'} line about {' '.join(q.subject)}"
    if target is None:
        inc = _pick_incident(ctx, q)
        low = q.text.lower()
        anchor = next((role for word, role in _ANCHORS if word in low), "cause")
        if inc is not None and inc.chain:
            step = (_cause(inc) or inc.chain[0]) if anchor == "cause" else (
                next((s for s in reversed(inc.chain) if s.role == "symptom"), inc.chain[-1]) if anchor == "symptom"
                else min(inc.chain, key=lambda st: (st.ts is None, st.ts or 0.0)))
            if step.where:
                target = ctx.index_of(step.where)
                label = f"{'the root cause' if anchor == 'cause' else 'the ' + anchor + ' line'} of {inc.id}"
    if target is None:
        what = " ".join(q.subject) or "that"
        return Composed(f"I found no line about {what} to show in these logs ({ctx.vocab.describe()}); name a "
                        "file:line, an id such as A1, or words that appear in the lines.", "context", "high")
    where = ctx.table.where(target)
    out = ctx.tool("get_context", {"where": where, "before": 5, "after": 5})
    if out is None:
        return Composed(f"The lines around {where} cannot be read back: {ctx.steps[-1]['error']}", "context", "high")
    (s,) = ctx.steps_of([target])
    rows = [f"Lines around {label}, {_describe(s, ctx, 100)}:"]
    path = where.rpartition(":")[0]
    short = ctx._short.get(path, path)
    for c in out.cited:
        n = c.where.rpartition(":")[2]
        ctx.store.add_line(c.where, c.summary)
        mark = ">" if c.where == where else " "
        rows.append(f"  {short}:{n} {mark} {_q(c.summary, 220)}")
    return Composed("\n".join(rows), "context", "high", facts=rows[:1])


def _first(ctx: _Ctx, q: Question) -> Composed:
    inc = _pick_incident(ctx, q)
    if inc is None or not inc.chain:
        return _nothing(ctx)
    attr = "service" if q.asks_service else "host"
    # Where the failure showed first: the top root-cause candidate and the chain's steps, in time order (the
    # candidate first on a tie; a change before the onset is the earliest).
    cause = _cause(inc)
    ordered = sorted(([cause] if cause is not None else []) + list(inc.chain), key=lambda s: (s.ts is None, s.ts or 0.0))
    seen: dict[str, Step] = {}
    for s in ordered:
        name = getattr(s, attr) or (s.host if attr == "service" else None)
        if name and name not in seen:
            seen[name] = s
    if not seen:
        # No line names one: the files say where (a folder of logs is often laid out one file or folder a host).
        by_file: dict[str, Step] = {}
        for s in ordered:
            path = (s.where or "").rpartition(":")[0]
            if path and path not in by_file:
                by_file[path] = s
        if not by_file:
            s = ordered[0]  # the earliest line, by time
            text = f"The chain of {inc.id} starts with {_describe(s, ctx)}; its lines carry no {attr} names."
            return Composed(text, "first", inc.confidence, facts=[text])
        files = list(by_file)
        facts = [f"No line of {inc.id}'s chain names a {attr}; by file, {ctx._short.get(files[0], files[0])} "
                 f"logged it first: {_describe(by_file[files[0]], ctx)}."]
        if len(files) > 1:
            facts.append("Then " + "; ".join(f"{ctx._short.get(f, f)}: {_describe(by_file[f], ctx, 90)}"
                                             for f in files[1:4]) + ".")
        return Composed(" ".join(facts), "first", inc.confidence, facts=facts)
    names = list(seen)
    adj, low = _lead(inc.confidence, inc.confidence_reason)
    first = seen[names[0]]
    facts = [f"{names[0]} was first in {inc.id} ({_title(inc)}): {_describe(first, ctx)}{low}."]
    if len(names) > 1:
        facts.append("Then " + "; ".join(f"{n}: {_describe(seen[n], ctx, 90)}" for n in names[1:4]) + ".")
    named = (getattr(cause, attr) or cause.host) if cause is not None else None
    if named and named != names[0]:
        facts.append(f"The engine's top root-cause candidate is on {named}, not the first to log the failure.")
    return Composed(" ".join(facts), "first", inc.confidence, facts=facts)


def _changed(ctx: _Ctx, q: Question) -> Composed:
    inc = _pick_incident(ctx, q)
    if inc is None:
        return _nothing(ctx)
    if not inc.changed_before:
        text = (f"Nothing in these logs reads as a change (deploy, config, restart, upgrade) just before {inc.id} "
                f"started at {clock(inc.onset)}.")
        return Composed(text, "changed", "medium", facts=[text])
    gaps = [_lead_s(inc, c) for c in inc.changed_before[:4]]
    # The engine lists changes up to a few minutes after the onset too (a failover that follows the first errors):
    # those are said to come after it, never "just before".
    after = any(g is not None and g < 0 for g in gaps)
    facts = [f"{'Around' if after else 'Just before'} the start of {inc.id} at {_hm(inc.onset)}:"]
    for c, gap in zip(inc.changed_before[:4], gaps, strict=True):
        when = ""
        if gap is not None:
            when = f", {_minutes(gap)} before" if gap >= 0 else f", {_minutes(-gap)} after the onset"
        facts.append(f"{_describe(c, ctx, 120)}{when}" + (f" ({c.reason})" if c.reason else "") + ".")
    return Composed(" ".join(facts), "changed", inc.confidence, facts=facts)


_RECOVERY = ("recover", "restored", "healthy", "back to normal", "resolved", "reconnected", "succeeded", "is up",
             "started successfully", "back online")


def _ongoing(ctx: _Ctx, q: Question) -> Composed:
    inc = _pick_incident(ctx, q)
    if inc is None:
        return _nothing(ctx)
    t = ctx.table
    bad = [s for s in inc.chain if s.role in ("symptom", "cause", "propagation")] or inc.chain
    # Lines like the chain's: same template and, where the chain's line failed (a 5xx, an ERROR), failing too — an
    # access log's one template also holds every 200 that follows the incident.
    like = np.zeros(len(t), dtype=bool)
    for s in bad:
        tid = ctx_template(ctx, s)
        if tid is None:
            continue
        same = t.template == tid
        i = ctx.index_of(s.where) if s.where else None
        if i is not None and int(t.status[i]) >= 500:
            same &= t.status >= 500
        elif i is not None and int(t.level[i]) >= WARN:
            same &= t.level >= int(t.level[i])
        like |= same
    last_ts, first_ts = ctx.vocab.last_ts, ctx.vocab.first_ts
    onset = epoch(inc.onset)
    if not like.any() or last_ts is None or first_ts is None or onset is None:
        text = f"{inc.id}'s last line is at {clock(inc.end or inc.onset)}; these logs end {ctx.vocab.span()}."
        return Composed(text, "ongoing", "low", facts=[text])
    ts = t.ts
    with np.errstate(invalid="ignore"):
        after_onset = np.nonzero(like & (ts >= onset))[0]
        n_before = int((like & (ts < onset)).sum())
    if not len(after_onset):
        text = f"{inc.id}'s last line is at {clock(inc.end or inc.onset)}; these logs end {ctx.vocab.span()}."
        return Composed(text, "ongoing", "low", facts=[text])
    order = after_onset[np.argsort(ts[after_onset], kind="stable")]
    times = ts[order]
    # The failure stops at the first of its lines followed by a silence far longer than its usual gap (ten times the
    # median gap, at least ten minutes); lines like it after that silence are the routine rate, not the incident.
    gaps = np.diff(np.append(times, last_ts))
    usual = float(np.median(gaps[:-1])) if len(gaps) > 1 else 60.0
    silence = max(600.0, 10 * usual)
    quiet = np.nonzero(gaps > silence)[0]
    rate_before = n_before / max((onset - first_ts) / 60, 1.0)
    if not len(quiet):
        (last,) = ctx.steps_of([int(order[-1])])
        text = (f"Still going, as far as these logs go: {inc.id}'s failing lines continue to their end at "
                f"{clock(last_ts)} — the last is {_describe(last, ctx, 120)}, {_minutes(last_ts - float(times[-1]))} "
                "before the end.")
        return Composed(text, "ongoing", inc.confidence, facts=[text])
    k = int(quiet[0])
    stop = float(times[k])
    (last,) = ctx.steps_of([int(order[k])])
    later = len(times) - k - 1
    rate_during = (k + 1) / max((stop - onset) / 60, 1.0)
    facts = [f"It stopped: {inc.id}'s failing lines ({rate_during:.2g}/min from the onset) end at {_hm(stop)}, "
             f"{_minutes(last_ts - stop)} before the logs end at {clock(last_ts)} — the last is {_describe(last, ctx, 120)}."]
    if later:
        rate_after = later / max((last_ts - stop) / 60, 1.0)
        facts.append(f"After that, such lines come at {rate_after:.2g}/min ({rate_before:.2g}/min before the onset).")
    recovery = _recovery_after(ctx, stop, onset, within=max(1800.0, silence))
    if recovery is not None:
        facts.append(f"Recovery: {_describe(recovery, ctx, 120)}.")
    return Composed(" ".join(facts), "ongoing", inc.confidence, facts=facts)


def _recovery_after(ctx: _Ctx, after: float | None, onset: float | None = None,
                    within: float = 3600.0) -> Step | None:
    """The first recovery-worded line after `after` whose kind was not already routine before the onset (a task
    that "succeeded" all day long is no recovery)."""
    if after is None:
        return None
    store = ctx.ws.result.templates
    t = ctx.table
    tids = [int(x) for x in np.unique(t.template) if any(w in store.template(int(x)).lower() for w in _RECOVERY)]
    if onset is not None and tids:
        with np.errstate(invalid="ignore"):
            routine = set(np.unique(t.template[np.isin(t.template, tids) & (t.ts < onset)]).tolist())
        tids = [x for x in tids if x not in routine]
    if not tids:
        return None
    with np.errstate(invalid="ignore"):
        idx = np.nonzero(np.isin(t.template, tids) & (t.ts >= after) & (t.ts <= after + within))[0]
    if not len(idx):
        return None
    return ctx.steps_of([int(idx[0])])[0]


def _count(ctx: _Ctx, q: Question) -> Composed:
    t = ctx.table
    inc = _pick_incident(ctx, q)
    span = _span_of(q, inc, default=False)
    about: np.ndarray | None = None
    if q.status:
        codes = sorted(set(q.status))
        about = np.isin(t.status, codes)
        what = (f"HTTP {codes[0] // 100}xx responses" if len(codes) >= 100 else
                "HTTP " + "/".join(map(str, codes[:4])) + " responses")
    elif q.subject:
        about = ctx.subject_mask(q.subject)
        what = " ".join(q.subject)
    elif q.errors:
        about = t.level >= LEVELS.index("ERROR")
        what = "lines at ERROR or worse"
    elif re.search(r"\b(lines|events|entries|messages|log lines|records)\b", q.text.lower()):
        about = np.ones(len(t), bool)  # "how many lines between 20:50 and 21:00": every line, not the symptom's
        what = "lines in all"
    elif inc is not None:
        symptom = next((s for s in reversed(inc.chain) if s.role == "symptom"), inc.chain[-1] if inc.chain else None)
        tid = ctx_template(ctx, symptom) if symptom else None
        about = np.isin(t.template, [tid]) if tid is not None else None
        what = f"{inc.id}'s symptom {_q(symptom.text, 80)}" if symptom else inc.id
    else:
        what = ""
    if about is None or not about.any():
        text = f"No line in these logs matches {what or 'that'} ({ctx.vocab.describe()})."
        return Composed(text, "count", "high", facts=[text])
    mask = ctx.mask(q, span=span) & about
    idx = np.nonzero(mask)[0]
    if len(idx):
        ts_all = t.ts[idx]
        idx = idx[np.lexsort((idx, np.where(np.isfinite(ts_all), ts_all, np.inf)))]
    what = what if what.startswith(("HTTP", "lines at", "lines in all")) else f"lines about {what}"
    where = f" on {', '.join([*q.hosts, *q.services])}" if (q.hosts or q.services) else ""
    if not len(idx):
        text = f"0 {what}{where}" + (f" {_between(span, ctx.vocab)}" if span else "") + "."
        return Composed(text, "count", "high", facts=[text])
    ts = t.ts[idx]
    finite = ts[np.isfinite(ts)]
    first, last = ctx.steps_of([int(idx[0]), int(idx[-1])]) if len(idx) > 1 else ctx.steps_of([int(idx[0])]) * 2
    between = f" {_between(span, ctx.vocab)}" if span else ""
    facts = [f"{len(idx)} {what}{where}{between}: the first {_describe(first, ctx, 100)}"
             + (f", the last {_describe(last, ctx, 100)}" if len(idx) > 1 else "") + "."]
    if len(finite) >= 2 and finite.max() - finite.min() >= 60:  # a rate over a few seconds says nothing
        facts.append(f"That is about {_rate(len(idx), float(finite.max() - finite.min()))} over "
                     f"{_minutes(finite.max() - finite.min())}.")
    hosts = Counter(t.host_name(int(i)) or "-" for i in idx)
    if len(hosts) > 1:
        facts.append("By host: " + ", ".join(f"{h} {n}" for h, n in hosts.most_common(4)) + ".")
    return Composed(" ".join(facts), "count", "high", facts=facts)


def _search(ctx: _Ctx, q: Question) -> Composed:
    if not q.subject:
        return _what_happened(ctx, q)
    composed = _count(ctx, q)
    composed.kind = "search"
    return composed


def _not_in_logs(ctx: _Ctx, q: Question) -> Composed:
    names = ", ".join(q.unknown)
    text = f"{names[0].upper() + names[1:]} {'is' if len(q.unknown) == 1 else 'are'} not in these logs. They hold {ctx.vocab.describe()}."
    return Composed(text, "not_in_logs", "high", facts=[text])


_ANSWERERS = {
    "what_happened": _what_happened, "root_cause": _root_cause, "onset": _onset, "around": _around,
    "related": _related, "context": _context, "first": _first, "changed": _changed, "ongoing": _ongoing,
    "count": _count, "search": _search, "not_in_logs": _not_in_logs,
}


def answer_question(question: str | Question, ws: Workspace, store: EvidenceStore, *, focus: str | None = None) -> Composed:
    """The deterministic answer to `question` over the workspace's current audit; cited lines are added to `store`.

    `focus` is the file:line the previous answer was about: "show the lines around it" shows those.

    Raises:
        ToolInputError: If nothing has been audited yet.
    """
    ctx = _Ctx(ws, store)
    q = question if isinstance(question, Question) else classify(question, ctx.vocab)
    if (focus and q.kind == "context" and not (q.wheres or q.ids or q.subject)
            and re.search(r"\b(it|that|this|there|them|those)\b", q.text.lower())):
        path, _, line = focus.rpartition(":")
        full = next((s for s in ctx.vocab.sources if s == path or s.rsplit("/", 1)[-1] == path), None)
        if full:
            q.wheres.append(f"{full}:{line}")
    composed = _ANSWERERS.get(q.kind, _what_happened)(ctx, q)
    if q.unknown and q.kind != "not_in_logs":
        composed.text = f"({', '.join(q.unknown)}: not in these logs.) " + composed.text
    composed.cited = list(dict.fromkeys([*composed.cited, *ctx.cited]))
    composed.steps = ctx.steps + composed.steps
    if not composed.facts:
        composed.facts = [composed.text]
    return composed


def explain_triage(ws: Workspace, store: EvidenceStore) -> Composed:
    """The audit's deterministic explanation: what happened, its root cause and what changed before."""
    ctx = _Ctx(ws, store)
    q = Question(text="", kind="what_happened")
    composed = _what_happened(ctx, q)
    inc = _pick_incident(ctx, q)
    if inc is not None and inc.changed_before:
        c = inc.changed_before[0]
        late = (_lead_s(inc, c) or 0.0) < 0
        composed.facts.append(f"Changed just {'after' if late else 'before'} the onset: {_describe(c, ctx, 100)}.")
        composed.text = " ".join(composed.facts)
    composed.cited = list(ctx.cited)
    return composed
