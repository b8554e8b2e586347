"""The project's URLs: the orders app's."""

from django.urls import include, path

urlpatterns = [path("orders/", include("orders.urls"))]
