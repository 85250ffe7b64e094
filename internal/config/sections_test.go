package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/config"
)

func TestSections(t *testing.T) {
	t.Parallel()
	var names []string
	n := 0
	for _, s := range config.Sections(&config.Config{}) {
		names = append(names, s.Name)
		n += len(s.Settings)
	}
	want := []string{"HTTP", "Redis", "Core", "Worker", "SMTP", "Twilio", "Brand", "Templates", "Pages", "Campaigns", "Dispatch", "Events", "Console", "Debug"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("sections (-want +got):\n%s", diff)
	}
	if all := len(config.Settings(&config.Config{})); n != all {
		t.Errorf("sections hold %d settings, the configuration %d", n, all)
	}

	// Settings on the top level come first, without a name.
	var mixed struct {
		Addr  string `env:"HEROLD_X_ADDR"`
		Inner struct {
			Port int `env:"HEROLD_X_PORT"`
		}
	}
	got := config.Sections(&mixed)
	if len(got) != 2 || got[0].Name != "" || got[0].Settings[0].Env != "HEROLD_X_ADDR" ||
		got[1].Name != "Inner" || got[1].Settings[0].Env != "HEROLD_X_PORT" {
		t.Errorf("mixed sections = %+v", got)
	}
}
