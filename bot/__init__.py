"""Everything that touches the world: storage, transports, command line; wired in bot.app."""
