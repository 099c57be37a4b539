-- Work sharing between replicas: at most one live lease per (environment,
-- organization).
--
-- A lease is live while `released_at` is NULL and `expires_at` is in the future
-- by the database's clock, so replicas' clocks never matter. Every grant takes a
-- new `token` from one sequence: tokens of one organization only ever grow, and
-- a history commit that carries an older token than the row's is refused
-- (fencing). Rows are kept after release: the next grant updates them, and the
-- previous holder tells a takeover from a hand-over.
CREATE SEQUENCE lease_tokens AS BIGINT;

CREATE TABLE leases (
    environment TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    holder      TEXT NOT NULL,
    token       BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    released_at TIMESTAMPTZ,
    PRIMARY KEY (environment, org_id)
);
