from django.urls import path

from webapp.deletion_views import delete_view, to
from webapp.evaluation import leaderboard, views
from webapp.evaluation.models import EvalTask, EvaluationRun

app_name = "evaluation"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/cancel", views.cancel, name="cancel"),
    path("<int:pk>/delete/", delete_view(EvaluationRun, to("evaluation:index")), name="delete"),
    path("tasks/", views.tasks, name="tasks"),
    path(
        "tasks/<int:pk>/delete/", delete_view(EvalTask, to("evaluation:tasks")), name="delete_task"
    ),
    path("leaderboard/", leaderboard.board, name="leaderboard"),
    path("leaderboard.csv", leaderboard.export, {"fmt": "csv"}, name="export_csv"),
    path("leaderboard.json", leaderboard.export, {"fmt": "json"}, name="export_json"),
    path("results/<int:pk>/items/", leaderboard.items, name="items"),
]
