"""The `meetstream-catalog` command line (`main`), its terminal progress view (`console`)
and the offline demo (`demo`). Not flows: they start flows, on the user's terminal."""
