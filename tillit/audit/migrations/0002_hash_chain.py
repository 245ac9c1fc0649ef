"""Number and hash-chain the audit log: add sequence, prev_hash and hash, chain the entries
already written (in the order they were inserted), then make sequence unique and required."""

from django.db import migrations, models

from tillit.audit.chain import CONTENT_FIELDS, GENESIS, entry_hash

CHUNK = 5_000


def chain_existing(apps, schema_editor):
    """Chain every existing entry in id order, a chunk at a time (bounded memory)."""
    AuditEntry = apps.get_model("audit", "AuditEntry")
    connection = schema_editor.connection
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    sequence, prev_hash, last_id = 0, GENESIS, 0
    while True:
        rows = list(
            AuditEntry.objects.using(connection.alias)
            .filter(pk__gt=last_id)
            .order_by("pk")
            .values("pk", *CONTENT_FIELDS)[:CHUNK]
        )
        if not rows:
            return
        updates = []
        for row in rows:
            sequence += 1
            digest = entry_hash(row, sequence=sequence, prev_hash=prev_hash)
            updates.append((sequence, prev_hash, digest, row["pk"]))
            prev_hash = digest
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET sequence = %s, prev_hash = %s, hash = %s WHERE id = %s", updates)
        last_id = rows[-1]["pk"]


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="sequence",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="prev_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditentry",
            name="hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="auditentry",
            name="sequence",
            field=models.BigIntegerField(unique=True),
        ),
    ]
