// Placeholder: race arrives with its own issue (see README, "Roadmap").
export {}
