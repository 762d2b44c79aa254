"""Routers of the APIs, one module per group of APIs."""
