"""Files for the people who run the programme: the treasurers' deduction workbook and the BPJS
registration list. Writers stream the rows they are given (bot.storage.exports reads them) and
pass every text cell through cells.neutralize."""
