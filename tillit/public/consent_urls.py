"""URLs of the person's own consent page (signed links)."""

from django.urls import path

from tillit.public import consent_views

app_name = "consent"

urlpatterns = [
    path("consent/<str:token>/", consent_views.consent_page, name="page"),
    path("consent/<str:token>/act/", consent_views.consent_action, name="act"),
]
