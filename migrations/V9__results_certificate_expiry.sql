-- TLS-speaking checks (https, tls) report when the leaf certificate expires.
ALTER TABLE probe_results ADD COLUMN certificate_expires_at TIMESTAMPTZ;
