package config

// Templates configures the templates issue. Its fields are owned by that area.
type Templates struct{}
