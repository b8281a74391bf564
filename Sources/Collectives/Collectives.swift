// Collectives module
