package config

// SMTP configures the channels issue: e-mail over SMTP. Its fields are owned by that area.
type SMTP struct{}
