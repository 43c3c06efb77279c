"""Meta's Graph API versions: when each was released and when Meta retires it.

One table for the whole service: the deploy check (`pandorakart_wa.checks`: an error for a
retired WHATSAPP_API_VERSION, a warning within RETIREMENT_WARNING_DAYS) and the dashboard (days
left for the configured version) read it. Meta publishes the dates on its "Graph API versions"
changelog page (SOURCE_URL); a version whose retirement Meta has not announced yet has
`retires=None`. When Meta announces a new version or a date, add it here with CHECKED_ON.

Checked on CHECKED_ON against SOURCE_URL's current copies (e.g. `?locale=de_DE`, `ja_JP`,
`id_ID`, which list v26.0 and the retirement dates below; the English copy stored with them was an
older one, v25.0 newest and every date from v21.0 on "TBD"). The gateway itself is verified
against Meta's OpenAPI file, which Meta publishes for v23.0 only (tests/gateway/test_api_version.py).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

SOURCE_URL = "https://developers.facebook.com/docs/graph-api/changelog/versions/"
CHECKED_ON = dt.date(2026, 12, 1)  # the day the table below was compared with SOURCE_URL
RETIREMENT_WARNING_DAYS = 90  # API.md, Operations: the deploy check warns 90 days ahead

VERSION_FORMAT = re.compile(r"^v(\d+)\.(\d+)$")


@dataclass(frozen=True)
class GraphApiVersion:
    name: str
    released: dt.date
    retires: dt.date | None  # None: Meta has not announced it yet ("TBD")


def _v(name: str, released: tuple[int, int, int], retires: tuple[int, int, int] | None) -> GraphApiVersion:
    return GraphApiVersion(name, dt.date(*released), dt.date(*retires) if retires else None)


# Newest first, as on Meta's page. Versions retired before v9.0 are left out: any version that
# is not listed and is older than the oldest one here is treated as retired.
GRAPH_API_VERSIONS: tuple[GraphApiVersion, ...] = (
    _v("v26.0", (2026, 7, 29), None),
    _v("v25.0", (2026, 2, 18), (2028, 7, 29)),
    _v("v24.0", (2025, 10, 8), (2028, 2, 18)),
    _v("v23.0", (2025, 5, 29), (2027, 10, 8)),
    _v("v22.0", (2025, 1, 21), (2027, 5, 20)),
    _v("v21.0", (2024, 10, 2), (2027, 1, 21)),
    _v("v20.0", (2024, 5, 21), (2026, 9, 24)),
    _v("v19.0", (2024, 1, 23), (2026, 5, 21)),
    _v("v18.0", (2023, 9, 12), (2026, 1, 26)),
    _v("v17.0", (2023, 5, 23), (2025, 9, 12)),
    _v("v16.0", (2023, 2, 2), (2025, 5, 14)),
    _v("v15.0", (2022, 9, 15), (2024, 11, 20)),
    _v("v14.0", (2022, 5, 25), (2024, 9, 17)),
    _v("v13.0", (2022, 2, 8), (2024, 5, 28)),
    _v("v12.0", (2021, 9, 14), (2024, 2, 8)),
    _v("v11.0", (2021, 6, 8), (2023, 9, 14)),
    _v("v10.0", (2021, 2, 23), (2023, 6, 8)),
    _v("v9.0", (2020, 11, 10), (2023, 2, 23)),
)
_BY_NAME = {v.name: v for v in GRAPH_API_VERSIONS}


class Lifecycle(StrEnum):
    AVAILABLE = "available"
    RETIRING_SOON = "retiring_soon"  # within RETIREMENT_WARNING_DAYS
    RETIRED = "retired"
    UNKNOWN = "unknown"  # well-formed but not in the table (newer than CHECKED_ON's knowledge)
    MALFORMED = "malformed"  # not "vNN.N"


@dataclass(frozen=True)
class VersionStatus:
    name: str
    lifecycle: Lifecycle
    version: GraphApiVersion | None
    days_left: int | None  # until Meta retires it (negative once retired); None when not announced

    @property
    def summary(self) -> str:
        if self.lifecycle is Lifecycle.MALFORMED:
            return f"{self.name!r} is not a Graph API version (expected vNN.N, e.g. v23.0)"
        if self.lifecycle is Lifecycle.UNKNOWN:
            return f"{self.name} is not in the table of Meta's versions (checked on {CHECKED_ON:%d %b %Y})"
        if self.version is None:  # older than the table
            return f"Meta retired {self.name} before {GRAPH_API_VERSIONS[-1].retires:%d %b %Y}"
        if self.version.retires is None:
            return f"{self.name} (released {self.version.released:%d %b %Y}); Meta has not announced its retirement"
        if self.lifecycle is Lifecycle.RETIRED:
            return f"Meta retired {self.name} on {self.version.retires:%d %b %Y}"
        return f"Meta retires {self.name} on {self.version.retires:%d %b %Y}, in {self.days_left} days"


def version_status(name: str, *, today: dt.date) -> VersionStatus:
    """Where `name` (e.g. "v23.0") stands on `today` in Meta's published lifecycle."""
    match = VERSION_FORMAT.match(name)
    if match is None:
        return VersionStatus(name, Lifecycle.MALFORMED, None, None)
    version = _BY_NAME.get(name)
    if version is None:
        oldest = GRAPH_API_VERSIONS[-1]
        oldest_match = VERSION_FORMAT.match(oldest.name)
        assert oldest_match is not None
        older = (int(match[1]), int(match[2])) < (int(oldest_match[1]), int(oldest_match[2]))
        return VersionStatus(name, Lifecycle.RETIRED if older else Lifecycle.UNKNOWN, None, None)
    if version.retires is None:
        return VersionStatus(name, Lifecycle.AVAILABLE, version, None)
    days_left = (version.retires - today).days
    if days_left <= 0:
        lifecycle = Lifecycle.RETIRED
    elif days_left <= RETIREMENT_WARNING_DAYS:
        lifecycle = Lifecycle.RETIRING_SOON
    else:
        lifecycle = Lifecycle.AVAILABLE
    return VersionStatus(name, lifecycle, version, days_left)


def newest_version() -> GraphApiVersion:
    return GRAPH_API_VERSIONS[0]
