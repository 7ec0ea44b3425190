"""The pure core: observations in, immutable span records out; no I/O, no clock reads."""
