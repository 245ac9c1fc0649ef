"""The history of a request is append-only: the database itself refuses UPDATE on
its rows. No code deletes them either (a request is the evidence that we answered); DELETE
is left to the database owner so that test databases can still be flushed."""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION rights_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the request history is append-only: rights_requestevent rows cannot be changed';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER rights_event_no_change BEFORE UPDATE ON rights_requestevent
    FOR EACH ROW EXECUTE FUNCTION rights_event_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS rights_event_no_change ON rights_requestevent;
DROP FUNCTION IF EXISTS rights_event_append_only();
"""
SQLITE_UP = [
    """
CREATE TRIGGER rights_event_no_update BEFORE UPDATE ON rights_requestevent
BEGIN
    SELECT RAISE(ABORT, 'the request history is append-only: rights_requestevent rows cannot be changed');
END;
""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS rights_event_no_update;"]


def up(apps, schema_editor):
    for sql in [POSTGRES_UP] if schema_editor.connection.vendor == "postgresql" else SQLITE_UP:
        schema_editor.execute(sql)


def down(apps, schema_editor):
    for sql in [POSTGRES_DOWN] if schema_editor.connection.vendor == "postgresql" else SQLITE_DOWN:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("rights", "0001_requests")]
    operations = [migrations.RunPython(up, down)]
