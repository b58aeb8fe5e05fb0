"""Messages to people: in-app, and e-mail / SMS through an outbox delivered by a job."""
