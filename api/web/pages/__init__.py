"""Console pages. Like the API routers, they only translate HTTP: every read and write goes
through the domain (`mla.access`, `filing`, `lifecycle`, `deadlines`, `documents`, `alerts`),
so the console can do exactly what the user's token can do through the API.

One module per part of the console, split like the API routers, each with its own router;
api/web/__init__.py includes them in a fixed order."""
