"""Console: server-rendered pages (Jinja2) for technicians; no front-end build step."""
