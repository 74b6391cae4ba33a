-- Topic knowledge per destination (issue 13): the destination's category (billing,
-- support, sales, ... : the packaged topic lexicon the resolver uses for it; NULL:
-- inferred from the name and aliases) and its own topic keywords.
ALTER TABLE destinations ADD COLUMN category text;
ALTER TABLE destinations ADD COLUMN keywords text[] NOT NULL DEFAULT '{}';
