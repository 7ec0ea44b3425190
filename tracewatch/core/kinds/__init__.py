"""One module per lifecycle kind; each turns snapshots of its objects into spans."""
