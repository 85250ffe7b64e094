package config

// Campaigns configures the campaigns issue. Its fields are owned by that area.
type Campaigns struct{}
