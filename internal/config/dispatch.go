package config

import (
	"fmt"
	"regexp"
	"time"
)

var queueSuffixPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{0,64}$`)

// Dispatch configures message submission and delivery (the dispatch issue).
type Dispatch struct {
	SendHorizon     time.Duration `env:"HEROLD_SEND_HORIZON" default:"720h" help:"how far ahead send_at may lie (default 30 days); must stay at least a day shorter than HEROLD_RECORD_TTL"`
	SendAtTolerance time.Duration `env:"HEROLD_SEND_AT_TOLERANCE" default:"1m" help:"how far in the past send_at may lie (clock skew); older is rejected, within it the message goes out now"`
	IdempotencyTTL  time.Duration `env:"HEROLD_IDEMPOTENCY_TTL" default:"24h" help:"how long an idempotency key is remembered per API key"`
	SendTimeout     time.Duration `env:"HEROLD_SEND_TIMEOUT" default:"30s" help:"time limit of one delivery attempt to a provider"`
	QueueSuffix     string        `env:"HEROLD_QUEUE_SUFFIX" help:"appended to the asynq queue names (transactional, service, marketing), so that several Herold installations can share one Redis"`
}

// Validate checks the durations.
func (d *Dispatch) Validate() error {
	switch {
	case d.SendHorizon < time.Minute:
		return fmt.Errorf("HEROLD_SEND_HORIZON: %s is shorter than a minute", d.SendHorizon)
	case d.SendAtTolerance < 0:
		return fmt.Errorf("HEROLD_SEND_AT_TOLERANCE: must not be negative, got %s", d.SendAtTolerance)
	case d.IdempotencyTTL < time.Minute:
		return fmt.Errorf("HEROLD_IDEMPOTENCY_TTL: %s is shorter than a minute", d.IdempotencyTTL)
	case d.SendTimeout < time.Second:
		return fmt.Errorf("HEROLD_SEND_TIMEOUT: %s is shorter than a second", d.SendTimeout)
	case !queueSuffixPattern.MatchString(d.QueueSuffix):
		return fmt.Errorf("HEROLD_QUEUE_SUFFIX: %q may hold only A-Z a-z 0-9 . _ - (at most 64)", d.QueueSuffix)
	}
	return nil
}
