package config

// Pages configures the people's pages issue. Its fields are owned by that area.
type Pages struct{}
