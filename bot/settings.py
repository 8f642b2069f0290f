"""Settings from environment variables (and a .env file in the working directory)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Shipped with the package (package data): found the same in the source tree and in a wheel.
DEFAULT_PROGRAMME_FILE = Path(__file__).resolve().parent / "data" / "programme.toml"
# What the bot writes (the SQLite databases, the development data key) goes under var/ in the
# working directory: the repository's root for `make run`, wherever an installed `peduli` runs.
VAR_DIR = Path("var")
# Telegram's bulk limits per bot, messages a second: free, and with paid broadcasts (Stars).
FREE_BROADCAST_CEILING = 30
PAID_BROADCAST_CEILING = 1000
DEFAULT_BROADCAST_RATE = 25.0  # leaves 5/s of the free 30 to replies
# The Telegram frameworks the bot runs on (bot.hosting): aiogram, or python-telegram-bot.
TransportName = Literal["aiogram", "ptb"]
TRANSPORT_NAMES: tuple[TransportName, ...] = ("aiogram", "ptb")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str | None = Field(default=None, description="Token from @BotFather.")
    transport: TransportName = Field(
        default="aiogram",
        description="The Telegram framework: aiogram or ptb (python-telegram-bot).",
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org", description="Bot API base URL, without /bot<token>."
    )
    database_url: str = Field(
        default="sqlite:///var/peduli.sqlite3",
        description="SQLAlchemy URL; PostgreSQL: postgresql+psycopg://user@host/db",
    )
    redis_url: str | None = Field(
        default=None, description="Sessions, locks and de-duplication in Redis when set."
    )
    redis_prefix: str = Field(
        default="peduli:", description="Key prefix in Redis; the bot's id is appended."
    )
    turn_timeout_seconds: float = Field(
        default=15.0,
        gt=1.0,
        description="Time for a turn up to its commit; beyond it the user is told 'busy'.",
    )
    redis_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Time limit of each Redis command and connection."
    )
    admin_ids: str = Field(default="", description="Comma-separated Telegram user ids of admins.")
    data_key: str | None = Field(
        default=None, description="Base64 key (32 bytes) sealing NIK, NIP and phone numbers."
    )
    data_key_old: str | None = Field(
        default=None,
        description="The previous DATA_KEY while rotating: data sealed with it stay readable.",
    )
    data_key_file: Path = Field(
        default=VAR_DIR / "dev-data-key",
        description="Where a development key is generated when DATA_KEY is unset.",
    )
    webhook_url: str | None = Field(default=None, description="Public HTTPS URL of the webhook.")
    webhook_secret: str | None = Field(default=None, description="Secret token Telegram echoes.")
    webhook_listen: str = Field(default="0.0.0.0:8080", description="host:port to listen on.")
    webhook_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Webhook server processes on WEBHOOK_LISTEN (SO_REUSEPORT), one per core; "
        "more than 1 needs PostgreSQL and REDIS_URL (bot.processes).",
    )
    playground_database_url: str = Field(
        default="sqlite:///var/playground.sqlite3",
        description="The database of `peduli playground`, kept apart from real data.",
    )
    invitation_days: int = Field(
        default=14, ge=1, description="Days a worker's invitation link stays valid."
    )
    announcement_approval_threshold: int = Field(
        default=1000,
        ge=0,
        description="Announcements to more people than this need a second superadmin's approval.",
    )
    programme_file: Path = Field(default=DEFAULT_PROGRAMME_FILE)
    log_level: str = "INFO"
    reminder_interval_seconds: float = Field(
        default=60.0, gt=0, description="Seconds between two rounds of the reminder scheduler."
    )
    # The delivery engine's (bot.delivery) bulk rate per bot token: Telegram allows about 30
    # messages a second; 25 leaves the rest to replies to the people talking to the bot.
    broadcast_rate: float | None = Field(
        default=None,
        gt=0,
        description="Bulk messages a second (announcements, reminders, notifications): 25 by "
        "default, at most 30; with PAID_BROADCAST=1 1000 by default, at most 1000.",
    )
    paid_broadcast: bool = Field(
        default=False,
        description="Telegram's paid broadcasts (allow_paid_broadcast, Stars): up to 1000/s.",
    )

    @model_validator(mode="after")
    def _broadcast_rate_within_telegram_limit(self) -> Settings:
        ceiling = PAID_BROADCAST_CEILING if self.paid_broadcast else FREE_BROADCAST_CEILING
        if self.broadcast_rate is not None and self.broadcast_rate > ceiling:
            raise ValueError(
                f"BROADCAST_RATE {self.broadcast_rate:g} is above Telegram's limit of "
                f"{ceiling} messages a second"
                + ("" if self.paid_broadcast else " (PAID_BROADCAST=1 allows up to 1000)")
            )
        return self

    def for_playground(self) -> Settings:
        """These settings pointed at the playground's database (PLAYGROUND_DATABASE_URL), without
        Redis: what `peduli playground`, `peduli demo` and every `--playground` command use."""
        return self.model_copy(
            update={"database_url": self.playground_database_url, "redis_url": None}
        )

    @property
    def delivery_rate(self) -> float:
        """The delivery engine's budget, messages a second."""
        if self.broadcast_rate is not None:
            return self.broadcast_rate
        return float(PAID_BROADCAST_CEILING) if self.paid_broadcast else DEFAULT_BROADCAST_RATE

    @property
    def admin_id_set(self) -> frozenset[int]:
        return frozenset(int(part) for part in self.admin_ids.replace(" ", "").split(",") if part)


TOKEN_MISSING = (
    "BOT_TOKEN is not set.\n"
    "Create a bot with @BotFather in Telegram, then put its token in a file named .env:\n"
    "    BOT_TOKEN=123456789:AA...\n"
    "and run this command again. See README.md, 'Connecting a real bot'."
)

#: Telegram's rule for setWebhook's secret_token.
WEBHOOK_SECRET_FORM = re.compile(r"[A-Za-z0-9_-]{1,256}")


def webhook_secret_problem(secret: str | None, *, insecure_no_secret: bool = False) -> str | None:
    """Why the webhook must not start with this secret, or None. Never quotes the secret."""
    if not secret:
        if insecure_no_secret:
            return None
        return (
            "WEBHOOK_SECRET is not set. Without it anyone who finds the webhook address can send\n"
            "updates as any user, admins included. Put a random secret in .env, for example the\n"
            "output of:  python -c 'import secrets; print(secrets.token_urlsafe(32))'\n"
            "    WEBHOOK_SECRET=...\n"
            "and run this command again.\n"
            "(For a local test only, without any protection: peduli webhook --insecure-no-secret)"
        )
    if not WEBHOOK_SECRET_FORM.fullmatch(secret):
        return (
            f"WEBHOOK_SECRET is not valid ({len(secret)} characters): Telegram accepts 1 to 256\n"
            "characters of A-Z, a-z, 0-9, _ and - only. Make a new one, for example with:\n"
            "    python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return None


def webhook_problem(settings: Settings, *, insecure_no_secret: bool = False) -> str | None:
    """Why `peduli webhook` must not start with these settings (what to do), or None."""
    if not settings.bot_token:
        return TOKEN_MISSING
    if not settings.webhook_url:
        return "WEBHOOK_URL is not set: the public HTTPS address Telegram posts to."
    return webhook_secret_problem(settings.webhook_secret, insecure_no_secret=insecure_no_secret)
