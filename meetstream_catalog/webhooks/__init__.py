"""The webhook receiver: a small service that turns MeetStream's signed callbacks into
Prefect events, so a worker never waits through a meeting (`app` is the ASGI app, `server`
its command line: `meetstream-catalog webhooks`)."""
