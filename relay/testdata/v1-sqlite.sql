-- A relay database at schema version 1 (SQLite), the schema of the relay before PostgreSQL support: the
-- relay's tables and one version row. River's tables are left out: River's own migrator brings
-- them up to date the same way on a fresh database and an old one.
-- relay/migrate_test.go migrates it to the current version and checks that the data is kept.

CREATE TABLE relay_migration (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL);
INSERT INTO relay_migration (version, applied_ms) VALUES (1, 1767225000000);

CREATE TABLE relay_cascade (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	organization    TEXT    NOT NULL,
	project         TEXT    NOT NULL,
	stack           TEXT    NOT NULL,
	root_version    INTEGER NOT NULL,
	pending_version INTEGER NOT NULL,
	generation      INTEGER NOT NULL,
	state           TEXT    NOT NULL,
	discovered      INTEGER NOT NULL DEFAULT 0,
	error           TEXT    NOT NULL DEFAULT '',
	created_ms      INTEGER NOT NULL,
	updated_ms      INTEGER NOT NULL
);
CREATE INDEX relay_cascade_root ON relay_cascade (organization, project, stack, state);
CREATE TABLE relay_cascade_stack (
	cascade_id    INTEGER NOT NULL REFERENCES relay_cascade (id),
	position      INTEGER NOT NULL,
	organization  TEXT    NOT NULL,
	project       TEXT    NOT NULL,
	stack         TEXT    NOT NULL,
	parents       TEXT    NOT NULL,
	state         TEXT    NOT NULL,
	generation    INTEGER NOT NULL,
	reason        TEXT    NOT NULL DEFAULT '',
	cause         TEXT    NOT NULL DEFAULT '',
	deployment_id TEXT    NOT NULL DEFAULT '',
	deployments   INTEGER NOT NULL DEFAULT 0,
	prior_version INTEGER NOT NULL DEFAULT 0,
	against       TEXT    NOT NULL DEFAULT '{}',
	version       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (cascade_id, project, stack)
);
CREATE INDEX relay_cascade_stack_state ON relay_cascade_stack (organization, project, stack, state);
CREATE TABLE relay_edge (
	organization   TEXT    NOT NULL,
	parent         TEXT    NOT NULL,
	child          TEXT    NOT NULL,
	parent_version INTEGER NOT NULL,
	PRIMARY KEY (organization, parent, child)
);
CREATE TABLE relay_stack (
	organization TEXT    NOT NULL,
	project      TEXT    NOT NULL,
	stack        TEXT    NOT NULL,
	seen_version INTEGER NOT NULL DEFAULT 0,
	last_failed  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (organization, project, stack)
);

-- A cascade of root p/root at version 3 that deployed p/a and skipped p/b as unchanged.
INSERT INTO relay_cascade (id, organization, project, stack, root_version, pending_version, generation, state,
	discovered, error, created_ms, updated_ms)
VALUES (7, 'acme', 'p', 'root', 3, 3, 1, 'done', 1, '', 1767225600000, 1767225660000);
INSERT INTO relay_cascade_stack (cascade_id, position, organization, project, stack, parents, state, generation,
	reason, cause, deployment_id, deployments, prior_version, against, version)
VALUES
	(7, 0, 'acme', 'p', 'a', '["p/root"]', 'succeeded', 1, 'deployment d-1 succeeded (stack version 5): the outputs of p/root changed',
		'the outputs of p/root changed', 'd-1', 1, 4, '{"p/root":3}', 5),
	(7, 1, 'acme', 'p', 'b', '["p/a"]', 'skipped-unchanged', 1, 'the outputs it reads did not change', '', '', 0, 0, '{}', 2);
INSERT INTO relay_edge (organization, parent, child, parent_version) VALUES
	('acme', 'p/root', 'p/a', 3),
	('acme', 'p/a', 'p/b', 4);
INSERT INTO relay_stack (organization, project, stack, seen_version, last_failed) VALUES
	('acme', 'p', 'root', 3, 0),
	('acme', 'p', 'a', 5, 0),
	('acme', 'p', 'b', 2, 1);
