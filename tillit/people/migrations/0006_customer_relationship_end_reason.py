"""Why a customer relationship ended (a choice); then every deadline recomputed under the rule
that a relationship with no active service ends months after the last order (policy §9,
retention.customer.months_after_last_order), so order-only customers kept until now without a
deadline get one. Also: demo pseudonyms written with dashes on SQLite (where Django stores a
UUID as 32 hex digits) are rewritten, so the links in a demo person's emails match them."""

from django.db import migrations, models


def recompute_deadlines(apps, schema_editor):
    # The one rule, through the one path that applies it in bulk (chunked, bounded memory).
    from tillit.retention.services import recompute_all

    recompute_all()


def undash_sqlite_pseudonyms(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    Person = apps.get_model("people", "Person")
    table = connection.ops.quote_name(Person._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET pseudonym = REPLACE(pseudonym, '-', '') WHERE pseudonym LIKE '%%-%%'")


class Migration(migrations.Migration):
    dependencies = [
        # recompute_all() runs today's code: every table it may read must exist.
        ("people", "0005_organisation_form"),
        ("capture", "0006_intake_identifier_digests"),
        ("consent", "0012_reservation_register"),
        ("sharing", "0005_partner_role"),
        ("audit", "0004_audit_checkpoint"),
        ("accounts", "0003_mailbox_review_reminder"),
        ("rights", "0004_request_email_outbox"),
        ("marketing", "0003_campaign_products_and_basis_order"),
    ]

    operations = [
        migrations.AddField(
            model_name="customerrelationship",
            name="end_reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("service_cancelled", "The last service was cancelled"),
                    ("customer_asked", "The customer asked to end it"),
                    ("no_longer_buying", "The customer no longer buys from us"),
                    ("business_closed", "The business closed or was taken over"),
                    ("lapsed", "No active service and no recent order (privacy policy §9)"),
                    ("other", "Other"),
                ],
                db_default="",
                max_length=30,
            ),
        ),
        migrations.RunPython(undash_sqlite_pseudonyms, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(recompute_deadlines, migrations.RunPython.noop, elidable=False),
    ]
