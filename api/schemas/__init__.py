"""Request and response bodies of the API, one module per router group (`requests`,
`deadlines`, `users`, ...), plus `common` for the ones several groups share. Routers and
api/projections.py import the classes from the module that holds them."""
