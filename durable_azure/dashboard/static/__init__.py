"""The dashboard's script and stylesheet, shipped as package data and served at ``static/``."""
