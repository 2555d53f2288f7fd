"""The userspace link engine: pure link models, the TAP daemon, its client and the netem backend."""
