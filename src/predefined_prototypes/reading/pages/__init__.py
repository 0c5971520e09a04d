"""Each book page's glue, one module per page (``book/<page>.md`` calls ``pages/<page>.py``):
the values its prose cites and the tables it shows, computed from stored results. Nothing here
imports torch."""
