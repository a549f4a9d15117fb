from django.urls import path

from automation import views

app_name = "automation"

urlpatterns = [
    path("", views.template_list, name="list"),
    path("new/", views.template_new, name="new"),
    path("<slug:name>/", views.template_detail, name="detail"),
    path("<slug:name>/edit/", views.template_edit, name="edit"),
    path("<slug:name>/delete/", views.template_delete, name="delete"),
    path("<slug:name>/schedules/", views.schedule_add, name="schedule-add"),
    path("<slug:name>/schedules/<int:pk>/enabled/", views.schedule_toggle, name="schedule-toggle"),
    path("<slug:name>/schedules/<int:pk>/delete/", views.schedule_delete, name="schedule-delete"),
]
