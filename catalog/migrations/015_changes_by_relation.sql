-- A table page reads one relation's history: under its name, or renamed from it.
CREATE INDEX schema_changes_relation ON schema_changes (database_id, schema_name, name, id);
CREATE INDEX schema_changes_old_relation ON schema_changes (database_id, old_schema, old_name, id)
    WHERE old_name IS NOT NULL;
