"""The statistics (bot.storage.statistics) as people read them: the chat summary, a table, CSV,
JSON, an XLSX workbook with a chart, and a bar chart image.

A presenter: wording from locales/ (the CLI's table, CSV and JSON are machine-facing, with
English column names), no database. Each format is its own module so that drawing (matplotlib)
and the workbook (XlsxWriter) load only when used; nothing here is imported by the bot's start.
"""
