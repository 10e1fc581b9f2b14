"""`tunebook serve`: the read-only web dashboard of the study."""

from __future__ import annotations

import typer

from tunebook.cli.output import ProjectOption, StoreOption, err_console


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(project: str = ProjectOption, store: str = StoreOption,
              host: str = typer.Option("127.0.0.1", help="Address to bind. Anything but a "
                                       "loopback address needs a token."),
              port: int = typer.Option(8765, help="Port (0 picks a free one)."),
              token: str = typer.Option(None, "--token", envvar="TUNEBOOK_SERVE_TOKEN",
                                        help="Require this token on every request "
                                             "(?token=..., a cookie, or a Bearer header).")
              ) -> None:
        """Serve a read-only dashboard of the project: checklist, rounds, live trials, plots."""
        import socket
        from pathlib import Path

        from tunebook.core.errors import MissingExtraError, SpecError

        try:
            import uvicorn
        except ImportError:
            raise MissingExtraError("uvicorn", "ui") from None
        try:
            import starlette  # noqa: F401
        except ImportError:
            raise MissingExtraError("starlette", "ui") from None
        from tunebook.serve.access import access_for
        from tunebook.serve.app import create_app

        if not 0 <= port <= 65535:
            raise SpecError("--port", "an int from 0 to 65535", port)
        access = access_for(host, token)
        app_ = create_app(Path(project), store, access)
        # Bind first, so a port in use is one line (exit 2), not a server traceback.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise SpecError("--port", f"a free port on {host}", port, exc.strerror or str(exc)
                            ) from None
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        err_console.print(f"tunebook dashboard on http://{shown}:{bound}/ "
                          f"({'token required' if access.token else 'loopback only'}); "
                          "Ctrl-C stops it", markup=False, highlight=False)
        config = uvicorn.Config(app_, log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
