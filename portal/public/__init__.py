"""Pages anyone may read: home, programmes, privacy notice, language and text-size choice."""
