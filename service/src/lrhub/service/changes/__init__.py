"""Changes of one or many jobs, each a record: who, when, what, and what it did to every job."""
