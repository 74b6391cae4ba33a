-- Fewer index entries per callback write. A callback row is rewritten at least
-- twice per dispatch attempt (the claim, then the result), and such an update
-- can never be HOT (its status, which index predicates read, changes), so every
-- index of callbacks gets a new entry each time, NULL keys included. The three
-- list indexes of 005 took an attempt that completes a callback (claim + result)
-- from 9 to 14 new index entries (benchmarks/README.md, dispatch_bench.py,
-- 2026-12-06). The two indexes below hold no entry for rows that no query looks
-- up through them (10 entries for such an attempt when the callback has neither
-- a destination name nor a spool id, 12 with a destination name); every query
-- keeps its index:
--
-- * the console lists one destination with ``destination_name = <name>``, which
--   never matches a row without one (a callback for no one in particular, or for
--   an agent);
-- * ``spool_id`` is set only on requests replayed from the spool, and uniqueness
--   only ever concerned non-NULL values (NULLs are distinct in a UNIQUE
--   constraint too); a duplicate replay still fails with unique_violation (23505).
DROP INDEX callbacks_domain_destination_created;
CREATE INDEX callbacks_domain_destination_created
    ON callbacks (domain, destination_name, created_at DESC, id DESC)
    WHERE destination_name IS NOT NULL;

ALTER TABLE callbacks DROP CONSTRAINT callbacks_spool_id_key;
CREATE UNIQUE INDEX callbacks_spool_id ON callbacks (spool_id) WHERE spool_id IS NOT NULL;
