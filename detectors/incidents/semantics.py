"""What a key means, from its level, HTTP status class, exception and words: how bad it is, whether it is a change
to the system (deploy, restart, ...), whether it is user-facing, and whether it is routine background chatter.

Words are matched on the key's template text. The vocabularies are the general ones of operations logs (error
words, change-management verbs, the daemons of a desktop or bastion host), not the phrases of any one log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# Error words: a message saying something failed, whatever its level says.
_ERROR_WORDS = re.compile(
    r"\b(?:fail(?:s|ed|ing|ure)?|error(?:s)?|err|exception|refused|time[sd]? ?out|timed out|timeout|unavailable|"
    r"unreachable|exhausted|denied|forbidden|cannot|can't|could not|couldn't|unable|no space|out of memory|oom|"
    r"killed|panic|crash(?:ed)?|abort(?:ed)?|reset by peer|broken pipe|deadlock|expired|invalid|corrupt(?:ed)?|"
    r"lost|not responding|unhealthy|rejected|exceeded|overload(?:ed)?|degraded|dropp(?:ed|ing)|fatal|severe|"
    r"critical|segfault|stack trace|traceback|oom-killer|disk full|read-only file system|i/o error|"
    r"no route to host|connection reset|too many|backoff|circuit (?:breaker )?open|throttl(?:ed|ing)|"
    r"5\d\d|bad gateway|gateway timeout|service unavailable|down|"
    # an alarm (RabbitMQ's memory / disk alarm, an optic's Rx power alarm): the system says it is in trouble
    r"alarm(?:s|ed)?)\b", re.I)
_WARN_WORDS = re.compile(r"\b(?:retry(?:ing)?|retries|slow|high|latency|warn(?:ing)?|evict(?:ed|ing)|full|"
                         r"saturat(?:ed|ion)|lag(?:ging)?|stale|pending|queue(?:d)? (?:full|backlog)|shed)\b", re.I)
_NEGATED = re.compile(r"\b(?:no|0|zero|without) (?:errors?|failures?|problems?)\b|\bsucce(?:ss|eded|ssful)\b|"
                      r"\b(?:recovered|resolved|restored|healthy|back to normal|ok)\b|\balarms? clear(?:ed)?\b|"
                      r"\b(?:please |you (?:can|may) )?ignore (?:the|this|that|these|any) (?:\w+ )?(?:errors?|warnings?|failures?)\b|"
                      r"\b(?:can|may|should) (?:safely )?be ignored\b|\bsafe to ignore\b", re.I)

# A message that says only that the request (call, handler) failed, with the status in its fields: the service's own
# record of an answer it gave ("request failed" status=502), not a failure that says what went wrong.
_ONLY_REQUEST_FAILED = re.compile(
    r"\W*(?:the |an? )?(?:http |incoming |outgoing )?(?:request|call|handler|response|rpc)s? "
    r"(?:failed|errored|error|failure)(?: with (?:status|code)(?: \S+)?)?\W*|"
    r"\W*(?:failed|error(?:ed)?(?: (?:handling|serving|processing))?) (?:the |an? )?(?:http )?(?:request|call)\W*",
    re.I)


# Words that read as a failure only out of context: "up/down" names what a unit does ("Bring up/down networking",
# an interface's up/down state), and a crash kernel (kdump, "Crash recovery kernel arming", crashkernel=) is set up at
# boot to catch a crash that has not happened. Blanked before the error words are looked for.
_NOT_A_FAILURE = re.compile(
    r"\b(?:up ?[/-] ?down|down ?[/-] ?up|up (?:and|or) down|down (?:and|or) up|"
    r"crash ?(?:recovery |dump |capture )?kernel|kdump\w*|kexec\w*)\b", re.I)

# systemd's (and other inits') news of a unit's life: "Started X.", "Starting X...", "Reached target X.". X is the
# unit's description: it says what the unit does ("Process error reports ...", "Crash recovery kernel arming"), not
# that anything went wrong. A unit that failed says so in other words ("Failed to start X.", "Dependency failed for
# X.", "X.service: Main process exited ..."); an outcome written after the description still counts.
_LIFECYCLE = re.compile(
    r"\s*(?:started|starting|stopped|stopping|(?:reached|stopped) target|listening on|closed|mounted|mounting|"
    r"unmounted|unmounting|(?:created|removed) slice|finished|reloading|reloaded|activated|deactivated)"
    r"\s+(?P<what>.+?)\s*\.{1,3}\s*", re.I)
_OUTCOME = re.compile(r"\b(?:fail\w*|due to|because|unexpected(?:ly)?|abnormal(?:ly)?|"
                      r"with (?:result|error|status|code|signal|exit)|exit(?:ed)? (?:code|status)|timed out|"
                      r"refused|killed|denied|out of memory|core dumped)\b", re.I)


def _failure_words(text: str) -> str:
    """The part of a message whose words may say that something failed."""
    m = _LIFECYCLE.fullmatch(text)
    if m and not _OUTCOME.search(m.group("what")):
        return ""
    return _NOT_A_FAILURE.sub(" ", text)


def names_failure(text: str) -> bool:
    """Whether a message's own words say what failed (not only its level or status): "certificate has expired",
    "connect to db-1 refused"; "request failed" alone says no more than its 5xx status."""
    if _ONLY_REQUEST_FAILED.fullmatch(text.strip()):
        return False
    return badness(text, 0, 0, False) >= 0.5


# Change events: what changed the system (the usual suspects of a postmortem's "what changed").
CHANGE_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("config-management", re.compile(
        r"\b(?:puppet|ansible|chef(?:-client)?|salt(?:-minion|stack)?|terraform|cfengine|playbook|applied catalog|"
        r"catalog run|converge[sd]?|kubectl apply|helm (?:upgrade|install))\b|"
        # kubectl's own report of what it changed ("configmap/checkout-config configured")
        r"\b(?:configmaps?|secrets?|services?|ingress(?:es)?|cronjobs?|(?:statefulset|daemonset|replicaset)s?)"
        r"(?:\.[\w.]+)?/[\w.-]+ (?:configured|created|patched|replaced|restarted|rolled back|scaled)\b", re.I)),
    ("deploy", re.compile(
        r"\b(?:deploy(?:ed|ing|ment)?|rollout|rolled out|roll(?:ing)? (?:update|restart)|upgrad(?:e|ed|ing)|"
        # a release of software, not a lock, slot, block or connection released, nor a "release=0" counter
        r"releas(?:e|ed|ing) (?:of )?(?:\S+ )?(?:v(?:ersion)? ?\d[\w.+-]*|\d+\.\d+[\w.+-]*)|(?:new|app|application|service|software) release|"
        r"release (?:\S+ )?(?:started|finished|complete[d]?|deployed|rolled out|tagged)|"
        r"downgrad(?:e|ed)|rollback|rolled back|new (?:version|build|revision|image)|version \S+ (?:installed|started)|"
        r"image \S+ pulled|canary)\b", re.I)),
    ("certificate", re.compile(
        r"\b(?:certificates?|certs?|x509|tls|ssl|keys?|secrets?|credentials?|tokens?|keystore|truststore|ca bundle)\b"
        r".{0,40}?\b(?:rotated|renewed|replaced|installed|reloaded|updated|issued|deployed|changed)\b|"
        r"\b(?:rotat(?:ed|ing)|renew(?:ed|ing)|replac(?:ed|ing)|install(?:ed|ing)|issu(?:ed|ing))\b.{0,40}?"
        r"\b(?:certificates?|certs?|keys?|secrets?|credentials?)\b|\bkey rotation\b|"
        # a renewal that failed is the change behind a later expiry ("cert-renew: renewal of api.internal failed")
        r"\b(?:cert-?renew\w*|certbot|acme|certificates?|certs?|tls|x509)\b.{0,60}?\brenew\w*\b.{0,40}?\b(?:failed|failure|"
        r"error)\b|\brenew\w*\b.{0,60}?\b(?:failed|failure)\b.{0,80}?\b(?:acme|certificates?|certs?|tls|x509)\b", re.I)),
    ("config", re.compile(
        r"\b(?:config(?:uration)? (?:reload(?:ed)?|change[sd]?|updated?|applied|push(?:ed)?)|reload(?:ed|ing)? "
        r"(?:config|configuration)|feature ?flag|flag \S+ (?:set|enabled|disabled|changed)|setting \S+ (?:to|changed)|"
        r"(?:changed|set) \S+ (?:from \S+ )?to|(?:parameter|option|setting|variable|flag) \S+ (?:changed|set|updated)|"
        r"changed (?:from \S+ )?to|sighup|max_?\w+ (?:set|changed|lowered|raised)|limits? (?:changed|lowered|"
        r"raised|updated)|dns (?:record )?(?:change|update)d?|firewall|iptables|route (?:added|changed|removed))\b", re.I)),
    # the system clock stepped or jumped (chronyd, ntpd, systemd, a hypervisor's guest agent): every expiry,
    # not-before and ordering check downstream of the host moves with it
    ("clock", re.compile(r"\b(?:(?:forward|backward) time jump|time jump detected|clock (?:was )?stepped|"
                         r"system clock wrong by|clock (?:step|jump)(?:ed)?|time (?:has been )?(?:changed|stepped)|"
                         r"time reset [+-]?\d|step(?:ped|ping)? (?:the )?(?:system )?clock|clock skew detected)\b",
                         re.I)),
    ("schema", re.compile(r"\b(?:migration|migrat(?:e|ed|ing)|schema|alter table|ddl|reindex(?:ed|ing)?)\b", re.I)),
    # replicas that were set or counted, not a database's or broker's replicas falling behind ("out of sync replicas")
    ("scaling", re.compile(r"\b(?:scal(?:e|ed|ing) (?:up|down|out|in|to)|autoscal\w*|added node|"
                           r"(?:set|scaled|updated|changed|desired|increased|decreased|resized)\b.{0,30}?\breplicas?|"
                           r"replicas?\b.{0,20}?\bto \d+|\d+ (?:new )?replicas?|replicas?[=:] ?\d+|"
                           r"removed node|node (?:joined|left))\b", re.I)),
    ("failover", re.compile(r"\b(?:failover|failed over|fail-over|promot(?:ed|ing)|demot(?:ed|ing)|"
                            r"leader(?:ship)? (?:elect\w*|change\w*|lost)|became (?:leader|primary|master)|"
                            # VRRP (keepalived, network gear): an instance taking or giving up the virtual address
                            r"(?:entering|transition(?:ed)? to|changed? to) (?:the )?(?:master|backup) state|"
                            # Redis Sentinel's news that the master moved ("+switch-master mymaster A 6379 B 6379")
                            r"switchover|switch(?:ed|ing)?[- ]master)\b", re.I)),
    ("restart", re.compile(r"\b(?:restart(?:ed|ing)?|reboot(?:ed|ing)?|boot(?:ed|ing)?|start(?:ed|ing) (?:up|\S+ "
                           r"(?:version|v\d))|shut(?:ting)? ?down|stopp(?:ed|ing)|sigterm|sigkill|exited|respawn\w*|"
                           r"(?:re)?load(?:ed|ing) (?:unit|service)|systemd\[1\])\b", re.I)),
    ("scheduled-job", re.compile(r"\b(?:cron(?:d|tab)?|anacron|systemd-timer|\.timer|scheduled (?:job|task|run)|"
                                 r"batch job|nightly|hourly|daily|logrotate|"
                                 # a backup run, not a standby ("0 backup servers left", "Entering BACKUP STATE")
                                 r"backup(?! (?:servers?|state|nodes?|hosts?|routers?|members?|pool|links?)\b)|"
                                 # (not a setting: Hadoop's metrics "Scheduled snapshot period at 10 second(s)")
                                 r"vacuum|compaction(?! pause)|snapshot(?! (?:period|interval)s?\b)|"
                                 # a job that announces itself ("ReportExportJob started", "job nightly-export started")
                                 r"\w*(?:job|task)\b:? (?:\S+ )?(?:started|starting|triggered|kicked off))\b",
                                 re.I)),
)

# Daemons whose chatter is routine on a host (desktop, login, hardware, printing, time, mail): a red herring's usual
# home. A prior against blaming them, never a filter: they are still listed, and still a cause when nothing else is.
BACKGROUND_SERVICES = re.compile(
    r"^(?:sshd|ssh|sudo|su|login|systemd-logind|pam[\w.-]*|cups[\w.-]*|udev[\w.-]*|systemd-udevd|gdm[\w.-]*|"
    r"gnome[\w.-]*|gsd-[\w.-]+|mutter|networkmanager|nm-[\w.-]+|avahi[\w.-]*|dbus[\w.-]*|pulseaudio|pipewire[\w.-]*|"
    r"wireplumber|bluetoothd?|colord|snapd|packagekitd?|rtkit[\w.-]*|polkitd?|accounts-daemon|whoopsie|kerneloops|"
    r"anacron|ntpd|chronyd|systemd-timesyncd|postfix[\w./-]*|dovecot|fail2ban[\w.-]*|xinetd|gconfd[\w.-]*|rsyslogd|"
    r"syslogd|auditd|irqbalance|thermald|upowerd|wpa_supplicant|modemmanager|fwupd|tracker[\w.-]*|gvfs[\w.-]*|"
    # remote login and file transfer daemons: strangers' failed logins and aborted sessions are their daily fare
    r"klogind|kshd|eklogind|rlogind|rshd|telnetd|in\.(?:telnetd|rlogind|rshd|ftpd)|ftpd|vsftpd|proftpd|pure-ftpd|"
    r"xorg|xfce[\w.-]*|kde[\w.-]*|lightdm|evolution[\w.-]*|gkr-pam|gnome-keyring[\w.-]*|goa-daemon|"
    r"xdg-[\w.-]+|at-spi[\w.-]*)$", re.I)
_AUTH_NOISE = re.compile(r"\b(?:failed password|invalid user|authentication failure|auth fail\w*|"
                         r"possible break-in|did not receive identification|connection closed by authenticating|"
                         r"maximum authentication attempts|preauth)\b", re.I)


def badness(text: str, level: int, status_class: int, has_exc: bool) -> float:
    """0..1: how much a key reads as a failure (level code as in EventTable.LEVELS, 5=ERROR, 6=FATAL)."""
    b = 0.0
    if level >= 6:
        b = 1.0
    elif level == 5:
        b = 0.8
    elif level == 4:
        b = 0.4
    if status_class == 5:
        b = max(b, 0.85)
    elif status_class == 4:
        b = max(b, 0.3)
    if has_exc:
        b = max(b, 0.6)
    words = _failure_words(text)
    if _ERROR_WORDS.search(words):
        # Without a level (kernel and syslog lines carry none) the words are all there is to go by.
        b = max(b, 0.7 if level == 0 else (0.55 if level >= 4 else 0.4))
    elif _WARN_WORDS.search(words):
        b = max(b, 0.25)
    if b and _NEGATED.search(text) and level < 5 and status_class < 5:
        b *= 0.3
    if status_class in (2, 3) and level < 5:
        b = min(b, 0.1)  # a served request is not a failure whatever its route says
    if level < 5 and status_class < 5 and _CANCELED.search(text) and not _CANCELED_BY_FAILURE.search(text):
        b = min(b, 0.25)  # the client gave up on its own request (a 499): its choice, not a failure to serve it
    return b


# A request, connection or operation that its own requester canceled ("A connection request was canceled before the
# completion", "client closed request", "operation was cancelled by the user"): like nginx's 499, what a client chose,
# not what failed. Unless the line says a failure or deadline did it.
_CANCELED = re.compile(r"\b(?:(?:request|connection|operation|call|transfer|download|upload|query)s? "
                       r"(?:was |were |has been |have been )?cancel(?:l)?ed|cancel(?:l)?ed by (?:the )?(?:user|client|"
                       r"caller|peer|remote)|client closed (?:the )?(?:request|connection)|user cancel(?:l)?ed)\b",
                       re.I)
_CANCELED_BY_FAILURE = re.compile(r"\b(?:deadline|time[sd]? ?out|timeout|fail\w*|shut ?down|overload\w*)\b", re.I)


# A garbage collector's or runtime's pause report ("GC(293) Pause Full (G1 Compaction Pause)", "Total time for which
# application threads were stopped"): the process's own housekeeping, never a change made to the system.
_RUNTIME_PAUSE = re.compile(r"\bGC\(\d+\)|\bpause (?:young|full|remark|cleanup|initial mark)\b|\[gc[\],]|"
                            r"\bapplication threads were stopped\b|\bsafepoint\b|\bgc pause\b", re.I)


# A credential checked and found wrong ("token used before issued", "certificate has expired", "token is not valid
# yet"): a failure of whoever checks it, never the news that one was issued, rotated or installed.
_VALIDITY_FAILURE = re.compile(r"\b(?:used before issued|not valid yet|not yet valid|is expired|has expired|"
                               r"invalid (?:claims?|signature|token)|signature (?:is )?invalid|verification failed|"
                               r"validation failed|unknown authority|untrusted|malformed)\b", re.I)


# A check of time that failed: a token or certificate not valid yet or expired, a request signed too far from the
# server's clock. Such failures follow a clock that moved on any host that issues or checks them.
TIME_CHECK = re.compile(r"\b(?:used before issued|not valid yet|not yet valid|(?:token|certificate|signature|"
                        r"credentials?) (?:is |has )?expired|expired (?:token|certificate|signature)|clock skew|"
                        r"issued in the future|in the future|iat|nbf|time ?too ?skewed|out of sync)\b", re.I)


def change_kind(text: str) -> str | None:
    """The kind of change a message announces (deploy, restart, ...), or None."""
    if _RUNTIME_PAUSE.search(text):
        return None
    for kind, pattern in CHANGE_KINDS:
        if pattern.search(text):
            if kind == "certificate" and _VALIDITY_FAILURE.search(text):
                continue
            return kind
    return None


# A desktop's window server or shell: a host where it logs is a workstation (a laptop), where applications' errors
# ("Cocoa scripting error" from Word for hours, a browser's TLS errors) are the desktop's routine, not an outage
# someone is paged for.
DESKTOP_SHELL = re.compile(r"^(?:WindowServer|loginwindow|Dock|Finder|SystemUIServer|gnome-shell|plasmashell|kwin\w*|"
                           r"Xorg|Xwayland|explorer\.exe|dwm\.exe)$")


def is_desktop_shell(service: str | None) -> bool:
    """Whether a service is a desktop's window server or shell (macOS WindowServer / Dock / Finder, GNOME Shell,
    Plasma, Xorg, Windows Explorer)."""
    return bool(service) and bool(DESKTOP_SHELL.match((service or "").split("/")[-1].split("[")[0].strip()))


def is_background(service: str | None, text: str) -> bool:
    """Routine host chatter (login attempts, desktop, hardware, printing daemons)."""
    if service and BACKGROUND_SERVICES.match(service.split("/")[-1].split("[")[0].strip()):
        return True
    return bool(_AUTH_NOISE.search(text))


_QUOTED = re.compile(r"[\"']([^\"']{3,120})[\"']")


def quoted(text: str) -> str | None:
    """A quoted phrase in a message, when it has one."""
    m = _QUOTED.search(text)
    return m.group(1) if m else None


# What a client's error names when a kind of server fails, and the daemons that play that part on a host: a
# Hikari / JDBC / psycopg error points at the host running postgres, a Redis timeout at the host running redis.
# An SRE follows a failure back this way when the client's line carries an address rather than the host's name.
ROLES: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    ("database", re.compile(r"\b(?:jdbc\w*|hikari\w*|\w*sql\w*|psycopg\w*|pq|pgx|postgres\w*|database|db|"
                            r"datasource|connection pool|c3p0|sqlalchemy|sqlstate|jpa|hibernate|mybatis|activerecord|gorm|orm|"
                            r"transactions?|quer(?:y|ies)|statements?|deadlock\w*|lock (?:wait|timeout))\b", re.I),
     re.compile(r"^(?:postgres\w*|postmaster|mysqld?|mariadb\w*|mongod|oracle\w*|pgbouncer|patroni|sqlservr|"
                r"cockroach\w*)$", re.I)),
    ("cache", re.compile(r"\b(?:redis\w*|memcache\w*|valkey|keydb|jedis|lettuce)\b", re.I),
     re.compile(r"^(?:redis[\w-]*|memcached|valkey[\w-]*|keydb[\w-]*)$", re.I)),
    ("dns", re.compile(r"\b(?:dns|resolv\w*|servfail|nxdomain|no such host|name resolution|lookup|getaddrinfo|"
                       r"eai_again|enotfound|unknownhostexception|name or service not known|"
                       r"no address associated with hostname)\b", re.I),
     re.compile(r"^(?:unbound|named|bind9?|dnsmasq|coredns|systemd-resolved|pdns\w*)$", re.I)),
    ("queue", re.compile(r"\b(?:kafka\w*|rabbit\w*|amqp|broker|nats|sqs)\b", re.I),
     re.compile(r"^(?:kafka\w*|rabbitmq\w*|beam\.smp|nats-server|activemq)$", re.I)),
    ("search", re.compile(r"\b(?:elastic\w*|opensearch|solr)\b", re.I),
     re.compile(r"^(?:elasticsearch|opensearch|solr)$", re.I)),
)


def roles_named(text: str) -> set[str]:
    """The kinds of server (database, cache, dns, ...) a message names as what it talked to."""
    return {name for name, words, _ in ROLES if words.search(text)}


def role_of_service(service: str) -> str | None:
    """The kind of server a daemon is (postgres -> database), or None."""
    base = service.split("/")[-1].split("[")[0].strip()
    for name, _, daemons in ROLES:
        if daemons.match(base):
            return name
    return None


# A limiter's own rejections: the requests it turned away are an effect of the load that tripped it.
LIMITER = re.compile(r"\b(?:limiting (?:requests|connections)|rate[- ]?limit(?:ed|ing|s|er)?|too many requests|"
                     r"throttl(?:ed|ing)|quota exceeded|request limit|load shedding|shedding load|"
                     r"concurrency limit|over capacity)\b", re.I)


def is_limiter(text: str, status: int = 0) -> bool:
    """Whether a message (or an HTTP status 429) is a limiter turning requests away."""
    return status == 429 or bool(LIMITER.search(text))


# Shipping telemetry (metrics, traces, logs, error reports) fails often and never fails a user's request.
TELEMETRY = re.compile(r"\b(?:statsd|dogstatsd|(?:flush|export|push|send|report|ship)(?:ing|ed)? (?:the )?"
                       r"(?:metrics|spans|traces|telemetry|logs)|(?:metrics|spans|traces|telemetry) (?:flush|export|"
                       r"push|upload)\w*|jaeger|zipkin|otlp|opentelemetry|otel[\w-]*|pushgateway|sentry|"
                       r"fluent[- ]?(?:d|bit)|logstash|log shipp\w*|datadog[\w-]*)\b", re.I)


def is_telemetry(text: str) -> bool:
    """Whether a message is about shipping telemetry (a metrics flush, a span export, a log forwarder)."""
    return bool(TELEMETRY.search(text))


# A process that died (out of memory, killed, crashed) is reached by its clients without their naming it: they see
# the connection refused or closed at its address.
DEATH = re.compile(r"\b(?:outofmemory\w*|out of memory|oom[- ]?kill\w*|killed process|segfault|segmentation fault|"
                   r"core dumped|panic|fatal error|terminated|exited with|main process exited|crash(?:ed)?|"
                   r"heap space|stack ?overflow)\b", re.I)
CONNECTION_LOST = re.compile(r"\b(?:connection refused|econnrefused|connection reset|econnreset|broken pipe|"
                             r"prematurely closed|unexpected eof|eof|no healthy upstream|upstream connect error|"
                             r"bad gateway|502|503|service unavailable|connect(?:ion)? (?:failed|timed out))\b", re.I)

# A fault of the network itself (a link, port, NIC or optic going down or degrading), not of a server on it: every
# connection through it drops or stalls, whoever's it is.
NETWORK_FAULT = re.compile(r"\b(?:nic link is down|link (?:is |went )?down|link status (?:definitely )?down|"
                           r"(?:lost|no) carrier|carrier (?:lost|off|down)|changed state to down|link ?flap\w*|"
                           r"[rt]x power (?:low|high)|loss of signal|los alarm|transceiver|optic\w*|sfp\w*|"
                           r"crc errors?|(?:interface|port) \S+ (?:is |went )?down)\b", re.I)
# What a client sees when the network under it fails: its connections dropped, reset or timed out.
CONNECTION_DROPPED = re.compile(r"\b(?:connection (?:terminated|closed|lost|dropped|reset|timed out)(?: unexpectedly)?|"
                                r"connection reset by peer|broken pipe|unexpected eof|econnreset|etimedout|"
                                r"no route to host|network is unreachable|host is unreachable)\b", re.I)

# A failure that only reports that a step failed (a build tool, a test runner, a CI job): the lines just before it,
# in the same file, say why (the linter's findings, the failed assertion, the compiler's error).
WRAPPER = re.compile(r"\b(?:invocationerror|commands? failed|returned non-zero exit status|non-zero exit|"
                     r"exit(?:ed)? with (?:exit )?(?:code|status) [1-9]\d*|exit (?:code|status):? [1-9]\d*|"
                     r"process completed with exit code|result: failure|build failed|job failed|"
                     r"error: command .{0,80} failed|make(?:\[\d+\])?: \*\*\*|elifecycle|"
                     r"failed with exit code|script returned exit code [1-9])", re.I)


def is_wrapper(text: str) -> bool:
    """A failure that only reports that a step failed; its cause is in the lines before it."""
    return bool(WRAPPER.search(text))


# A run's verdict: a CI job, build, test session, playbook, step or command that ended in failure, in the words of
# its runner (a result, an exit status, a summary's count of failures). Besides the wrappers above: Zuul's and
# Jenkins' "result: FAILURE" / "Finished: FAILURE", Maven's "BUILD FAILURE", "Tests FAILED", "cmd failed", "Bad exit
# status from ...", a child's "return code was: 1", ansible's PLAY RECAP "failed=1" / "unreachable=1", pytest's
# "== 1 failed, 3 passed in 2.1s ==", unittest's "FAILED (failures=1)", npm's "npm ERR!", GitHub's "Process completed
# with exit code 1".
RUN_FAILED = re.compile(
    WRAPPER.pattern + r"|\b(?:result|status|conclusion|finished):? (?:failure|failed)\b|\bbuild failure\b|"
    r"\b(?:build|job|run|pipeline|workflow|stage|step|task|play|deploy(?:ment)?|tests?|test run|test suite|check|"
    r"command|cmd|script)s? (?:has |have )?failed\b|\bbad exit status\b|"
    r"\breturn(?:ed)? code(?: was)?:? [1-9]\d*\b|\bexit(?:ed)? (?:with )?(?:code|status)[ =:'\"]+[1-9]\d*\b|"
    # Travis' "The command \"npm test\" exited with 1.", Jenkins' "Finished: UNSTABLE" (tests failed)
    r"\bexited with [1-9]\d*(?=\.?\s*$)|\bfinished: unstable\b|"
    r"\b(?:failed|unreachable)=[1-9]\d*\b|\b\d+ failed\b(?:, \d+ \w+)* in \d|\bfailed \((?:failures|errors)=\d|"
    r"\bnpm err!|\bmarked (?:the )?build as fail(?:ure|ed)\b|"
    # Zuul v3's "RUN END RESULT_FAILURE: [untrusted : ...]", a recap written "ok: 5 changed: 2 unreachable: 0 failed: 1"
    r"\bresult_(?:failure|timed_out|post_failure)\b|\bok:? ?\d+\b.{0,80}?\b(?:failed|unreachable):? ?[1-9]\d*\b", re.I)
# A verdict that the run (or the step retried after the failure) passed in the end: after it, the run did not fail.
RUN_PASSED = re.compile(r"\b(?:result|status|conclusion|finished):? (?:success|succeeded|passed)\b|"
                        r"\bbuild succe(?:ss|ssful|eded)\b|\b(?:job|pipeline|workflow|run|build) (?:succeeded|passed)\b",
                        re.I)
# A compiler's or linter's finding: "logreduce/models.py:76:1: E305 expected 2 blank lines ..." (flake8, pylint,
# mypy, eslint, gcc, go build, rustc): a file, a line and a column, or a file and a line then a code or a severity.
# In a failed run's last block it is the failing step's output, whatever its words ("undefined: redis.NewClient").
DIAGNOSTIC = re.compile(r"(?:^|\s)[\w./\\-]+\.\w{1,6}:\d+(?::\d+:?\s+\S|:?\s+(?:\[?[A-Z]{1,4}\d{2,5}\b\]?|error\b|"
                        r"fatal\b))")


def run_verdict(text: str) -> str | None:
    """"failed" when a line says the run (job, build, step, command, test session) failed, "passed" when it says it
    passed, else None."""
    if RUN_FAILED.search(text):
        return "failed"
    if RUN_PASSED.search(text):
        return "passed"
    return None


def reads_healthy(text: str) -> bool:
    """A message that says things are fine ("disk usage / 45% ok", "backup succeeded", "no errors found")."""
    return bool(_NEGATED.search(text))


# A time written inside a message ("expires 2025-07-25T16:30:00Z", "notAfter=Jul 25 16:30:00 2025 GMT"): a line
# that announces when something will happen (a certificate or token expiring, a maintenance window, a scheduled
# cut-over). Only times that carry their year: a bare "16:30" could be any day.
_ISO_IN_TEXT = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
                          r"\s?(Z|UTC|GMT|[+-]\d{2}:?\d{2})?", re.I)
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_OPENSSL_IN_TEXT = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(\d{1,2}) (\d{2}):(\d{2}):(\d{2})"
                              r" (\d{4})(?: (GMT|UTC))?\b", re.I)


def times_in_text(text: str) -> list[float]:
    """Epoch seconds of the dated times written in a message (ISO 8601, openssl's `Jul 25 16:30:00 2025 GMT`);
    a time without a zone is read as UTC, as the engine reads zone-less stamps."""
    out: list[float] = []
    for m in _ISO_IN_TEXT.finditer(text):
        y, mo, d, h, mi = (int(m.group(i)) for i in range(1, 6))
        tz = UTC
        zone = (m.group(7) or "").upper()
        if zone and zone not in ("Z", "UTC", "GMT"):
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        try:
            out.append(datetime(y, mo, d, h, mi, int(m.group(6) or 0), tzinfo=tz).timestamp())
        except ValueError:
            continue
    for m in _OPENSSL_IN_TEXT.finditer(text):
        try:
            out.append(datetime(int(m.group(6)), _MONTHS[m.group(1).lower()], int(m.group(2)), int(m.group(3)),
                                int(m.group(4)), int(m.group(5)), tzinfo=UTC).timestamp())
        except ValueError:
            continue
    return out
