"""Protection of personal data at rest: sealing (authenticated encryption), blind indexes, masks."""
