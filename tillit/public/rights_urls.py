"""URLs of the rights portal (no login; links carry signed tokens, never personal data)."""

from django.urls import path

from tillit.public import rights_views

app_name = "rights"

urlpatterns = [
    path("rights", rights_views.rights_form, name="form"),
    path("rights/verify/<str:token>/", rights_views.verify, name="verify"),
    path("rights/download/<str:token>/", rights_views.download_page, name="download"),
    path("rights/download/<str:token>/<str:fmt>", rights_views.download_file, name="download-file"),
]
