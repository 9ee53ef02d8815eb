"""The ``mspclaw-agent`` command: enroll, run, status.

Plain argparse so the agent distribution stays small (no CLI framework dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path

from mspclaw_agent import __version__
from mspclaw_agent.connection import EXIT_REVOKED, AgentConnection, AgentRevoked, Backoff
from mspclaw_agent.enroll import EnrolmentError, collect_facts, enrol
from mspclaw_agent.state import AgentStateError, StateStore, default_state_dir

EXIT_NOT_ENROLLED = 2


def _store(args: argparse.Namespace) -> StateStore:
    return StateStore(Path(args.state_dir) if args.state_dir else default_state_dir())


def cmd_enroll(args: argparse.Namespace) -> int:
    """Exchange an enrolment token for this device's own credential."""
    store = _store(args)
    try:
        state = enrol(args.server, args.token, facts=collect_facts())
        path = store.save_state(state)
    except EnrolmentError as exc:
        print(f"enrolment failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot write state to {store.directory}: {exc}", file=sys.stderr)
        return 1
    print(f"enrolled as device {state.device_id}; state saved to {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Connect to the gateway and serve until revoked or stopped."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    store = _store(args)
    try:
        state = store.load_state()
        store.ensure()
    except AgentStateError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_NOT_ENROLLED
    connection = AgentConnection(
        state,
        store,
        backoff=Backoff(initial=args.min_backoff, maximum=args.max_backoff),
        heartbeat_seconds=args.heartbeat,
    )
    try:
        asyncio.run(connection.run_forever())
    except AgentRevoked as exc:
        print(f"stopping: {exc}", file=sys.stderr)
        return EXIT_REVOKED
    except KeyboardInterrupt:
        return 0
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Show enrolment and outbox state (never the credential)."""
    store = _store(args)
    try:
        state = store.load_state()
    except AgentStateError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_NOT_ENROLLED
    info = {
        "agent_version": __version__,
        "state_dir": str(store.directory),
        "server_url": state.server_url,
        "gateway_url": state.gateway_url,
        "device_id": state.device_id,
        "enrolled_at": state.enrolled_at.isoformat(),
        "undelivered_results": len(store.pending_results()),
    }
    print(json.dumps(info, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so tests and docs can inspect it)."""
    parser = argparse.ArgumentParser(
        prog="mspclaw-agent",
        description="MSPclaw endpoint agent: runs allow-listed tools for your MSP, no shell.",
    )
    parser.add_argument("--version", action="version", version=f"mspclaw-agent {__version__}")
    parser.add_argument(
        "--state-dir",
        help="where enrolment and the result outbox live (default: per-OS service location, "
        "or $MSPCLAW_AGENT_STATE_DIR)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p_enroll = sub.add_parser("enroll", help="enrol this device with an MSPclaw server")
    p_enroll.add_argument("--server", required=True, help="server URL, e.g. https://msp.example")
    p_enroll.add_argument("--token", required=True, help="enrolment token from your MSP")
    p_enroll.set_defaults(func=cmd_enroll)

    p_run = sub.add_parser("run", help="connect to the gateway and serve (what the service runs)")
    p_run.add_argument("--min-backoff", type=float, default=1.0, help="first reconnect delay (s)")
    p_run.add_argument("--max-backoff", type=float, default=300.0, help="longest reconnect delay")
    p_run.add_argument("--heartbeat", type=float, default=None, help="heartbeat interval (s); default: server's")
    p_run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p_run.set_defaults(func=cmd_run)

    p_status = sub.add_parser("status", help="show enrolment and undelivered results")
    p_status.set_defaults(func=cmd_status)
    return parser


def _join_token(argv: list[str]) -> list[str]:
    """``--token X`` -> ``--token=X``: URL-safe tokens may start with '-', which argparse
    would otherwise take for an option."""
    joined: list[str] = []
    index = 0
    while index < len(argv):
        if argv[index] == "--token" and index + 1 < len(argv):
            joined.append(f"--token={argv[index + 1]}")
            index += 2
        else:
            joined.append(argv[index])
            index += 1
    return joined


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mspclaw-agent`` console script."""
    args = build_parser().parse_args(_join_token(sys.argv[1:] if argv is None else argv))
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
