"""Deleting a user's object with its files: the plan (`plan_for`: what it does, what refuses),
the deed (`delete`) and the sweep of deletions that waited for a job to stop. Each app says its
part of the plans in its own deletion.py (webapp/deletion/plans.py); the pages and the admin's
Delete are webapp/deletion/views.py. docs/architecture.md, "Deletion"."""

from webapp.deletion.actions import Outcome, delete, finish_requested_deletions
from webapp.deletion.plans import Effect, Plan, plan_for

__all__ = ["Effect", "Outcome", "Plan", "delete", "finish_requested_deletions", "plan_for"]
