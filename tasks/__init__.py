"""Plain modules (MeetStream client, manifest models, archive, join, catalog) and the thin
Prefect tasks that wrap them. Only `tasks.steps` imports Prefect."""
