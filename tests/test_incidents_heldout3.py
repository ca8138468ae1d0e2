"""Engine and reader rules found on a third set of hand-written held-out folders (a storage controller fault under
NFS, a queue consumer's crash, a CoreDNS forwarder change, a cron'd ALTER TABLE) and on quiet public logs: each
test builds a small synthetic input of its own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from detectors.events import ReadStats
from detectors.readers import read_events


def test_php_fpm_and_tomcat_day_month_year_stamps_are_read(tmp_path: Path) -> None:
    """php-fpm / PHP's error_log ('[05-Dec-2026 10:48:02]') and Tomcat's catalina.out ('05-Dec-2026 10:48:02.123')
    write the day, a month name and the year with dashes; such files were read with no time at all."""
    fpm = tmp_path / "php8.2-fpm.log"
    fpm.write_text("[05-Dec-2026 10:48:02] WARNING: [pool www] server reached pm.max_children setting (48)\n"
                   "[05-Dec-2026 10:48:05] NOTICE: [pool www] child 2311 started\n"
                   "[05-Dec-2026 10:49:00 UTC] PHP Fatal error:  Uncaught Error: Call to a member function\n")
    cat = tmp_path / "catalina.out"
    cat.write_text("05-Dec-2026 10:48:02.123 INFO [main] org.apache.catalina.startup.Catalina.start Server started\n"
                   "05-Dec-2026 10:48:09.500 SEVERE [main] org.apache.catalina.core.StandardContext.startInternal "
                   "One or more listeners failed to start\n")
    stats = ReadStats()
    evs = list(read_events([str(fpm), str(cat)], stats=stats))
    want = datetime(2026, 12, 5, 10, 48, 2, tzinfo=UTC).timestamp()
    by = {(e.source.rsplit("/", 1)[-1], e.line): e for e in evs}
    assert by[("php8.2-fpm.log", 1)].ts == want and by[("php8.2-fpm.log", 1)].level == "WARN"
    assert by[("php8.2-fpm.log", 3)].ts == want + 58 and by[("php8.2-fpm.log", 3)].text.startswith("PHP Fatal")
    assert by[("catalina.out", 1)].ts == want + 0.123
    assert by[("catalina.out", 2)].level == "ERROR"
