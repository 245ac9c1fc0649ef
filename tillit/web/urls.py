"""The staff UI."""

from django.urls import path

from tillit.web import audit_views, auth_views, people_views, quarantine_views, rights_views, staff_views, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.sign_in, name="login"),
    path("login/enrol/", auth_views.enrol, name="enrol"),
    path("logout/", auth_views.sign_out, name="logout"),
    path("people/", people_views.people_search, name="people"),
    path("people/new/", people_views.person_create, name="person-new"),
    path("people/<int:person_id>/", people_views.person_detail, name="person"),
    path("emails/upload/", people_views.email_upload, name="email-upload"),
    path("people/<int:person_id>/log/", people_views.log_interaction, name="person-log"),
    path("people/<int:person_id>/edit/", people_views.person_edit, name="person-edit"),
    path("organizations/", people_views.organizations_search, name="organizations"),
    path("organizations/<int:organization_id>/", people_views.organization_detail, name="organization"),
    path("retention/forecast/", views.retention_forecast, name="retention-forecast"),
    path("quarantine/", quarantine_views.quarantine_list, name="quarantine"),
    path("quarantine/<int:quarantine_id>/", quarantine_views.quarantine_item, name="quarantine-item"),
    path("quarantine/<int:quarantine_id>/decide/", quarantine_views.quarantine_decide, name="quarantine-decide"),
    path("account/mailbox-review/", staff_views.confirm_mailbox_review, name="mailbox-review"),
    path("mailbox-reviews/", staff_views.mailbox_reviews, name="mailbox-reviews"),
    path("audit/", audit_views.audit_log, name="audit-log"),
    path("staff/", staff_views.staff_accounts, name="staff"),
    path("staff/<int:user_id>/offboard/", staff_views.offboard, name="offboard"),
    path("requests/", rights_views.desk, name="rights-desk"),
    path("requests/new/", rights_views.register, name="rights-new"),
    path("requests/<int:request_id>/", rights_views.request_detail, name="rights-request"),
    path("requests/<int:request_id>/extend/", rights_views.extend, name="rights-extend"),
    path("requests/<int:request_id>/refuse/", rights_views.refuse, name="rights-refuse"),
    path("requests/<int:request_id>/complete/", rights_views.complete, name="rights-complete"),
    path("requests/<int:request_id>/verify/", rights_views.confirm_identity, name="rights-verify"),
    path("requests/<int:request_id>/document/", rights_views.attach_document, name="rights-document"),
    path("requests/corrections/<int:proposal_id>/decide/", rights_views.decide_correction, name="rights-correction"),
]
