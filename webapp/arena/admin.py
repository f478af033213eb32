"""Staff manage boards here (add one, rename it); battles and votes are the users' own and
are only listed (a board's votes are reset from its leaderboard page)."""

from django.contrib import admin

from webapp.arena.models import Battle, Board, Vote


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "kind")
    prepopulated_fields = {"slug": ("title",)}


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin):
    list_display = ("public_id", "owner", "board", "left", "right", "created_at", "revealed_at")
    list_filter = ("board",)
    readonly_fields = ("owner", "board", "left", "right", "picked", "prompt", "params", "answers",
                       "revealed_at", "created_at")  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False  # battles start from the arena page


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("battle", "outcome", "created_at")
    list_filter = ("outcome", "battle__board")
    readonly_fields = ("battle", "outcome", "created_at")

    def has_add_permission(self, request) -> bool:
        return False
