"""The public sign-up form at /join/{slug}: a page anyone may open, no API key."""
