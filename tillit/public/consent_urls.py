"""URLs of the person's own consent page (signed links)."""

from django.urls import path

from tillit.public import consent_views, marketing_views

app_name = "consent"

urlpatterns = [
    path("consent/<str:token>/", consent_views.consent_page, name="page"),
    path("consent/<str:token>/act/", consent_views.consent_action, name="act"),
    path("consent/<str:token>/newsletters/", marketing_views.preference_newsletters, name="newsletters"),
    path("unsubscribe/<str:token>/", marketing_views.unsubscribe, name="unsubscribe"),
    path("newsletter/", marketing_views.subscribe, name="newsletter-subscribe"),
    path("newsletter/confirm/<str:token>/", marketing_views.confirm_subscription, name="newsletter-confirm"),
    path("preferences/", marketing_views.preference_link, name="preferences"),
]
