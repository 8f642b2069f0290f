"""`peduli keys check` and `peduli keys rotate`: the data key against the database.

check: whether DATA_KEY (and DATA_KEY_OLD) fit the database; writes nothing. Exit 0 when the bot
would start, 1 when it would refuse (the reason and what to do on stderr), 2 when the database
cannot be used (not migrated).

rotate: re-seals every sealed value and recomputes every blind index under DATA_KEY (the data
may be under DATA_KEY_OLD), in one transaction, records DATA_KEY, then re-seals the Redis
sessions when REDIS_URL is set (BOT_TOKEN is needed then: the keys carry the bot's id). Run it
with the bot stopped. Safe to run again. Exit 0 when done, 1 when refused (nothing changed), 2
when the database or Redis cannot be used.

No aiogram, no programme file (bot.storage.keys).
"""

from __future__ import annotations

import sys
from typing import TextIO

import redis
from sqlalchemy import Engine

from bot.security.crypto import DataKeyError, Sealer, key_id_for
from bot.settings import Settings
from bot.storage.db import create_db_engine, not_migrated, shown_url
from bot.storage.keys import (
    RotationReport,
    inspect_keys,
    redis_session_prefix,
    reseal_redis_sessions,
    rotate,
)


def _not_migrated(engine: Engine, err: TextIO) -> bool:
    problem = not_migrated(engine)
    if problem is not None:
        print(problem, file=err)
    return problem is not None


def check(
    settings: Settings | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    settings = settings or Settings()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    engine = create_db_engine(settings.database_url)
    try:
        if _not_migrated(engine, err):
            return 2
        try:
            with engine.connect() as connection:  # reads only
                state = inspect_keys(settings, connection)
        except DataKeyError as error:
            print(f"peduli: {error}\n(the database: {shown_url(settings.database_url)})", file=err)
            return 1
        if state.to_record:
            print(
                f"DATA_KEY (key {key_id_for(state.key)}) fits this database, which records no"
                " key yet: the bot records it at its next start.",
                file=out,
            )
        else:
            print(f"DATA_KEY (key {key_id_for(state.key)}) is the database's key.", file=out)
        if state.old_key is not None:
            print(
                f"DATA_KEY_OLD (key {key_id_for(state.old_key)}) is set: remove it once"
                " `peduli keys rotate` has run; keep it with the backups made before.",
                file=out,
            )
        return 0
    finally:
        engine.dispose()


def rotate_command(
    settings: Settings | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    settings = settings or Settings()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    engine = create_db_engine(settings.database_url)
    try:
        if _not_migrated(engine, err):
            return 2
        redis_url = settings.redis_url
        if redis_url and not settings.bot_token:
            print(
                "REDIS_URL is set but BOT_TOKEN is not: the bot's sessions in Redis are found by"
                " the bot's id, from its token. Set BOT_TOKEN as for `peduli run`.",
                file=err,
            )
            return 2
        prefix = redis_session_prefix(settings.redis_prefix, settings.bot_token)

        def redis_sessions(sealer: Sealer, report: RotationReport) -> None:
            if not redis_url:
                return
            client = redis.Redis.from_url(redis_url)
            try:
                reseal_redis_sessions(client, prefix, sealer, report)
            finally:
                client.close()

        try:
            report = rotate(settings, engine, redis_sessions=redis_sessions)
        except DataKeyError as error:
            print(f"peduli: {error}\n(the database: {shown_url(settings.database_url)})", file=err)
            return 1
        except redis.RedisError as error:
            print(
                f"peduli: the database was re-sealed under DATA_KEY, but the Redis sessions were"
                f" not ({type(error).__name__}: {error}); run `peduli keys rotate` again.",
                file=err,
            )
            return 1
        out.write(report.render())
        out.flush()
        return 0
    finally:
        engine.dispose()
