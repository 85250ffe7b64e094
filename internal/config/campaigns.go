package config

import (
	"fmt"
	"time"
)

// Campaigns configures the campaign engine: how an audience is cut into
// chunks, how many chunks and sends run at once (the rest of the worker is
// reserved for transactional mail) and retries. Quiet hours are the
// catalog's (policy), for campaigns as for every message.
type Campaigns struct {
	Queue           string        `env:"HEROLD_CAMPAIGN_QUEUE" default:"campaigns" help:"asynq queue of campaign chunk tasks, served by its own bounded worker so invoices keep their capacity"`
	ChunkSize       int           `env:"HEROLD_CAMPAIGN_CHUNK_SIZE" default:"500" help:"recipients per chunk task (one facts pipeline, one claim script per chunk)"`
	Workers         int           `env:"HEROLD_CAMPAIGN_WORKERS" default:"2" help:"chunk tasks one process runs at once"`
	Senders         int           `env:"HEROLD_CAMPAIGN_SENDERS" default:"8" help:"messages one chunk task sends in parallel"`
	MaxAttempts     int           `env:"HEROLD_CAMPAIGN_MAX_ATTEMPTS" default:"6" help:"delivery attempts per recipient before a retryable error counts as failed"`
	RetryBase       time.Duration `env:"HEROLD_CAMPAIGN_RETRY_BASE" default:"30s" help:"first delay before a recipient with a retryable error is tried again (doubles each time)"`
	PausePoll       time.Duration `env:"HEROLD_CAMPAIGN_PAUSE_POLL" default:"2s" help:"how often chunk tasks of a paused campaign look whether it was resumed"`
	DefaultThrottle int           `env:"HEROLD_CAMPAIGN_DEFAULT_THROTTLE" default:"0" help:"messages per minute of a campaign that sets no throttle (0: as fast as the workers go)"`
	MaxUpload       int64         `env:"HEROLD_CAMPAIGN_MAX_UPLOAD" default:"1073741824" help:"largest audience upload in bytes (streamed, never held in memory)"`
	RecordTTL       time.Duration `env:"HEROLD_CAMPAIGN_RECORD_TTL" default:"9600h" help:"how long a finished campaign's per-recipient outcomes and counters are kept"`
	Horizon         time.Duration `env:"HEROLD_CAMPAIGN_HORIZON" default:"8784h" help:"how far ahead a campaign's send_at may lie (default 366 days); must stay at least a day shorter than HEROLD_CAMPAIGN_RECORD_TTL"`
}

// Validate checks the numbers and the quiet-hour clock times.
func (c *Campaigns) Validate() error {
	switch {
	case c.Queue == "":
		return fmt.Errorf("HEROLD_CAMPAIGN_QUEUE: must not be empty")
	case c.ChunkSize < 1 || c.ChunkSize > 10000:
		return fmt.Errorf("HEROLD_CAMPAIGN_CHUNK_SIZE: want 1..10000, got %d", c.ChunkSize)
	case c.Workers < 1:
		return fmt.Errorf("HEROLD_CAMPAIGN_WORKERS: must be at least 1, got %d", c.Workers)
	case c.Senders < 1:
		return fmt.Errorf("HEROLD_CAMPAIGN_SENDERS: must be at least 1, got %d", c.Senders)
	case c.MaxAttempts < 1:
		return fmt.Errorf("HEROLD_CAMPAIGN_MAX_ATTEMPTS: must be at least 1, got %d", c.MaxAttempts)
	case c.RetryBase <= 0:
		return fmt.Errorf("HEROLD_CAMPAIGN_RETRY_BASE: must be positive, got %s", c.RetryBase)
	case c.PausePoll <= 0:
		return fmt.Errorf("HEROLD_CAMPAIGN_PAUSE_POLL: must be positive, got %s", c.PausePoll)
	case c.DefaultThrottle < 0:
		return fmt.Errorf("HEROLD_CAMPAIGN_DEFAULT_THROTTLE: must not be negative, got %d", c.DefaultThrottle)
	case c.MaxUpload < 1:
		return fmt.Errorf("HEROLD_CAMPAIGN_MAX_UPLOAD: must be positive, got %d", c.MaxUpload)
	case c.RecordTTL < time.Hour:
		return fmt.Errorf("HEROLD_CAMPAIGN_RECORD_TTL: %s is shorter than an hour", c.RecordTTL)
	case c.Horizon < time.Minute:
		return fmt.Errorf("HEROLD_CAMPAIGN_HORIZON: %s is shorter than a minute", c.Horizon)
	}
	return nil
}
