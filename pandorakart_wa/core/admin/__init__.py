"""Admin building blocks every app uses: mixins, labels, the audit history formatting."""
