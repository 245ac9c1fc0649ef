"""URLs of the public capture endpoints: forms, their embed and JSON endpoint, tracked
downloads and the chat webhook (no login; see tillit/public/capture_views.py)."""

from django.urls import path

from tillit.public import capture_views as views

app_name = "capture"

urlpatterns = [
    path("forms/embed.js", views.embed_js, name="embed"),
    path("forms/<str:public_id>/", views.form_page, name="form"),
    path("forms/<str:public_id>/thanks/", views.thanks, name="thanks"),
    path("forms/<str:public_id>/definition.json", views.definition_json, name="definition"),
    path("forms/<str:public_id>/submissions", views.submissions_json, name="submissions"),
    path("d/<slug:slug>/", views.download, name="download"),
    path("hooks/chat", views.chat_webhook, name="chat"),
]
