"""Named schedules and their immutable versions (a name that cannot be taken for the engine,
`lrhub.schedules`)."""
