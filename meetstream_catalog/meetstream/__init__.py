"""The MeetStream API: its client (`client`), how a request travels and where its transient
failures are retried (`transport`, through `meetstream_catalog.retry`), typed errors
(`errors`), validated answers (`bot`, `models`, `timeline`), bounded waits (`polling`),
everything delivered for one bot (`manifests`) and the process's shared HTTP clients
(`http`)."""
