"""Seals on the ledgers (tillit.audit.ledgers): the seal and removal-mark tables, which the
database keeps append-only (no UPDATE, no DELETE), and a seal for every ledger entry already
written (in id order, chunked)."""

from django.db import migrations, models


TABLES = ("audit_ledgerseal", "audit_ledgerremoval")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_ledger_seal_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger seals are append-only: % rows cannot be changed or deleted', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def up(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
    for table in TABLES:
        if postgres:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_ledger_seal_append_only();"
            )
            continue
        for op in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}\nBEGIN\n"
                f"    SELECT RAISE(ABORT, 'ledger seals are append-only: {table} rows cannot be changed or deleted');\n"
                "END;"
            )


def down(apps, schema_editor):
    for table in TABLES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        else:
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_ledger_seal_append_only();")


def seal_existing(apps, schema_editor):
    """Seal every entry already in a ledger, in id order (chunked, bounded memory)."""
    from tillit.audit import ledgers

    for name in ledgers.LEDGERS:
        ledgers.seal(name)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_hash_chain'),
        ('consent', '0007_cookie_choices_append_only'),
        ('sharing', '0002_disclosure_ledger_append_only'),
    ]

    operations = [
        migrations.CreateModel(
            name='LedgerRemoval',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ledger', models.CharField(max_length=20)),
                ('entry_id', models.BigIntegerField()),
                ('scope', models.CharField(max_length=64)),
                ('reason', models.CharField(max_length=40)),
                ('removed_at', models.DateTimeField()),
                ('mark', models.CharField(max_length=64)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('ledger', 'entry_id'), name='audit_ledgerremoval_unique_entry')],
            },
        ),
        migrations.CreateModel(
            name='LedgerSeal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ledger', models.CharField(max_length=20)),
                ('entry_id', models.BigIntegerField()),
                ('scope', models.CharField(max_length=64)),
                ('seq', models.BigIntegerField()),
                ('prev_seal', models.CharField(max_length=64)),
                ('seal', models.CharField(max_length=64)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('ledger', 'entry_id'), name='audit_ledgerseal_unique_entry'), models.UniqueConstraint(fields=('ledger', 'scope', 'seq'), name='audit_ledgerseal_unique_place')],
            },
        ),
        migrations.RunPython(up, down),
        migrations.RunPython(seal_existing, migrations.RunPython.noop, elidable=False),
    ]
