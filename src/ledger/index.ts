// Placeholder: ledger arrives with its own issue (see README, "Roadmap").
export {}
