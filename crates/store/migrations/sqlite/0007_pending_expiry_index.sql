-- Finding pending orders whose challenge expired, without scanning every order.
CREATE INDEX orders_pending_expiry ON orders (expires_at_ms) WHERE status = 'pending';
