package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/heroldhq/herold/internal/config"
)

// printDevBanner tells the person trying Herold what they have: the API key on
// a line of its own ("API key: <key>"), where messages go, and, loudly, that
// nothing survives a restart.
func printDevBanner(w io.Writer, cfg config.Config, addr, key string) {
	outbox, err := filepath.Abs(cfg.Core.OutboxDir)
	if err != nil {
		outbox = cfg.Core.OutboxDir
	}
	bar := strings.Repeat("=", 78)
	fmt.Fprintf(w, `%[1]s
  HEROLD DEV MODE: IN-MEMORY REDIS. NOTHING SURVIVES A RESTART.
  Every recipient, consent record, message and key is gone when this process ends.
  Channels without a configured provider write to the outbox: %[2]s
  Do not use this for real people's data: run `+"`herold serve`"+` against a persistent Redis.
%[1]s
  HTTP:    http://%[3]s   (health: /healthz, API: /v1, send Authorization: Bearer <key>)
  Public:  %[4]s
%[1]s
API key: %[5]s
`, bar, outbox, addr, cfg.HTTP.PublicURL, key)
}
