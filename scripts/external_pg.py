"""Start or stop a standalone PostgreSQL (from the pgserver wheel) on 127.0.0.1 with a password.

Used by .ci/run for the external-database path; prints the SQLAlchemy URL on start.
    python scripts/external_pg.py start DIR PORT PASSWORD
    python scripts/external_pg.py stop DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from mspclaw.database.embedded import TcpPostgres


def main(argv: list[str]) -> int:
    if len(argv) >= 4 and argv[0] == "start":
        server = TcpPostgres(Path(argv[1]).resolve(), int(argv[2]), argv[3])
        print(server.start())
        return 0
    if len(argv) == 2 and argv[0] == "stop":
        TcpPostgres(Path(argv[1]).resolve(), 0, "").stop()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
