"""Pages for data subjects (no sign-in): the privacy notice, its versions, and GPC support."""

from django.urls import path, re_path

from tillit.public import cookie_views, sharing_views
from tillit.public import notice_views as views

app_name = "public"

urlpatterns = [
    path("privacy", views.privacy_notice, name="privacy"),
    path("privacy/versions", views.notice_versions, name="versions"),
    re_path(r"^privacy/versions/(?P<prefix>[0-9a-f]{8,64})$", views.notice_version, name="version"),
    path(".well-known/gpc.json", views.gpc_json, name="gpc-json"),
    path("cookies/state", cookie_views.cookie_state, name="cookie-state"),
    path("cookies/choice", cookie_views.cookie_choice, name="cookie-choice"),
    path("visits", cookie_views.record_visit, name="visit"),
    path("privacy/policy.jsonld", sharing_views.policy_jsonld, name="policy-jsonld"),
    path("privacy/recipients/acknowledge/<str:token>", sharing_views.acknowledge, name="recipient-ack"),
]
