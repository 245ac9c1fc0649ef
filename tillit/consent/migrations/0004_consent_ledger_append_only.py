"""The consent ledger is append-only: the database itself refuses UPDATE on its rows.
(Rows are deleted only by erasure, retention.services.erase_person.)"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION consent_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the consent ledger is append-only: consent_consentevent rows cannot be updated';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_event_no_update BEFORE UPDATE ON consent_consentevent
    FOR EACH ROW EXECUTE FUNCTION consent_event_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS consent_event_no_update ON consent_consentevent;
DROP FUNCTION IF EXISTS consent_event_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER consent_event_no_update BEFORE UPDATE ON consent_consentevent
BEGIN
    SELECT RAISE(ABORT, 'the consent ledger is append-only: consent_consentevent rows cannot be updated');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS consent_event_no_update;"


def up(apps, schema_editor):
    sql = POSTGRES_UP if schema_editor.connection.vendor == "postgresql" else SQLITE_UP
    schema_editor.execute(sql)


def down(apps, schema_editor):
    sql = POSTGRES_DOWN if schema_editor.connection.vendor == "postgresql" else SQLITE_DOWN
    schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("consent", "0003_consent_ledger")]
    operations = [migrations.RunPython(up, down)]
