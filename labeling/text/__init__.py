"""Pure text processing shared by every task: de-obfuscating normalisation with spans back to
the original, and PII redaction at ingest. No database."""
