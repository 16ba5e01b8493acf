package heartbeatreceiver

import "time"

// timezone returns the host's time zone abbreviation and offset, e.g. "UTC" or "CET".
func timezone() (string, int) { return time.Now().Zone() }
