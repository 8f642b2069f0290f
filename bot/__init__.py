"""Everything that touches the world: storage, Telegram transports, command line, wired in bot.app."""
