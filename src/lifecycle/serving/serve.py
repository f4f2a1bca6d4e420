"""The prediction service's command (``lifecycle serve``): the app of ``serving.app`` over a registered model.

Loads the model (a version, an alias: ``--model churn@challenger``, or the champion) and an optional shadow,
checks that the service may start on this host with this token (``serve_guard``), and runs it with
uvicorn. ``--workers N`` runs N processes (uvicorn's supervisor), each loading and verifying the
model once and starting its scoring process. SIGTERM or Ctrl-C: stop accepting, finish
what is queued, drain the log into the store (for up to 10 s; the rest stays in the spool
for the next start), exit (0 with several workers; with one, uvicorn re-raises the signal it caught).

    python -m lifecycle.serving.serve [--model NAME[@ALIAS]] [--version V] [--shadow V|ALIAS]
                              [--host HOST] [--port N] [--workers N]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
from typing import Any

from fastapi import FastAPI

from lifecycle import registry
from lifecycle.core.params import ParamsError, resolve
from lifecycle.modeling import scoring
from lifecycle.serving import guard as serve_guard
from lifecycle.serving.app import create_app
from lifecycle.serving.request_schema import Contract
from lifecycle.serving.service import Service

log = logging.getLogger("lifecycle.serving.serve")
# A worker answers uvicorn's supervisor only once it has loaded and verified the model and started its scoring
# process: seconds on a quiet machine, more on a busy one, where uvicorn's 5 s would kill and restart it forever.
WORKER_START_S = 120
CONFIG_VARIABLE = "LIFECYCLE_SERVE_CONFIG"  # how the parent hands its choices to worker processes


def _parser(serving: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifecycle serve",
        description="Serve a registered model over HTTP (defaults from serving: in params/project.yaml).",
    )
    parser.add_argument(
        "--model",
        default=serving["model"],
        metavar="NAME[@ALIAS]",
        help="registered model to serve, or one of its aliases (churn@challenger; default: NAME@champion)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V", help="a version number instead of an alias")
    which.add_argument("--stage", metavar="STAGE", help=argparse.SUPPRESS)  # deprecated: --model NAME@ALIAS
    parser.add_argument(
        "--shadow",
        default=serving["shadow"],
        metavar="V",
        help="a version, an alias (challenger), latest or none: scored alongside and logged, never returned",
    )
    parser.add_argument("--host", default=serving["host"])
    parser.add_argument("--port", type=int, default=serving["port"])
    parser.add_argument(
        "--workers",
        type=_positive,
        default=serving["workers"],
        metavar="N",
        help="worker processes, each loading and verifying the model once",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--no-access-log", dest="access_log", action="store_false", help="no line per request")
    return parser


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def _shadow(name: str, choice: Any, served: scoring.Scorer) -> scoring.Scorer | None:
    """The shadow scorer, or None (with a warning) when it is unset, not found, the served version,
    or cannot score a record the served model accepts: a shadow never stops the service."""
    if choice in (None, "none", "None", ""):
        return None
    if str(choice) in registry.FROM_STAGE:
        log.warning("shadow %s: stages are aliases now; shadowing %s", choice, registry.FROM_STAGE[str(choice)])
        choice = registry.FROM_STAGE[str(choice)]
    try:
        if str(choice) == "latest":
            shadow = scoring.load(name, version=int(registry.versions(name).index.max()))
        elif str(choice).isdigit():
            shadow = scoring.load(name, version=choice)
        else:
            shadow = scoring.load(name, alias=str(choice))
        contract = Contract(served.schema)
        scoring.score(shadow, contract.frame([contract.example()]))
    except Exception as exc:  # noqa: BLE001  (any failure of the shadow: serve without one, say why)
        log.warning("no shadow: %s (shadow: %s); serving without one", " ".join(str(exc).split()), choice)
        return None
    if shadow.version == served.version:
        log.warning("no shadow: shadow %s is version %d, the served version itself", choice, served.version)
        return None
    return shadow


def build(config: dict) -> FastAPI:
    """The app for ``config`` (the parsed command line plus the serving and store params); the token
    is read from the environment here, in each worker, never passed around."""
    alias = config["alias"] or (None if config["version"] is not None else registry.CHAMPION)
    scorer = scoring.load(config["model"], version=config["version"], alias=alias)
    shadow = _shadow(config["model"], config["shadow"], scorer)
    serving, store = config["serving"], config["store"]
    return create_app(
        scorer,
        shadow=shadow,
        store_url=store["url"],
        table=store["predictions_table"],
        **{key: serving[key] for key in SETTINGS},
        token=serve_guard.token_from(os.environ, serving),
        allowed_hosts=serve_guard.allowed_hosts(config["host"], serving),
    )


SETTINGS = (
    "max_records",
    "max_body_bytes",
    "domain",
    "max_batch_rows",
    "max_wait_ms",
    "max_queue_rows",
    "timeout_ms",
    "scoring_deadline_ms",
    "max_string_length",
    "publish_domain",
    "docs",
    "body_timeout_s",
)  # serving: keys create_app takes as is


def worker_app() -> FastAPI:
    """The app of one worker process (``--workers N``): the parent's choices come in ``CONFIG_VARIABLE``."""
    config = json.loads(os.environ[CONFIG_VARIABLE])
    logging.basicConfig(level=config["log_level"].upper(), format="%(levelname)-9s %(name)s: %(message)s")
    app = build(config)
    _freeze()
    return app


def _freeze() -> None:
    gc.collect()
    gc.freeze()  # the model and libraries are permanent: a full collection then takes ~10 ms, not ~200 ms


def main(argv: list[str] | None = None) -> int:
    """Run the service until SIGTERM or Ctrl-C (then finish what is queued, drain the log, exit 0);
    2 (one line on stderr) when the model cannot be served."""
    import uvicorn

    try:
        settings = resolve(["00_problem_definition"])["00_problem_definition"]
    except ParamsError as exc:
        print(f"lifecycle serve: bad parameters\n{exc}", file=sys.stderr)
        return 2
    serving, store = settings["serving"], settings["store"]
    args = _parser(serving).parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)-9s %(name)s: %(message)s")
    try:
        name, alias = _which(args)
    except registry.RegistryError as exc:
        print(f"lifecycle serve: {exc}", file=sys.stderr)
        return 2
    config = {
        "model": name,
        "version": args.version,
        "alias": alias,
        "shadow": args.shadow,
        "host": args.host,
        "serving": serving,
        "store": store,
        "log_level": args.log_level,
    }
    token = serve_guard.token_from(os.environ, serving)
    exposed = serve_guard.exposure_problem(args.host, token, serving)
    if exposed:
        print(f"lifecycle serve: {exposed}", file=sys.stderr)
        return 2
    try:
        app = build(config)  # verified here once, so a model that cannot be served stops us with one line
    except (ValueError, OSError, KeyError) as exc:  # RegistryError is a ValueError
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(f"lifecycle serve: cannot serve model '{name}': {reason}", file=sys.stderr)
        return 2
    _say_serving(app.state.service, args, config, guarded=bool(token))
    options = _server_options(args, serving)
    if args.workers == 1:
        _freeze()
        uvicorn.run(app, **options)
        return 0
    del app  # the workers load their own; this process only supervises them
    with tempfile.TemporaryDirectory(prefix="lifecycle-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ[CONFIG_VARIABLE] = json.dumps(config)
        _run_workers(
            uvicorn.Config(
                "lifecycle.serving.serve:worker_app",
                factory=True,
                workers=args.workers,
                timeout_worker_healthcheck=WORKER_START_S,
                **options,
            )
        )
    return 0


def _which(args: argparse.Namespace) -> tuple[str, str | None]:
    """The model's name and alias from ``--model NAME[@ALIAS]`` (or the deprecated ``--stage``)."""
    name, alias = registry.parse_reference(args.model)
    if args.stage is not None:
        if args.stage not in registry.FROM_STAGE or alias:
            raise registry.RegistryError(
                f"--stage {args.stage}: stages are aliases now; serve one with --model {name}@ALIAS "
                "(champion, challenger or your own)"
            )
        alias = registry.FROM_STAGE[args.stage]
        print(
            f"lifecycle serve: --stage is deprecated, stages are aliases now; serving {name}@{alias} "
            f"(use --model {name}@{alias})",
            file=sys.stderr,
        )
    if alias and args.version is not None:
        raise registry.RegistryError(f"give --version or --model {name}@{alias}, not both")
    return name, alias


def _say_serving(service: Service, args: argparse.Namespace, config: dict, *, guarded: bool) -> None:
    """One log line: what is served where, by how many workers, guarded how, and where predictions go."""
    shadowed = f", shadow version {service.shadow.version}" if service.shadow else ""
    log.info(
        "serving %s version %d%s on http://%s:%d with %d worker(s), %s, %s; predictions logged to "
        "table '%s' at %s through the spool %s",
        service.scorer.name,
        service.scorer.version,
        shadowed,
        args.host,
        args.port,
        args.workers,
        "a bearer token" if guarded else "no token",
        "docs at /docs" if config["serving"]["docs"] else "no docs",
        config["store"]["predictions_table"],
        service.store.shown,
        service.store.folder,
    )


def _server_options(args: argparse.Namespace, serving: dict) -> dict:
    """uvicorn's options: where to listen, how to log, how long a graceful shutdown may take, the guard's."""
    return {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": args.access_log,
        "timeout_graceful_shutdown": serving["timeout_ms"] / 1000 + 10,
        **serve_guard.server_options(serving),
    }


def _run_workers(config) -> None:
    """uvicorn's multi-process supervisor on a listening socket made here, not by ``Config.bind_socket``.

    That one is made without ``IPPROTO_TCP``, so asyncio skips ``TCP_NODELAY`` on the connections
    it accepts, and Nagle's algorithm meets the client's delayed ACK: ~40 ms added to every
    response sent in two writes (measured: p50 68 ms instead of 22 ms at concurrency 1).
    """
    import socket

    from uvicorn.supervisors import Multiprocess

    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"lifecycle serve: cannot listen on {config.host}:{config.port} ({exc.strerror})") from None
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
