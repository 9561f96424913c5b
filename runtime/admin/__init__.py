"""Administrative use cases that several doors share (the CLI, the JSON API, the web UI): each
lives here once, with its validation and its audit record; the doors only translate their input
and output."""
