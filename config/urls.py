"""URLs: the JSON API under /api/, the staff UI, and the public pages for data subjects."""

from django.urls import include, path

from tillit.api.urls import api

urlpatterns = [
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("tillit.public.consent_urls")),
    path("", include("tillit.public.urls")),
    path("", include("tillit.public.rights_urls")),
    path("", include("tillit.public.capture_urls")),
    path("", include("tillit.web.urls")),
]

# A database outage is answered with 503 and Retry-After, not 500 (tillit.web.errors).
handler500 = "tillit.web.errors.server_error"
