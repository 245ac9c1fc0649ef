"""The consent ledger and the cookie choices refuse DELETE as well as UPDATE. A consent ledger
entry may be deleted only after its removal mark is written (audit_ledgerremoval: erasure, or a
merge that copied it first); a cookie choice never."""

from django.db import migrations

CONSENT_MESSAGE = "the consent ledger is append-only: consent_consentevent rows are deleted only by erasure"
COOKIE_MESSAGE = "cookie choices are append-only: consent_cookiechoice rows cannot be deleted"
MARKED = "SELECT 1 FROM audit_ledgerremoval r WHERE r.ledger = 'consent' AND r.entry_id = OLD.id"

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION consent_event_no_delete() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS ({MARKED}) THEN
        RAISE EXCEPTION '{CONSENT_MESSAGE}';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_event_no_delete BEFORE DELETE ON consent_consentevent
    FOR EACH ROW EXECUTE FUNCTION consent_event_no_delete();
CREATE TRIGGER consent_cookie_choice_no_delete BEFORE DELETE ON consent_cookiechoice
    FOR EACH ROW EXECUTE FUNCTION consent_cookie_choice_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS consent_event_no_delete ON consent_consentevent;
DROP FUNCTION IF EXISTS consent_event_no_delete();
DROP TRIGGER IF EXISTS consent_cookie_choice_no_delete ON consent_cookiechoice;
"""
SQLITE_UP = (
    f"CREATE TRIGGER consent_event_no_delete BEFORE DELETE ON consent_consentevent WHEN NOT EXISTS ({MARKED})\n"
    f"BEGIN\n    SELECT RAISE(ABORT, '{CONSENT_MESSAGE}');\nEND;",
    f"CREATE TRIGGER consent_cookie_choice_no_delete BEFORE DELETE ON consent_cookiechoice\n"
    f"BEGIN\n    SELECT RAISE(ABORT, '{COOKIE_MESSAGE}');\nEND;",
)
SQLITE_DOWN = ("DROP TRIGGER IF EXISTS consent_event_no_delete;", "DROP TRIGGER IF EXISTS consent_cookie_choice_no_delete;")


def up(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)
    else:
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def down(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)
    else:
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("consent", "0009_notice_email_claim"), ("audit", "0003_ledger_seals")]
    operations = [migrations.RunPython(up, down)]
