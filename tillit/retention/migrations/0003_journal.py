"""The journal a restore replays (``retention.JournalEntry``), written by triggers on the
tables it covers (``tillit.retention.journal``)."""

from django.db import migrations, models


def up(apps, schema_editor):
    from tillit.retention.journal import install_triggers

    install_triggers(schema_editor.connection)


def down(apps, schema_editor):
    from tillit.retention.journal import remove_triggers

    remove_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0002_notices_per_run"),
        ("consent", "0007_cookie_choices_append_only"),
        ("marketing", "0002_send_basis"),
    ]

    operations = [
        migrations.CreateModel(
            name="JournalEntry",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=12)),
                ("ref_id", models.BigIntegerField()),
                ("txid", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("snapshot", models.TextField(blank=True, null=True)),
            ],
            options={
                "indexes": [models.Index(fields=["kind", "ref_id"], name="retention_journal_ref_idx")],
            },
        ),
        migrations.RunPython(up, down),
    ]
