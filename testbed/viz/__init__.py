"""Pictures: topology maps and plots (matplotlib, headless)."""
