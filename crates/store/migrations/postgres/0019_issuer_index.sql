-- The dashboard's issuer filter: an exact issuer DN, walked in days-left order. Also serves the
-- loose index scan that lists the distinct issuers for the filter's choices.
CREATE INDEX certificates_issuer_days_left
    ON certificates (issuer, COALESCE(not_after_ms, 9223372036854775807), id);
