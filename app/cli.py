"""The ``fineline`` command: serve, worker, migrate, create-admin."""

from __future__ import annotations

import asyncio
import logging
import os

import typer

from app.config import Settings
from app.vocab.roles import Role

app = typer.Typer(help="Fineline: SMS campaigns from verified company senders, to opted-in people only.",
                  no_args_is_help=True, add_completion=False)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable that is wrong
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _startable_settings() -> Settings:
    """The settings for a long-running service (serve, worker): refused when unsafe to start with."""
    settings = _settings()
    problem = settings.startup_problem()
    if problem:
        typer.echo(f"configuration error: {problem}", err=True)
        raise typer.Exit(2)
    return settings


@app.command()
def migrate(revision: str = typer.Argument("head", help="the revision to upgrade to")) -> None:
    """Bring the database schema to the latest migration (or REVISION)."""
    from app.db import migrations

    settings = _settings()
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, help="port to bind"),
    workers: int = typer.Option(1, help="uvicorn worker processes"),
    migrate_first: bool = typer.Option(None, "--migrate/--no-migrate",
                                       help="run migrations on start (default: yes on SQLite)"),
) -> None:
    """Run the API (and, with FINELINE_WORKER=inline, the worker loop inside it)."""
    import uvicorn

    from app.db import migrations

    settings = _startable_settings()
    if migrate_first if migrate_first is not None else settings.is_sqlite:
        migrations.upgrade(settings.database_url)
    logging.basicConfig(level=settings.log_level)
    uvicorn.run("app.asgi:app", host=host, port=port, workers=workers, log_level=settings.log_level.lower(),
                proxy_headers=True, forwarded_allow_ips=settings.trusted_proxies,
                access_log=settings.log_level.upper() == "DEBUG")


@app.command()
def worker(
    nice: int = typer.Option(0, envvar="FINELINE_WORKER_NICE", min=0, max=19,
                             help="lower this process's CPU priority by N (0-19): on a host it shares with "
                                  "the API, STOPs and status callbacks get the CPU before sends do"),
) -> None:
    """Run a dispatch worker process (PostgreSQL runs any number of them)."""
    from app.ops.runtime import tune_gc
    from app.worker import run_worker

    settings = _startable_settings()
    logging.basicConfig(level=settings.log_level)
    if nice:  # sending is throughput work; a STOP waiting for a CPU behind it is the guard waiting
        os.nice(nice)
    tune_gc()
    try:  # uvloop carries more requests in flight per core (docs/transport.md)
        import uvloop

        uvloop.run(run_worker(settings, handle_signals=True))
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(run_worker(settings, handle_signals=True))


@app.command("create-admin")
def create_admin(email: str, name: str = typer.Option("Administrator", help="the admin's display name")) -> None:
    """Create an admin user and print its API key as the last line."""
    from app.db import Database
    from app.errors import AppError
    from app.users import service

    settings = _settings()

    async def _create() -> str:
        db = Database.from_url(settings.database_url)
        try:
            async with db.unit_of_work() as session:
                user, _, plaintext = await service.create_user(
                    session, email=email, name=name, roles=[Role.ADMIN], actor=None
                )
                typer.echo(f"created admin {user.email} ({user.id}); the API key below is shown only once:")
                return plaintext
        finally:
            await db.dispose()

    try:
        key = asyncio.run(_create())
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(key)


@app.command()
def demo(audience: int = typer.Option(300, help="subscribers in the demo list"),
         wave: int = typer.Option(12, help="how many customers reply STOP")) -> None:
    """Tell the whole story on the embedded default: senders, consent, review, sending, a STOP wave,
    the alert firing and the campaign pausing."""
    from app.demo import run

    raise typer.Exit(run(audience=audience, wave=wave))


if __name__ == "__main__":  # pragma: no cover
    app()
