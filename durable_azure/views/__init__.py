"""History made readable: table rows and spans (``rows``) and the HTML timeline (``timeline``), shared by the CLI and the HTTP host."""
