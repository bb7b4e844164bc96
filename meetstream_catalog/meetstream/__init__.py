"""The MeetStream API: its client (`client`), how a request travels and is retried
(`transport`), typed errors (`errors`), validated answers (`models`), bounded waits
(`polling`) and the process's shared HTTP clients (`http`)."""
