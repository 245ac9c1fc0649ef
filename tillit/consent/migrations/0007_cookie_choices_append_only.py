"""Cookie choices are proof: the database itself refuses UPDATE on their rows (a change of
mind is a new choice)."""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION consent_cookie_choice_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'cookie choices are append-only: consent_cookiechoice rows cannot be updated';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_cookie_choice_no_update BEFORE UPDATE ON consent_cookiechoice
    FOR EACH ROW EXECUTE FUNCTION consent_cookie_choice_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS consent_cookie_choice_no_update ON consent_cookiechoice;
DROP FUNCTION IF EXISTS consent_cookie_choice_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER consent_cookie_choice_no_update BEFORE UPDATE ON consent_cookiechoice
BEGIN
    SELECT RAISE(ABORT, 'cookie choices are append-only: consent_cookiechoice rows cannot be updated');
END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS consent_cookie_choice_no_update;"


def up(apps, schema_editor):
    sql = POSTGRES_UP if schema_editor.connection.vendor == "postgresql" else SQLITE_UP
    schema_editor.execute(sql)


def down(apps, schema_editor):
    sql = POSTGRES_DOWN if schema_editor.connection.vendor == "postgresql" else SQLITE_DOWN
    schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("consent", "0006_cookie_choices")]
    operations = [migrations.RunPython(up, down)]
