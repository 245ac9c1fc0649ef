"""The disclosure ledger is append-only: the database itself refuses UPDATE and DELETE on its
rows (sharing_disclosure, sharing_disclosedperson). No erasure touches it: it holds
pseudonymous ids and category names, never personal data."""

from django.db import migrations

TABLES = ("sharing_disclosure", "sharing_disclosedperson")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION sharing_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the disclosure ledger is append-only: % rows cannot be changed or deleted', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def _postgres_up(table):
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION sharing_ledger_append_only();"
    )


def _sqlite_up(table):
    return "\n".join(
        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}\nBEGIN\n"
        f"    SELECT RAISE(ABORT, 'the disclosure ledger is append-only: {table} rows cannot be changed or deleted');\n"
        "END;"
        for op in ("UPDATE", "DELETE")
    )


def up(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(_postgres_up(table))
    else:
        for table in TABLES:
            for statement in _sqlite_up(table).split("END;"):
                if statement.strip():
                    schema_editor.execute(statement + "END;")


def down(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        schema_editor.execute("DROP FUNCTION IF EXISTS sharing_ledger_append_only();")
    else:
        for table in TABLES:
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};")


class Migration(migrations.Migration):
    dependencies = [("sharing", "0001_partners_dialogues_ledger")]
    operations = [migrations.RunPython(up, down)]
