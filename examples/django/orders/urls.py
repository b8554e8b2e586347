from django.urls import path

from . import views

urlpatterns = [
    path("", views.place_order, name="place_order"),
    path("<int:order_id>/", views.order_status, name="order_status"),
]
