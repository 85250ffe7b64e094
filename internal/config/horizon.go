package config

import (
	"fmt"
	"time"
)

// HorizonMargin is how much longer a record must be kept than a message or
// campaign may wait for its send time: a message accepted for the last
// moment of the horizon may still be held by quiet hours for a night and be
// retried before its record is written again (each write keeps it for the
// whole TTL anew).
const HorizonMargin = 24 * time.Hour

// Validate checks what no section can check alone: how far ahead a message
// or campaign may be scheduled against how long its records are kept.
//
// A message's record is written once at acceptance with HEROLD_RECORD_TTL;
// with a longer horizon Herold would accept a message 300 days ahead whose
// record expires after 30, and at send time the worker would find nothing to
// send. A campaign's keys do not expire while it waits, but
// HEROLD_CAMPAIGN_RECORD_TTL is the retention its data is promised: a
// campaign scheduled beyond it would keep data longer than that promise.
func (c *Config) Validate() error {
	var errs []error
	if err := horizonFits("HEROLD_SEND_HORIZON", c.Dispatch.SendHorizon, "HEROLD_RECORD_TTL", c.Core.RecordTTL,
		"a message accepted for the end of the horizon would lose its record before it is due"); err != nil {
		errs = append(errs, err)
	}
	if err := horizonFits("HEROLD_CAMPAIGN_HORIZON", c.Campaigns.Horizon, "HEROLD_CAMPAIGN_RECORD_TTL", c.Campaigns.RecordTTL,
		"a campaign scheduled that far ahead would be kept longer than its records are meant to be"); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	if len(errs) > 1 {
		return fmt.Errorf("%w; %w", errs[0], errs[1])
	}
	return nil
}

func horizonFits(horizonName string, horizon time.Duration, ttlName string, ttl time.Duration, why string) error {
	if horizon+HorizonMargin <= ttl {
		return nil
	}
	return fmt.Errorf("%s (%s) must be at least %s shorter than %s (%s): %s; shorten %s or lengthen %s",
		horizonName, hours(horizon), hours(HorizonMargin), ttlName, hours(ttl), why, horizonName, ttlName)
}

// hours writes a duration the way the settings are usually given: "720h".
func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
