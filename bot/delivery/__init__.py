"""The one delivery engine (issue 9): everything sent to someone who is not the current speaker
(sponsorship notifications, reminders, announcements) is a row of the outbox table, claimed with
a lease, sent within one rate budget per bot token, and marked with what Telegram answered."""
