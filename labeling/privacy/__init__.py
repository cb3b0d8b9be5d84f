"""End users' data as services (UK GDPR): what is linked to an end user or older than the
retention period, the right of access (export), erasure, and retention."""
