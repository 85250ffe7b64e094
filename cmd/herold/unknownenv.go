package main

import (
	"log/slog"

	"github.com/heroldhq/herold/internal/config"
)

// clientEnv are the HEROLD_* variables read by client commands rather than
// by the configuration (`herold campaign status`: base URL and API key). A
// shell that runs both the server and the client may export them.
func clientEnv() []string { return []string{"HEROLD_URL", "HEROLD_API_KEY"} }

// warnUnknownEnv logs a warning for every HEROLD_* variable in environ that
// is no setting of cfg, naming the closest known one, and for every former
// name of a setting: a typo such as
// HEROLD_SMTP_HOTS would otherwise change nothing and say nothing. Values are
// never logged, since they may be secrets.
func warnUnknownEnv(log *slog.Logger, environ []string, cfg *config.Config) {
	for _, u := range config.UnknownEnv(environ, config.Settings(cfg), clientEnv()...) {
		attrs := []any{"variable", u.Name}
		if u.Closest != "" {
			attrs = append(attrs, "closest", u.Closest)
		}
		log.Warn("ignoring HEROLD_ variable: "+u.String(), attrs...)
	}
	for _, d := range config.DeprecatedEnv(environ, config.Settings(cfg)) {
		log.Warn("deprecated HEROLD_ variable: "+d.String(), "variable", d.Name, "use", d.Use)
	}
}
