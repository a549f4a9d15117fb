from django.urls import path

from automation import views

app_name = "automation"

urlpatterns = [
    path("", views.template_list, name="list"),
    path("<slug:name>/", views.template_detail, name="detail"),
]
