"""Extensions: one package per provider, plus core modules (configuration)."""
