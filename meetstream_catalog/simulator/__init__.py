"""A faithful, offline MeetStream API: scripted meetings on a compressed clock, expiring
presigned media URLs, fault injection and signed webhooks."""
