-- Details the directory import/export needs to round-trip a document exactly.
-- A destination may carry its own holidays (``holidays: {}`` = ignore holidays,
-- e.g. a 24x7 on-call line); NULL inherits the secretary's/domain's.
ALTER TABLE destinations ADD COLUMN holidays jsonb;
-- A secretary's DIDs keep the order the document lists them in.
ALTER TABLE secretary_dids ADD COLUMN position smallint NOT NULL DEFAULT 0;
