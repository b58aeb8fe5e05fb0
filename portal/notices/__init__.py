"""Public notices (公示) and objections (异议)."""
