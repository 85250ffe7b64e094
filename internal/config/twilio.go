package config

// Twilio configures the channels issue: SMS, WhatsApp and RCS over Twilio. Its fields are owned by that area.
type Twilio struct{}
