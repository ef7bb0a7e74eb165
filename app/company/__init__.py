"""The company's own settings (the frequency cap), edited by an admin and audited."""
