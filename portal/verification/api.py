"""JSON API of this domain (flask-smorest); the same services as the pages."""

blueprints: list = []
