package config

import (
	"fmt"
	"time"
)

// Console configures the operator console at /console/: who may sign in,
// how long a session lasts and how failed sign-ins are slowed down.
type Console struct {
	UsersFile       string        `env:"HEROLD_CONSOLE_USERS_FILE" help:"YAML file of console users (name, role, argon2id hash; see herold console user add); unset: the console is off"`
	IdleTimeout     time.Duration `env:"HEROLD_CONSOLE_IDLE_TIMEOUT" default:"30m" help:"a console session ends after this long without a request"`
	AbsoluteTimeout time.Duration `env:"HEROLD_CONSOLE_ABSOLUTE_TIMEOUT" default:"12h" help:"a console session ends this long after sign-in, however active"`
	LockoutAfter    int           `env:"HEROLD_CONSOLE_LOCKOUT_AFTER" default:"5" help:"failed sign-ins of one user name or from one IP address before each further try must wait"`
	LockoutBase     time.Duration `env:"HEROLD_CONSOLE_LOCKOUT_BASE" default:"30s" help:"wait after the first failed sign-in beyond HEROLD_CONSOLE_LOCKOUT_AFTER; doubles with each further failure"`
	LockoutMax      time.Duration `env:"HEROLD_CONSOLE_LOCKOUT_MAX" default:"15m" help:"longest wait between sign-in tries, and how long failures are remembered"`
	TrustProxy      bool          `env:"HEROLD_CONSOLE_TRUST_PROXY" default:"false" help:"take the client IP of sign-in back-off and the audit log from the last X-Forwarded-For entry (only behind a proxy that sets it)"`
}

// Validate checks the timeouts and the back-off.
func (c *Console) Validate() error {
	switch {
	case c.IdleTimeout < time.Minute:
		return fmt.Errorf("HEROLD_CONSOLE_IDLE_TIMEOUT: %s is shorter than a minute", c.IdleTimeout)
	case c.AbsoluteTimeout < c.IdleTimeout:
		return fmt.Errorf("HEROLD_CONSOLE_ABSOLUTE_TIMEOUT: %s is shorter than HEROLD_CONSOLE_IDLE_TIMEOUT (%s)", c.AbsoluteTimeout, c.IdleTimeout)
	case c.LockoutAfter < 1:
		return fmt.Errorf("HEROLD_CONSOLE_LOCKOUT_AFTER: must be at least 1, got %d", c.LockoutAfter)
	case c.LockoutBase <= 0:
		return fmt.Errorf("HEROLD_CONSOLE_LOCKOUT_BASE: must be positive, got %s", c.LockoutBase)
	case c.LockoutMax < c.LockoutBase:
		return fmt.Errorf("HEROLD_CONSOLE_LOCKOUT_MAX: %s is shorter than HEROLD_CONSOLE_LOCKOUT_BASE (%s)", c.LockoutMax, c.LockoutBase)
	}
	return nil
}
