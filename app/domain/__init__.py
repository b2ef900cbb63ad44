"""Plain-Python domain logic: no request, no view, importable from a shell or a job."""
