"""The GraphiQL playground, served with its scripts and styles from the package (no CDN)."""
