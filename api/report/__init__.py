"""The persona report: one HTML page of the current run, served at /report and exported by
`portrait report --out FILE`, with its charts' JavaScript inlined (no network at view time)."""
