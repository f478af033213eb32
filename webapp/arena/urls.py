from django.urls import path

from webapp.arena import views

app_name = "arena"
urlpatterns = [
    path("", views.index, name="index"),
    path("battles/<uuid:public_id>/", views.battle, name="battle"),
    path("battles/<uuid:public_id>/vote/", views.vote, name="vote"),
    path("votes/", views.votes, name="votes"),
    path("votes/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("leaderboard/", views.leaderboard, name="leaderboards"),
    path("leaderboard/<slug:slug>/", views.leaderboard, name="leaderboard"),
    path("leaderboard/<slug:slug>/reset/", views.reset, name="reset"),
]
